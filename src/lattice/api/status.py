"""The status every Lattice kind reports, in the Kubernetes conventions (conditions, observedGeneration)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lattice.api.base import Model


class Condition(Model):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class CompiledResources(Model):
    count: int = 0
    kinds: dict[str, int] = Field(default_factory=dict)


class Cost(Model):
    hourly: str | None = None
    currency: str | None = None


class LatticeStatus(Model):
    phase: Literal["Pending", "Compiling", "Ready", "Failed"] | None = None
    message: str | None = None
    observed_generation: int | None = None
    compiled_resources: CompiledResources | None = None
    conditions: list[Condition] = Field(default_factory=list)
    cost: Cost | None = None
