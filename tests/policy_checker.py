"""An independent reading of the emitted policies: who may connect to whom, computed from the output alone.

Nothing here imports the compiler: each policy is evaluated as Cilium and Istio evaluate it, so a bug in the
derivation shows up as a difference from the expectation computed straight from the input specs. Each
direction is judged on its own (a pod's egress, whatever the other side's ingress says, and the reverse), so an
egress rule that opens to every destination fails even where the destination's own default deny hides it.

Cilium semantics modelled (docs.cilium.io, security/policy: intro "Policy Enforcement Modes", language, layer3,
layer4; the CRD's description of `enableDefaultDeny`):
- A pod is default-deny in a direction when any policy selecting it enables it: `enableDefaultDeny.<dir>`
  when set, else true exactly when the policy has rules in that direction (`<dir>` or `<dir>Deny`). A policy
  with `enableDefaultDeny.<dir>: false` still adds its allow rules. Not default-deny: everything is allowed.
- A rule admits a peer when one of its L3 parts matches (`*Endpoints`, `*Entities`, `*CIDR`, `*CIDRSet`,
  `toFQDNs`) and, if it has `toPorts`, the port matches. A rule with `toPorts` and no L3 part admits every
  peer on those ports (layer4: "to any destination"); an empty rule `{}` admits nothing.
- Endpoint selectors of a namespaced CiliumNetworkPolicy match only its own namespace unless they name one;
  entities `all` and `cluster` include every pod, the other entities (`world`, `host`, `remote-node`,
  `kube-apiserver`, ...) none; CIDR and FQDN rules match addresses outside the cluster, never pods.
- Deny rules win over allow rules.
A field the checker does not know fails loudly (UnknownShape) instead of being read as "allows nothing".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NAMESPACE_KEYS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace")
SERVICE_ACCOUNT_KEYS = ("k8s:io.cilium.k8s.policy.serviceaccount", "io.cilium.k8s.policy.serviceaccount")
NAMESPACE_LABEL_PREFIXES = ("k8s:io.cilium.k8s.namespace.labels.", "io.cilium.k8s.namespace.labels.")
POD_ENTITIES = frozenset({"all", "cluster"})
CLUSTER_ENTITIES = frozenset({"host", "remote-node", "kube-apiserver", "health", "init", "ingress", "unmanaged"})
L3_FIELDS = {
    "ingress": ("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet", "fromNodes"),
    "egress": ("toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toFQDNs", "toNodes", "toServices"),
}
OTHER_RULE_FIELDS = frozenset({"toPorts", "icmps", "authentication"})
CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
ANY = "*"  # an L7 source without identity (a request the policy admits from anyone)


class UnknownShape(AssertionError):
    """The policy uses something this checker cannot judge: teach the checker before trusting a verdict."""


@dataclass(frozen=True)
class Pod:
    key: tuple[str, str]
    namespace: str
    labels: tuple[tuple[str, str], ...]
    principal: str
    named_ports: tuple[tuple[str, int], ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def service_account(self) -> str:
        return self.principal.rsplit("/sa/", 1)[-1]


@dataclass(frozen=True)
class Outside:
    """A peer that is not a pod: an entity (`world`, `host`, ...), optionally with an address and DNS names."""

    key: tuple[str, str]
    entity: str
    address: str | None = None
    names: tuple[str, ...] = ()


Peer = Pod | Outside
Port = tuple[int, str]  # (number, protocol)


# --- selectors --------------------------------------------------------------------------------------------

def _label_value(key: str, pod: Pod) -> str | None:
    if key in NAMESPACE_KEYS:
        return pod.namespace
    if key in SERVICE_ACCOUNT_KEYS:
        return pod.service_account
    for prefix in NAMESPACE_LABEL_PREFIXES:
        if key.startswith(prefix):
            return {"kubernetes.io/metadata.name": pod.namespace}.get(key.removeprefix(prefix))
    if key.startswith(("reserved:", "cidr:", "fqdn:")):
        raise UnknownShape(f"selector key {key!r}")
    return pod.label_map.get(key.removeprefix("k8s:").removeprefix("any:"))


def selector_matches(selector: Mapping[str, Any], value_of: Callable[[str], str | None]) -> bool:
    """A label selector over any label lookup, as Kubernetes and Cilium read it: `NotIn` and `DoesNotExist`
    also match an endpoint without the label."""
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise UnknownShape(f"selector fields {sorted(unknown)}")
    for key, value in (selector.get("matchLabels") or {}).items():
        if value_of(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        actual = value_of(expr["key"])
        op, values = expr["operator"], expr.get("values", [])
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise UnknownShape(f"selector operator {op!r}")
        if (op == "In" and actual not in values) or (op == "NotIn" and actual in values) or \
                (op == "Exists" and actual is None) or (op == "DoesNotExist" and actual is not None):
            return False
    return True


def label_matches(selector: Mapping[str, Any], pod: Pod) -> bool:
    return selector_matches(selector, lambda key: _label_value(key, pod))


def _names_namespace(selector: Mapping[str, Any]) -> bool:
    keys = [*(selector.get("matchLabels") or {}), *(e["key"] for e in selector.get("matchExpressions") or [])]
    return any(k in NAMESPACE_KEYS or k.startswith(NAMESPACE_LABEL_PREFIXES) for k in keys)


def _selects(policy: Mapping[str, Any], pod: Pod) -> bool:
    spec = policy["spec"]
    if "nodeSelector" in spec:
        return False  # a host policy: it selects nodes, not pods
    if policy["kind"] == "CiliumNetworkPolicy" and policy["metadata"]["namespace"] != pod.namespace:
        return False
    return label_matches(spec["endpointSelector"], pod)


# --- one rule ---------------------------------------------------------------------------------------------

def _fqdn_matches(selector: Mapping[str, Any], name: str) -> bool:
    """matchName exactly; matchPattern where `*` alone is every name and otherwise stands for characters of
    one DNS label (Cilium pkg/fqdn/matchpattern); a leading `**.` stands for one or more labels."""
    name = name.lower().rstrip(".")
    if "matchName" in selector:
        return bool(name == selector["matchName"].lower().rstrip("."))
    if "matchPattern" in selector:
        pattern = selector["matchPattern"].lower().rstrip(".")
        if pattern == "*":
            return True
        regex = re.escape(pattern)
        regex = regex.replace(re.escape("**."), "(?:[-a-z0-9_]+\\.)+").replace(re.escape("*"), "[-a-z0-9_]*")
        return re.fullmatch(regex, name) is not None
    raise UnknownShape(f"FQDN selector {dict(selector)}")


def _cidr_contains(cidr: str, address: str | None, excepts: Iterable[str] = ()) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    network = ipaddress.ip_network(cidr, strict=False)
    if ip.version != network.version or ip not in network:
        return False
    return not any(ip in ipaddress.ip_network(e, strict=False) for e in excepts)


def _entity_matches(entities: Iterable[str], peer: Peer) -> bool:
    for entity in entities:
        if entity == "all":
            return True
        if isinstance(peer, Pod):
            if entity == "cluster":
                return True
        elif entity == "cluster" and peer.entity in CLUSTER_ENTITIES:
            return True
        elif entity in ("world", "world-ipv4", "world-ipv6"):
            family = {"world-ipv4": 4, "world-ipv6": 6}.get(entity)
            if peer.entity == "world" and (family is None or peer.address is None or
                                           ipaddress.ip_address(peer.address).version == family):
                return True
        elif entity == peer.entity:
            return True
    return False


def _l3_matches(rule: Mapping[str, Any], direction: str, peer: Peer, policy: Mapping[str, Any]) -> bool | None:
    """Whether the rule's L3 part admits the peer; None when the rule has no L3 part at all."""
    present = [f for f in L3_FIELDS[direction] if f in rule]
    if not present:
        return None
    prefix = "from" if direction == "ingress" else "to"
    for field in present:
        value = rule[field]
        if field in ("fromNodes", "toNodes", "toServices"):
            raise UnknownShape(f"{field} rules")
        if field.endswith("Endpoints"):
            if isinstance(peer, Pod):
                for selector in value:
                    own_namespace = policy["kind"] == "CiliumNetworkPolicy" and not _names_namespace(selector)
                    if own_namespace and peer.namespace != policy["metadata"]["namespace"]:
                        continue
                    if label_matches(selector, peer):
                        return True
        elif field == f"{prefix}Entities":
            if _entity_matches(value, peer):
                return True
        elif field == f"{prefix}CIDR":
            if isinstance(peer, Outside) and any(_cidr_contains(c, peer.address) for c in value):
                return True
        elif field == f"{prefix}CIDRSet":
            for entry in value:
                if "cidr" not in entry:
                    raise UnknownShape(f"CIDR set entry {entry}")
                if isinstance(peer, Outside) and _cidr_contains(entry["cidr"], peer.address, entry.get("except", ())):
                    return True
        elif field == "toFQDNs" and isinstance(peer, Outside) and \
                any(_fqdn_matches(s, n) for s in value for n in peer.names):
            return True
    return False


