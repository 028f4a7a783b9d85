"""`LatticeMeshMember`: pods the platform did not compile (a Helm-installed database, say) joined to the graph."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from lattice.api.base import DNS_LABEL, DnsLabel, Labels, Model, Resource
from lattice.api.workload import Dependency, PortName, ServicePort
from lattice.errors import invalid


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

    @model_validator(mode="after")
    def _name_is_a_label(self) -> LatticeMeshMember:
        # The name labels the member's policies (`app.kubernetes.io/name`, a label value: at most 63 characters)
        # and shares one name space with services (a DNS label).
        name = self.metadata.name
        if len(name) > 63 or not DNS_LABEL.fullmatch(name):
            raise invalid(f"`{name}` cannot name a mesh member (a DNS label: lower-case letters, digits and '-', "
                          "at most 63 characters)", "rename it, e.g. after the Service in front of its pods",
                          ("metadata", "name"))
        return self
