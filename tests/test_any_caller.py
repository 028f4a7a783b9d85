"""`id: "*"` on an inbound service dependency stands for any caller (DESIGN: admitted once the authorization
gate's `AllowWildcard` permits it). Until that gate exists it admits nobody, and it must never be read as a
service named `*`: no "demo/* has not agreed", no `*.demo.svc` host, no outbound wildcard."""

from __future__ import annotations

from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.errors import LatticeError
from lattice.fleet import Sourced, compile_fleet


def _service(name: str, resources: dict[str, Any], **main: Any) -> dict[str, Any]:
    container = {"image": "registry.example.com/app:1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
    container.update(main)
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"workload": {"containers": {"main": container},
                                  "service": {"ports": {"http": {"port": 8080}}}, "resources": resources}}}


@pytest.mark.parametrize("direction", ["outbound", "both", None])
def test_a_wildcard_is_never_a_callee(direction: str | None) -> None:
    dep: dict[str, Any] = {"type": "service", "id": "*"}
    if direction:
        dep["direction"] = direction
    with pytest.raises(LatticeError) as caught:
        parse_resource(_service("shop", {"all": dep}))
    assert [p.render() for p in caught.value.problems] == [
        "spec.workload.resources.all.id: `*` names no service: it stands for any caller, so it takes "
        "`direction: inbound` (hint: name the service it calls (its `metadata.name`), or write `direction: inbound`)"]


def test_an_inbound_wildcard_admits_nobody_yet_and_says_why() -> None:
    callee = _service("orders", {"any": {"type": "service", "id": "*", "direction": "inbound"}})
    caller = _service("shop", {"orders": {"type": "service"}})
    result = compile_fleet([Sourced("t", parse_resource(callee)), Sourced("t", parse_resource(caller))])
    orders = next(s for s in result.services if s.ref.name == "orders")
    rendered = [w.render() for w in orders.warnings]
    assert ("spec.workload.resources.any.id: `*` (any caller) admits no caller yet: a wildcard needs the "
            "authorization gate's permit, which is not built, so only callers declared by name reach this service "
            "(hint: declare each caller by name, e.g. `web: {type: service, direction: inbound}`)") in rendered
    assert not any("demo/*" in w for s in result.services for w in (x.render() for x in s.warnings))
    cnp = next(o for o in result.objects
               if o["kind"] == "CiliumNetworkPolicy" and o["metadata"]["name"] == "orders")
    callers = [sel["matchLabels"].get("app.kubernetes.io/name") for rule in cnp["spec"]["ingress"]
               for sel in rule.get("fromEndpoints", [])]
    assert "shop" not in callers


def test_a_wildcard_has_no_host() -> None:
    doc = _service("orders", {"any": {"type": "service", "id": "*", "direction": "inbound"}},
                   variables={"H": "${resources.any.host}"})
    result = compile_fleet([Sourced("t", parse_resource(doc))])
    (outcome,) = result.services
    assert [p.render() for p in outcome.errors] == [
        'spec.workload.containers.main.variables.H: `${resources.any.host}`: `any` stands for any caller '
        '(`id: "*"`), which has no host or port (hint: remove the placeholder, or name one service in '
        '`resources.any.id`)']
    assert outcome.objects == []
