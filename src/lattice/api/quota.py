"""`LatticeQuota`: a team's budget, summed over the workloads of its namespace."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from lattice.api.base import Model, Quantity, Resource
from lattice.errors import invalid

CPU, MEMORY, GPU, COST = "cpu", "memory", "nvidia.com/gpu", "cost"
COUNTED = (CPU, MEMORY, GPU, COST)
"""What a quota can limit: requests of CPU (cores) and memory (bytes), GPUs (devices), and the cost per hour
from the platform's `rates`. Anything else would limit nothing the gate counts, so it is refused."""


def _resource_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if name not in COUNTED:
            close = {"requests.cpu": CPU, "limits.cpu": CPU, "requests.memory": MEMORY, "limits.memory": MEMORY,
                     "gpu": GPU, "nvidia.com/gpus": GPU, "requests.nvidia.com/gpu": GPU}.get(name)
            hint = f"write `{close}`" if close else "write one of `cpu`, `memory`, `nvidia.com/gpu`, `cost`"
            raise invalid(f"a LatticeQuota does not count `{name}`: it counts requests of cpu and memory, GPUs "
                          "and the cost per hour", hint, (name,))
    return value


class LatticeQuotaSpec(Model):
    limits: dict[str, Quantity] = Field(min_length=1)
    max_per_workload: dict[str, Quantity] = Field(default_factory=dict)

    _names = field_validator("limits", "max_per_workload")(_resource_names)


class LatticeQuota(Resource):
    KIND: ClassVar[str] = "LatticeQuota"
    PLURAL: ClassVar[str] = "latticequotas"

    kind: Literal["LatticeQuota"]
    spec: LatticeQuotaSpec
