"""An independent reading of the emitted policies: which pods may connect, computed from the output alone.

Nothing here imports the compiler's graph or peers: selectors are evaluated against each pod's labels and
namespace exactly as Cilium and Istio evaluate them, so a bug in the derivation shows up as a difference
from the bilateral matrix computed straight from the specs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NAMESPACE_KEYS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace")
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
ANY_SOURCE = "*"


@dataclass(frozen=True)
class Pod:
    key: tuple[str, str]
    namespace: str
    labels: tuple[tuple[str, str], ...]
    principal: str

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _label_matches(selector: Mapping[str, Any], pod: Pod) -> bool:
    labels = pod.label_map
    for key, value in (selector.get("matchLabels") or {}).items():
        if key in NAMESPACE_KEYS:
            if pod.namespace != value:
                return False
        elif labels.get(key.removeprefix("k8s:")) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = expr["key"]
        actual = pod.namespace if key in NAMESPACE_KEYS else labels.get(key.removeprefix("k8s:"))
        op, values = expr["operator"], expr.get("values", [])
        if (op == "In" and actual not in values) or (op == "NotIn" and actual in values) or \
                (op == "Exists" and actual is None) or (op == "DoesNotExist" and actual is not None):
            return False
    return True


def _selects(policy: Mapping[str, Any], pod: Pod) -> bool:
    if policy["kind"] == "CiliumNetworkPolicy" and policy["metadata"]["namespace"] != pod.namespace:
        return False
    return _label_matches(policy["spec"]["endpointSelector"], pod)


def _ports(rule: Mapping[str, Any]) -> set[tuple[int, str]] | None:
    """The ports a rule admits; None means any port."""
    if "toPorts" not in rule:
        return None
    return {(int(p["port"]), p.get("protocol", "ANY")) for tp in rule["toPorts"] for p in tp["ports"]}


def _rule_admits(rule: Mapping[str, Any], peer_field: str, peer: Pod, port: tuple[int, str]) -> bool:
    selectors = rule.get(peer_field)
    if selectors is None:
        # A rule without a peer selector of this kind admits no pod through it (fromEntities/toFQDNs/toCIDR
        # name things that are not pods) -- unless it has no peer field at all and only ports, which Cilium
        # reads as "every peer".
        peer_fields = [k for k in rule if k.startswith(("from", "to")) and k != "toPorts"]
        if peer_fields or not rule:
            return False
    elif not any(_label_matches(s, peer) for s in selectors):
        return False
    allowed = _ports(rule)
    return allowed is None or port in allowed or (port[0], "ANY") in allowed


def _direction_allows(policies: list[Mapping[str, Any]], direction: str, subject: Pod, peer: Pod,
                      port: tuple[int, str]) -> bool:
    selecting = [p for p in policies if _selects(p, subject)]
    enforced = [p for p in selecting if direction in p["spec"] or
                (p["spec"].get("enableDefaultDeny") or {}).get(direction)]
    if not enforced:
        return True
    field = "fromEndpoints" if direction == "ingress" else "toEndpoints"
    return any(_rule_admits(rule, field, peer, port) for p in enforced for rule in p["spec"].get(direction, []))


def l4_matrix(objects: Iterable[Mapping[str, Any]], pods: list[Pod], ports: set[tuple[int, str]]
              ) -> set[tuple[tuple[str, str], tuple[str, str], int]]:
    """(source, destination, port) for every pod pair the Cilium policies let connect (egress and ingress)."""
    policies = [o for o in objects if o["kind"] in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")]
    out = set()
    for src in pods:
        for dst in pods:
            if src.key == dst.key:
                continue
            for port in ports:
                if _direction_allows(policies, "egress", src, dst, port) and \
                        _direction_allows(policies, "ingress", dst, src, port):
                    out.add((src.key, dst.key, port[0]))
    return out


def _binds(policy: Mapping[str, Any], pod: Pod, root_namespace: str) -> bool:
    """Whether an AuthorizationPolicy applies to a pod: `targetRefs` to a Gateway binds that Gateway's pods
    (Istio labels them with the Gateway's name), a selector its namespace's matching pods, no selector every
    pod of its namespace -- or of the whole mesh in the root namespace."""
    spec, namespace = policy["spec"], policy["metadata"]["namespace"]
    if "targetRefs" in spec:
        return namespace == pod.namespace and any(
            ref.get("group") == "gateway.networking.k8s.io" and ref["kind"] == "Gateway"
            and pod.label_map.get(GATEWAY_NAME_LABEL) == ref["name"] for ref in spec["targetRefs"])
    if "selector" not in spec and namespace == root_namespace:
        return True
    return namespace == pod.namespace and _label_matches(spec.get("selector", {}), pod)


def l7_matrix(objects: Iterable[Mapping[str, Any]], pods: list[Pod], root_namespace: str = "istio-system"
              ) -> set[tuple[str, tuple[str, str], int]]:
    """(principal, destination, port) for every identity the ALLOW AuthorizationPolicies admit; `*` for any
    source, which only a Gateway's own policy may admit (its clients are outside the mesh)."""
    policies = [o for o in objects if o["kind"] == "AuthorizationPolicy"]
    out = set()
    for dst in pods:
        for policy in (p for p in policies if _binds(p, dst, root_namespace)):
            assert policy["spec"].get("action", "ALLOW") == "ALLOW", policy
            for rule in policy["spec"].get("rules", []):
                principals = [pr for f in rule.get("from", []) for pr in f["source"].get("principals", [])]
                ports = [int(pt) for t in rule.get("to", []) for pt in t["operation"].get("ports", [])]
                assert ports, f"a rule admitting any port: {rule}"
                if not principals:
                    assert "from" not in rule and "targetRefs" in policy["spec"], f"a rule admitting anyone: {rule}"
                    principals = [ANY_SOURCE]
                out.update((pr, dst.key, pt) for pr in principals for pt in ports)
    return out