def _port_number(text: str | int, subject: Pod) -> int | None:
    if isinstance(text, int) or str(text).isdigit():
        return int(text)
    return dict(subject.named_ports).get(str(text))  # a named port is the selected pod's container port


def _ports_match(rule: Mapping[str, Any], port: Port, subject: Pod) -> bool:
    """Whether `port` is among the rule's ports (no `toPorts`: every port). Ports are the destination's:
    for ingress the selected pod's, for egress the peer's (named ports only name the selected pod's)."""
    if "toPorts" not in rule:
        return True
    for entry in rule["toPorts"]:
        unknown = set(entry) - {"ports", "rules", "listener", "serverNames", "terminatingTLS", "originatingTLS"}
        if unknown or "ports" not in entry:
            raise UnknownShape(f"toPorts entry {entry}")
        for p in entry["ports"]:
            number = _port_number(p["port"], subject)
            end = int(p.get("endPort") or number or 0)
            protocol = p.get("protocol", "ANY") or "ANY"
            in_range = number == 0 or (number is not None and number <= port[0] <= max(end, number))
            if in_range and protocol in ("ANY", port[1]):
                return True
    return False


def _check_fields(rule: Mapping[str, Any], direction: str, policy: Mapping[str, Any]) -> None:
    unknown = set(rule) - set(L3_FIELDS["ingress"]) - set(L3_FIELDS["egress"]) - OTHER_RULE_FIELDS
    wrong = [f for f in rule if f in L3_FIELDS["egress" if direction == "ingress" else "ingress"]]
    if unknown or wrong or "icmps" in rule or "authentication" in rule:
        raise UnknownShape(f"{direction} rule fields {sorted(unknown | set(wrong))} in {policy['metadata']}")


