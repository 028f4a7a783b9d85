"""L7 identity policy: an Istio AuthorizationPolicy (ALLOW) per workload naming exactly the agreed callers'
SPIFFE identities, each on the ports it may use. With no rule, an ALLOW policy admits nobody."""

from __future__ import annotations

from typing import Any

from lattice.compiler import naming
from lattice.compiler.meta import Obj, new_object
from lattice.compiler.peers import Peer
from lattice.graph import Node


def authorization_policy(node: Node, *, ingress: list[Peer], labels: dict[str, str]) -> Obj:
    rules: list[dict[str, Any]] = [
        {
            "from": [{"source": {"principals": [peer.principal]}}],
            "to": [{"operation": {"ports": sorted({str(port) for port, _ in peer.ports}, key=int)}}],
        }
        for peer in ingress
    ]
    namespace, name = node.key
    obj = new_object("security.istio.io/v1", "AuthorizationPolicy", naming.authorization_policy(name), namespace,
                     labels)
    spec: dict[str, Any] = {"selector": {"matchLabels": dict(node.pod_labels)}, "action": "ALLOW"}
    if rules:
        spec["rules"] = rules
    obj["spec"] = spec
    return obj
