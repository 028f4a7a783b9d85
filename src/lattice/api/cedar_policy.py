"""`CedarPolicy`: platform authorization rules (which service may read which secret, deploy which image...)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from lattice.api.base import Model, Resource
from lattice.errors import invalid


class CedarPolicySpec(Model):
    priority: int = Field(default=0, ge=-(2**63), le=2**63 - 1,
                          description="Higher priorities are listed first in denials.")
    enabled: bool = True
    description: str | None = None
    """What the policies are for, for the people who review them."""
    policies: str

    @field_validator("policies")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise invalid("policies is empty", 'write at least one `permit(...)` or `forbid(...)` statement')
        return value


class CedarPolicy(Resource):
    KIND: ClassVar[str] = "CedarPolicy"
    PLURAL: ClassVar[str] = "cedarpolicies"
    NAMESPACED: ClassVar[bool] = False

    kind: Literal["CedarPolicy"]
    spec: CedarPolicySpec
