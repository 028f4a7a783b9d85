"""Who may reach a workload and whom it may reach, resolved from the graph into concrete peers.

Both network policy (Cilium, L4) and authorization policy (Istio, L7 identities) are derived from the same
peers, so the two layers can never disagree about who is allowed.

A host-networked workload is never a peer: Cilium gives its traffic the node's identity and Istio gives it
none, so a rule naming its pod labels or its SPIFFE principal would match nothing and only seem to admit it
(see `lattice.compiler.security.warnings`). Its agreed edges stay in the graph and each side is told why no
traffic flows (`host_network_warnings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lattice.api.platform import LatticePlatformSpec
from lattice.compiler import naming
from lattice.compiler.observability import metrics_port
from lattice.errors import Problem
from lattice.graph import FleetGraph, Key, Node, show

PortList = tuple[tuple[int, str], ...]  # (port, protocol)


@dataclass(frozen=True, slots=True)
class Peer:
    """A set of pods (by namespace and labels) with one mesh identity, allowed on some ports."""

    description: str
    namespace: str
    pod_labels: Mapping[str, str]
    principal: str
    ports: PortList


def _principal(platform: LatticePlatformSpec, namespace: str, service_account: str) -> str:
    return naming.spiffe_principal(platform.mesh.trust_domain, namespace, service_account)


def ingress_peers(node: Node, graph: FleetGraph, platform: LatticePlatformSpec, *, scraped: bool,
                  routed_ports: PortList = ()) -> list[Peer]:
    """Agreed callers on every port, the metrics scraper on the metrics port, the gateway on routed ports."""
    ports = node.target_ports
    peers = []
    if ports:
        for caller_key in graph.callers_of(node.key):
            caller = graph.nodes[caller_key]
            if caller.host_network:
                continue
            peers.append(Peer(show(caller_key), caller_key[0], caller.pod_labels,
                              _principal(platform, caller_key[0], caller.service_account), ports))
    metrics = metrics_port(dict(node.ports)) if scraped else None
    if metrics is not None:
        port = node.ports[metrics]
        scraper = platform.metrics
        peers.append(Peer("metrics scraper", scraper.namespace, scraper.scraper_pod_labels,
                          _principal(platform, scraper.namespace, scraper.scraper_service_account),
                          ((port.container_port, port.protocol),)))
    if routed_ports:
        namespace = node.key[0]
        gateway = naming.gateway(namespace)
        peers.append(Peer("ingress gateway", namespace, {naming.GATEWAY_NAME_LABEL: gateway},
                          _principal(platform, namespace,
                                     naming.gateway_service_account(gateway, platform.ingress.gateway_class)),
                          routed_ports))
    return peers


def egress_peers(node: Node, graph: FleetGraph, platform: LatticePlatformSpec) -> list[Peer]:
    """Agreed callees, each on the ports it serves."""
    peers = []
    for callee_key in reachable_callees(node, graph):
        callee = graph.nodes[callee_key]
        if callee.target_ports:
            peers.append(Peer(show(callee_key), callee_key[0], callee.pod_labels,
                              _principal(platform, callee_key[0], callee.service_account),
                              callee.target_ports))
    return peers


def reachable_callees(node: Node, graph: FleetGraph) -> list[Key]:
    """The agreed callees that policy can admit (every one but the host-networked)."""
    return [key for key in graph.callees_of(node.key) if not graph.nodes[key].host_network]


def host_network_warnings(node: Node, graph: FleetGraph) -> list[Problem]:
    """For each agreed peer of `node` whose pods (or whose own, when `node` is the host-networked one) share
    their node's network: the agreement stands, but no policy admits the traffic."""
    where = "spec.resources" if node.kind == "LatticeMeshMember" else "spec.workload.resources"
    peers = sorted({*(("caller", k) for k in graph.callers_of(node.key)),
                    *(("callee", k) for k in graph.callees_of(node.key))}, key=lambda p: (p[1], p[0]))
    out = []
    for role, key in peers:
        other = graph.nodes[key]
        if node.host_network or other.host_network:
            host = node.key if node.host_network else key
            out.append(Problem(
                where,
                f"{show(key)} is an agreed {role} of {show(node.key)}, but {show(host)} runs with `hostNetwork: "
                "true`, outside the mesh and with its node's network identity, so no policy admits traffic "
                "between them",
                f"remove `hostNetwork` from {show(host)} (under `spec.workload.security`), or remove the "
                "declaration",
            ))
    return out
