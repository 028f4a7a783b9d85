"""The output-only checker must catch what a faulty compiler would emit, and accept the narrow, stated
exceptions the platform needs (probe source, gateway entities, FQDN patterns, istiod names, the Gateway's own
AuthorizationPolicy). Each case edits the compiled example fleet the way a bug would, then runs the guarantee.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lattice.fleet import FleetResult
from tests.conftest import EXAMPLES
from tests.policy_checker import UnknownShape
from tests.test_policy_guarantee import _documents, check

Edit = Callable[[FleetResult], None]
DOCS = _documents(EXAMPLES)


def _policy(result: FleetResult, name: str, kind: str = "CiliumNetworkPolicy") -> dict[str, Any]:
    return next(o for o in result.objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _egress_to(result: FleetResult, policy: str, label: str) -> dict[str, Any]:
    rules = _policy(result, policy)["spec"]["egress"]
    return next(r for r in rules if any(s["matchLabels"].get("app.kubernetes.io/name") == label
                                        for s in r.get("toEndpoints", [])))


def _drop_to_endpoints(result: FleetResult) -> None:
    del _egress_to(result, "payments", "orders")["toEndpoints"]  # ports stay: every destination on them


def _no_default_deny_anywhere(result: FleetResult) -> None:
    for obj in result.objects:
        if obj["kind"] in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy") and \
                obj["metadata"]["name"] in ("payments", "lattice-default-deny"):
            obj["spec"]["enableDefaultDeny"] = {"ingress": True, "egress": False}


def _own_default_deny_off(result: FleetResult) -> None:
    # The cluster-wide policy still asks for default deny, so the pod stays default-deny (any selecting policy
    # decides), but exempt the namespace from it and the workload is open: its own policy must suffice.
    _policy(result, "payments")["spec"]["enableDefaultDeny"] = {"ingress": False, "egress": False}


def _add_egress(rule: dict[str, Any], policy: str = "payments") -> Edit:
    return lambda result: _policy(result, policy)["spec"]["egress"].append(rule)


def _add_ingress(rule: dict[str, Any], policy: str = "payments") -> Edit:
    return lambda result: _policy(result, policy)["spec"]["ingress"].append(rule)


def _ports(*numbers: int) -> list[dict[str, Any]]:
    return [{"ports": [{"port": str(n), "protocol": "TCP"} for n in numbers]}]


def _dns_rule(result: FleetResult, policy: str) -> dict[str, Any]:
    return next(r for r in _policy(result, policy)["spec"]["egress"] if "rules" in r.get("toPorts", [{}])[0])


def _dns_names(*extra: dict[str, str]) -> Edit:
    return lambda result: _dns_rule(result, "payments")["toPorts"][0]["rules"]["dns"].extend(extra)


def _dns_without_names(result: FleetResult) -> None:
    del _dns_rule(result, "payments")["toPorts"][0]["rules"]


def _open_l7(result: FleetResult) -> None:
    del _policy(result, "orders", "AuthorizationPolicy")["spec"]["rules"][0]["from"]


def _gateway_policy(ports: list[str]) -> Edit:
    def edit(result: FleetResult) -> None:
        result.namespace_objects.append({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "lattice-ingress", "namespace": "storefront"},
            "spec": {"targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io",
                                     "name": "lattice-ingress"}],
                     "action": "ALLOW", "rules": [{"to": [{"operation": {"ports": ports}}]}]}})
    return edit


def _wrong_selector_namespace(result: FleetResult) -> None:
    rule = _egress_to(result, "payments", "orders")
    rule["toEndpoints"][0]["matchLabels"].pop("k8s:io.kubernetes.pod.namespace")
    rule["toEndpoints"][0]["matchLabels"]["k8s:io.kubernetes.pod.namespace"] = "storefront"


BROKEN: dict[str, Edit] = {
    "egress rule loses toEndpoints": _drop_to_endpoints,
    "enableDefaultDeny egress false everywhere": _no_default_deny_anywhere,
    "a workload policy relying on the cluster-wide default deny": _own_default_deny_off,
    "toCIDR catch-all": _add_egress({"toCIDR": ["0.0.0.0/0"], "toPorts": _ports(443)}),
    "toCIDRSet with an except still reaches the rest": _add_egress(
        {"toCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}]}),
    "toEntities world": _add_egress({"toEntities": ["world"], "toPorts": _ports(443)}),
    "toEntities cluster reaches every pod": _add_egress({"toEntities": ["cluster"]}),
    "toFQDNs pattern for every name": _add_egress({"toFQDNs": [{"matchPattern": "*"}], "toPorts": _ports(443)}),
    "toFQDNs of an undeclared host": _add_egress({"toFQDNs": [{"matchName": "evil.example.com"}]}),
    "a callee's rule on another namespace": _wrong_selector_namespace,
    "selector without namespace in a namespaced policy": _add_egress(
        {"toEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "api"}}], "toPorts": _ports(9102)}),
    "fromEntities all": _add_ingress({"fromEntities": ["all"]}),
    "fromEntities world on a workload": _add_ingress({"fromEntities": ["world"], "toPorts": _ports(8080)}),
    "fromEntities remote-node on a workload": _add_ingress({"fromEntities": ["remote-node"]}),
    "probe source on a port that is not probed": _add_ingress(
        {"fromCIDR": ["169.254.7.127/32"], "toPorts": _ports(9999)}),
    "probe source on every port": _add_ingress({"fromCIDR": ["169.254.7.127/32"]}),
    "another CIDR as probe source": _add_ingress({"fromCIDR": ["169.254.0.0/16"], "toPorts": _ports(8080)}),
    "ingress with ports only": _add_ingress({"toPorts": _ports(8080)}),
    "gateway open to world beyond its listeners": _add_ingress(
        {"fromEntities": ["world"], "toPorts": _ports(8443)}, "lattice-ingress"),
    "DNS rule lets any name through": _dns_without_names,
    "DNS rule admits an arbitrary name": _dns_names({"matchName": "evil.example.com"}),
    "DNS rule admits a name that is not a callee": _dns_names({"matchName": "web.storefront.svc.cluster.local"}),
    "DNS pattern covering a namespace": _dns_names({"matchPattern": "*.storefront.svc.cluster.local"}),
    "an L7 rule from anyone on a workload": _open_l7,
    "the Gateway's policy beyond its listeners": _gateway_policy(["80", "443", "8080"]),
}


@pytest.mark.parametrize("edit", list(BROKEN.values()), ids=list(BROKEN))
def test_the_checker_catches_a_weakened_policy(edit: Edit) -> None:
    with pytest.raises(AssertionError):
        check(DOCS, edit)


def _probe_source_on_probe_ports(result: FleetResult) -> None:
    # payments' readiness probe is the default TCP check of its first port (http: 8080)
    _add_ingress({"fromCIDR": ["169.254.7.127/32"], "toPorts": _ports(8080)})(result)


def _gateway_entities(result: FleetResult) -> None:
    _policy(result, "lattice-ingress")["spec"]["ingress"][0]["fromEntities"] = ["world", "remote-node"]


def _fqdn_pattern(result: FleetResult) -> None:
    rule = next(r for r in _policy(result, "payments")["spec"]["egress"] if "toFQDNs" in r)
    rule["toFQDNs"] = [{"matchPattern": "*.stripe.com"}]


def _istiod_names(result: FleetResult) -> None:
    for policy in ("payments", "lattice-ingress"):
        spec = _policy(result, policy)["spec"]
        rules = [r for r in spec["egress"] if "rules" in r.get("toPorts", [{}])[0]]
        names = [{"matchName": n} for n in ("istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local")]
        if rules:
            rules[0]["toPorts"][0]["rules"]["dns"].extend(names)
        else:
            spec["egress"].append({"toEndpoints": [{"matchLabels": {
                "k8s-app": "kube-dns", "k8s:io.kubernetes.pod.namespace": "kube-system"}}],
                "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": names}}]})


def _explicit_deny_rule(result: FleetResult) -> None:
    _policy(result, "payments")["spec"]["egressDeny"] = [{"toEntities": ["kube-apiserver"]}]


ACCEPTED: dict[str, Edit] = {
    "ambient probe source on probe ports": _probe_source_on_probe_ports,
    "gateway ingress from world and remote-node": _gateway_entities,
    "toFQDNs matchPattern for a wildcard host": _fqdn_pattern,
    "istiod names in the DNS rule": _istiod_names,
    "the Gateway's ALLOW policy for its listeners": _gateway_policy(["80", "443"]),
    "an egress deny rule": _explicit_deny_rule,
}


@pytest.mark.parametrize("edit", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_the_checker_accepts_the_stated_exceptions(edit: Edit) -> None:
    check(DOCS, edit)


@pytest.mark.parametrize("rule", [{"toServices": [{"k8sService": {"serviceName": "x"}}]},
                                  {"toNodes": [{}]}, {"toRequires": []}, {"icmps": [{"fields": []}]}])
def test_a_shape_the_checker_does_not_know_fails_loudly(rule: dict[str, Any]) -> None:
    with pytest.raises(UnknownShape):
        check(DOCS, _add_egress(rule))


def test_an_authorization_policy_the_checker_cannot_judge_fails_loudly() -> None:
    def deny(result: FleetResult) -> None:
        _policy(result, "orders", "AuthorizationPolicy")["spec"]["action"] = "DENY"
    with pytest.raises(UnknownShape):
        check(DOCS, deny)
