"""Who may reach a workload and whom it may reach, resolved from the graph into concrete peers.

Both network policy (Cilium, L4) and authorization policy (Istio, L7 identities) are derived from the same
peers, so the two layers can never disagree about who is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lattice.api.platform import LatticePlatformSpec
from lattice.compiler import naming
from lattice.compiler.observability import metrics_port
from lattice.graph import FleetGraph, Node, show

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
    for callee_key in graph.callees_of(node.key):
        callee = graph.nodes[callee_key]
        if callee.target_ports:
            peers.append(Peer(show(callee_key), callee_key[0], callee.pod_labels,
                              _principal(platform, callee_key[0], callee.service_account),
                              callee.target_ports))
    return peers