def _rule_peers(rule: Mapping[str, Any], direction: str, peers: list[Peer], policy: Mapping[str, Any]) -> list[Peer]:
    """The peers a rule's L3 part admits: `{}` none, a rule with only `toPorts` every peer."""
    _check_fields(rule, direction, policy)
    if not any(f in rule for f in L3_FIELDS[direction]):
        return list(peers) if "toPorts" in rule else []
    return [peer for peer in peers if _l3_matches(rule, direction, peer, policy)]


def rule_admits(rule: Mapping[str, Any], direction: str, subject: Pod, peer: Peer, port: Port,
                policy: Mapping[str, Any]) -> bool:
    """Whether one rule of a policy selecting `subject` admits `peer` on `port`."""
    if not _rule_peers(rule, direction, [peer], policy):
        return False
    return _ports_match(rule, port, _port_owner(direction, subject, peer))


def _port_owner(direction: str, subject: Pod, peer: Peer) -> Pod:
    """Whose named ports a rule's ports name: the destination's (the subject for ingress)."""
    if direction == "ingress":
        return subject
    return peer if isinstance(peer, Pod) else Pod(("", ""), "", (), "")


# --- a direction ------------------------------------------------------------------------------------------

def _default_deny(policy: Mapping[str, Any], direction: str) -> bool:
    spec = policy["spec"]
    setting = (spec.get("enableDefaultDeny") or {}).get(direction)
    if setting is not None:
        return bool(setting)
    return bool(spec.get(direction) or spec.get(f"{direction}Deny"))


