"""`LatticeQuota`: a team's budget, summed over the workloads of its namespace."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from lattice.api.base import Model, Quantity, Resource
from lattice.errors import invalid

_RESOURCE_NAME = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?")


def _resource_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _RESOURCE_NAME.fullmatch(name):
            raise invalid(f"`{name}` is not a resource name", "write `cpu`, `memory` or e.g. `nvidia.com/gpu`")
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
