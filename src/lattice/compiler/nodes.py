"""Workloads as nodes of the fleet graph: their pods' labels, identity, ports and declared dependencies."""

from __future__ import annotations

from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.service import LatticeService
from lattice.compiler import naming, security
from lattice.graph import Node


def service_node(svc: LatticeService) -> Node:
    workload = svc.spec.workload
    return Node((svc.namespace, svc.name), svc.kind, naming.selector(svc.name), naming.service_account(svc.name),
                workload.ports, workload.resources, host_network=security.host_network(workload))


def mesh_member_node(member: LatticeMeshMember) -> Node:
    spec = member.spec
    return Node((member.namespace, member.name), member.kind, dict(spec.selector),
                spec.service_account or member.name, spec.ports, spec.resources)