def _cilium(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in objects if o["kind"] in CILIUM_KINDS]


def _admitted(selecting: list[Mapping[str, Any]], field: str, direction: str, subject: Pod, peers: list[Peer],
              ports: list[Port]) -> set[tuple[Peer, Port]]:
    out = set()
    for policy in selecting:
        for rule in policy["spec"].get(field) or []:
            for peer in _rule_peers(rule, direction, peers, policy):
                owner = _port_owner(direction, subject, peer)
                out.update((peer, port) for port in ports if _ports_match(rule, port, owner))
    return out


def _side(policies: list[Mapping[str, Any]], direction: str, subject: Pod, peers: list[Peer],
          ports: list[Port]) -> set[tuple[Peer, Port]]:
    """(peer, port) pairs the policies selecting `subject` allow in `direction`, judged on this side alone
    (egress: subject -> peer; ingress: peer -> subject)."""
    selecting = [p for p in policies if _selects(p, subject)]
    denied = _admitted(selecting, f"{direction}Deny", direction, subject, peers, ports)
    if any(_default_deny(p, direction) for p in selecting):
        allowed = _admitted(selecting, direction, direction, subject, peers, ports)
    else:
        allowed = {(peer, port) for peer in peers for port in ports}
    return allowed - denied


def allows(policies: list[Mapping[str, Any]], direction: str, subject: Pod, peer: Peer, port: Port) -> bool:
    return bool(_side(policies, direction, subject, [peer], [port]))


Edge = tuple[tuple[str, str], tuple[str, str], Port]


def direction_matrix(objects: Iterable[Mapping[str, Any]], direction: str, subjects: Iterable[Pod],
                     peers: Iterable[Peer], ports: Iterable[Port]) -> set[Edge]:
    """(subject, peer, port) for every connection the subject's own policies allow in `direction`."""
    policies = _cilium(objects)
    peer_list, port_list = list(peers), sorted(set(ports))
    return {(s.key, peer.key, port) for s in subjects
            for peer, port in _side(policies, direction, s, [p for p in peer_list if p.key != s.key], port_list)}


def policy_ports(objects: Iterable[Mapping[str, Any]]) -> set[Port]:
    """Every numbered port a Cilium rule names, with the ports just outside each range: a port universe that
    cannot miss what the policies open."""
    out: set[Port] = set()
    for policy in _cilium(objects):
        for direction in ("ingress", "egress", "ingressDeny", "egressDeny"):
            for rule in policy["spec"].get(direction) or []:
                for entry in rule.get("toPorts") or []:
                    for p in entry.get("ports") or []:
                        if str(p["port"]).isdigit():
                            low = int(p["port"])
                            high = int(p.get("endPort") or low)
                            for protocol in ("TCP", "UDP"):
                                out |= {(n, protocol) for n in (low, high, high + 1) if 0 < n < 65536}
    return out


def l4_matrix(objects: Iterable[Mapping[str, Any]], pods: list[Pod], ports: set[Port]
              ) -> set[tuple[tuple[str, str], tuple[str, str], int]]:
    """(source, destination, port) for every pod pair the Cilium policies let connect (egress and ingress)."""
    egress = direction_matrix(objects, "egress", pods, pods, ports)
    ingress = direction_matrix(objects, "ingress", pods, pods, ports)
    return {(src, dst, port[0]) for src, dst, port in egress if (dst, src, port) in ingress}


