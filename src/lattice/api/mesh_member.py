"""`LatticeMeshMember`: pods the platform did not compile (a Helm-installed database, say) joined to the graph."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from lattice.api.base import DnsLabel, Labels, Model, Resource
from lattice.api.workload import Dependency, PortName, ServicePort


class LatticeMeshMemberSpec(Model):
    """Which pods, what they listen on, who may call them and whom they call."""

    selector: Labels = Field(min_length=1, description="Pod labels that select the member's pods.")
    service_account: DnsLabel | None = Field(
        default=None, description="The pods' ServiceAccount (their mesh identity); defaults to the member's name."
    )
    ports: dict[PortName, ServicePort] = Field(default_factory=dict)
    resources: dict[DnsLabel, Dependency] = Field(default_factory=dict)


class LatticeMeshMember(Resource):
    KIND: ClassVar[str] = "LatticeMeshMember"
    PLURAL: ClassVar[str] = "latticemeshmembers"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("lmm",)

    kind: Literal["LatticeMeshMember"]
    spec: LatticeMeshMemberSpec