def dns_names_allowed(objects: Iterable[Mapping[str, Any]], subject: Pod, dns: Pod, names: Iterable[str]) -> set[str]:
    """Which of `names` the subject's DNS proxy rules let it ask `dns` for (a rule on port 53 to the DNS pods
    without `rules.dns` lets every name through)."""
    policies = [p for p in _cilium(objects) if _selects(p, subject)]
    if not any(_default_deny(p, "egress") for p in policies):
        return set(names)
    out = set()
    for name in names:
        for p in policies:
            for rule in p["spec"].get("egress") or []:
                if not rule_admits(rule, "egress", dns, dns, (53, "UDP"), p):
                    continue
                entries = rule.get("toPorts") or [{}]
                for entry in entries:
                    patterns = (entry.get("rules") or {}).get("dns")
                    if patterns is None or any(_fqdn_matches(s, name) for s in patterns):
                        out.add(name)
    return out


# --- Istio AuthorizationPolicy ----------------------------------------------------------------------------

def _applies(policy: Mapping[str, Any], pod: Pod, root_namespace: str) -> bool:
    """Istio: a policy in the root namespace without selector or targetRefs applies mesh-wide (gateways
    included); one in a namespace without either applies to the whole namespace; a selector picks pods;
    `targetRefs` to a Gateway apply to the pods Istio runs for it (label gateway-name)."""
    spec, namespace = policy["spec"], policy["metadata"]["namespace"]
    refs = spec.get("targetRefs") or ([spec["targetRef"]] if "targetRef" in spec else [])
    if refs:
        if "selector" in spec:
            raise UnknownShape("selector together with targetRefs")
        for ref in refs:
            if ref.get("kind") != "Gateway" or ref.get("group", "gateway.networking.k8s.io") != \
                    "gateway.networking.k8s.io":
                raise UnknownShape(f"targetRef {ref}")
            if pod.namespace == namespace and \
                    pod.label_map.get("gateway.networking.k8s.io/gateway-name") == ref["name"]:
                return True
        return False
    if "selector" in spec:
        return namespace == pod.namespace and label_matches(spec["selector"], pod)
    return namespace in (root_namespace, pod.namespace)


def _source_principals(rule: Mapping[str, Any]) -> list[str]:
    sources = rule.get("from")
    if not sources:
        return [ANY]
    out = []
    for entry in sources:
        source = entry.get("source", {})
        if set(source) - {"principals"}:
            raise UnknownShape(f"source fields {sorted(source)}")
        out.extend(source.get("principals") or [ANY])
    return out


def _operation_ports(rule: Mapping[str, Any], all_ports: Iterable[int]) -> list[int]:
    targets = rule.get("to")
    if not targets:
        return list(all_ports)
    out = []
    for entry in targets:
        operation = entry.get("operation", {})
        if set(operation) - {"ports"}:
            raise UnknownShape(f"operation fields {sorted(operation)}")
        if "ports" in operation:
            out.extend(int(p) for p in operation["ports"])
        else:
            out.extend(all_ports)
    return out


def l7_matrix(objects: Iterable[Mapping[str, Any]], pods: list[Pod], root_namespace: str = "istio-system",
              ports: Iterable[int] = ()) -> set[tuple[str, tuple[str, str], int]]:
    """(principal, destination, port) for every identity the ALLOW AuthorizationPolicies admit; `*` as the
    principal means "from anyone" (a rule without `from`). A workload no ALLOW policy applies to would admit
    everyone: that shows as `*` on every port of `ports`."""
    policies = [o for o in objects if o["kind"] == "AuthorizationPolicy"]
    all_ports = sorted(set(ports))
    out = set()
    for dst in pods:
        applying = [p for p in policies if _applies(p, dst, root_namespace)]
        for policy in applying:
            action = policy["spec"].get("action", "ALLOW")
            if action != "ALLOW" or "when" in str(policy["spec"].get("rules", "")):
                raise UnknownShape(f"action {action} / conditions in {policy['metadata']}")
        if not applying:
            out.update((ANY, dst.key, port) for port in all_ports)
            continue
        for policy in applying:
            for rule in policy["spec"].get("rules", []):
                out.update((pr, dst.key, pt) for pr in _source_principals(rule)
                           for pt in _operation_ports(rule, all_ports))
    return out
