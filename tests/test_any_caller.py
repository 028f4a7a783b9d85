"""`id: "*"` on an inbound service dependency stands for any caller (DESIGN §1): with the callee's
`AllowWildcard` permit (`build_graph(..., wildcard_callees=...)`) every workload of the fleet that declares the
callee outbound is agreed, and nobody else; without it, `*` admits nobody. It is never read as a service named
`*`: no "demo/* has not agreed", no `*.demo.svc` host, no outbound wildcard."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lattice.api import parse_resource
from lattice.api.workload import Dependency
from lattice.cli import graph_view
from lattice.cli.main import app
from lattice.errors import LatticeError
from lattice.fleet import (
    FleetResult,
    Sourced,
    check_fleet,
    compile_order,
    compile_workload,
    finish_fleet,
)
from lattice.graph import FleetGraph, Key, Node, build_graph
from tests.policy_checker import l4_matrix, l7_matrix, policy_ports
from tests.support.gates import compile_fleet
from tests.test_policy_guarantee import pods


def _service(name: str, resources: dict[str, Any], namespace: str = "demo", **main: Any) -> dict[str, Any]:
    container = {"image": "registry.example.com/app:1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
    container.update(main)
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": namespace},
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


# --- with the callee's AllowWildcard permit ---------------------------------------------------------------

ANY = {"type": "service", "direction": "inbound", "id": "*"}
ORDERS: Key = ("demo", "orders")


def _member(name: str, namespace: str, resources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeMeshMember",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": f"helm-{name}"}, "ports": {"pg": {"port": 5432}}, "resources": resources}}


def compile_permitting(docs: list[dict[str, Any]], permitted: frozenset[Key]) -> FleetResult:
    """The fleet compiled as the CLI compiles it, with the graph rebuilt as the gate will build it once it
    has decided `AllowWildcard`: `permitted` are the callees holding the permit."""
    items, context, errors = check_fleet([Sourced("t", parse_resource(d)) for d in docs])
    graph = build_graph(context.graph.nodes.values(), permitted, failed=context.failed)
    context = dataclasses.replace(context, graph=graph)
    ordered = compile_order(items)
    return finish_fleet(ordered, [compile_workload(item, context) for item in ordered], context, errors)


def _fleet() -> list[dict[str, Any]]:
    """orders takes any caller; shop, web (another namespace) and a Helm-installed mesh member call it;
    batch calls nothing; audit is named by orders as well as calling it."""
    return [
        _service("orders", {"any": ANY, "audit": {"type": "service", "direction": "inbound"}}),
        _service("shop", {"orders": {"type": "service"}}),
        _service("web", {"orders": {"type": "service", "namespace": "demo"}}, namespace="front"),
        _service("audit", {"orders": {"type": "service"}}),
        _service("batch", {}),
        _member("legacy", "data", {"orders": {"type": "service", "namespace": "demo"}}),
    ]


CALLERS = {("demo", "shop"), ("front", "web"), ("demo", "audit"), ("data", "legacy")}


def test_a_permitted_wildcard_admits_exactly_the_callers_that_declare_it() -> None:
    """Read from the emitted policies alone (tests/policy_checker.py): who reaches orders, on which ports, with
    which identity. Every declared caller on orders' port (and HBONE), nobody else."""
    docs = _fleet()
    result = compile_permitting(docs, frozenset({ORDERS}))
    assert result.ok, [(s.ref, [e.render() for e in s.errors]) for s in result.services]
    workload_pods = pods(result, docs)
    ports = policy_ports(result.objects) | {(8080, "TCP"), (5432, "TCP"), (15008, "TCP")}
    reach = {(src, port) for src, dst, port in l4_matrix(result.objects, workload_pods, ports) if dst == ORDERS}
    workloads = {p.key for p in workload_pods if p.key[1] in {"orders", "shop", "web", "audit", "batch", "legacy"}}
    assert {(src, port) for src, port in reach if src in workloads} == {(c, p) for c in CALLERS for p in (8080, 15008)}
    principals = {pr for pr, dst, port in l7_matrix(result.objects, workload_pods, ports={8080}) if dst == ORDERS}
    assert {pr for pr in principals if "vmagent" not in pr} == {
        "cluster.local/ns/demo/sa/shop", "cluster.local/ns/front/sa/web", "cluster.local/ns/demo/sa/audit",
        "cluster.local/ns/data/sa/legacy"}
    # each caller's own egress opens to orders (the same edge, seen from its side)
    for caller in CALLERS:
        assert result.context.graph.callees_of(caller) == [ORDERS]
    assert result.one_sided == []  # no caller is told that orders has not agreed
    assert result.context.graph.wildcard_edges == {(c, ORDERS) for c in CALLERS - {("demo", "audit")}}


def test_without_the_permit_the_wildcard_admits_nobody_and_the_graph_says_who_asked() -> None:
    docs = _fleet()
    result = compile_permitting(docs, frozenset())
    graph = result.context.graph
    assert graph.callers_of(ORDERS) == [("demo", "audit")]  # named: agreed as ever
    assert graph.wildcard_declarers == {ORDERS: ("any",)} and graph.declares_wildcard(ORDERS)
    assert graph.wildcard_edges == frozenset()
    assert {(o.caller, o.declared_by) for o in graph.one_sided} == {(c, c) for c in CALLERS - {("demo", "audit")}}
    workload_pods = pods(result, docs)
    ports = policy_ports(result.objects) | {(8080, "TCP")}
    fleet_keys = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs}
    assert {src for src, dst, _ in l4_matrix(result.objects, workload_pods, ports)
            if dst == ORDERS and src in fleet_keys} == {("demo", "audit")}


def test_a_permit_without_a_wildcard_admits_nobody() -> None:
    shop = _service("shop", {"orders": {"type": "service"}})
    result = compile_permitting([_service("orders", {}), shop], frozenset({ORDERS}))
    assert result.context.graph.edges == []
    assert result.context.graph.wildcard_declarers == {}


def test_a_wildcard_never_admits_a_refused_workload_or_a_platform_identity() -> None:
    """A workload taking the gateway's service account, one in the mesh's own namespace, one defined twice:
    each is refused before the graph exists, so `*` cannot admit it (nor the scraper, which declares nothing)."""
    docs = [
        _service("orders", {"any": ANY}),
        _service("lattice-ingress-istio", {"orders": {"type": "service"}}),  # the gateway's identity
        _service("sneaky", {"orders": {"type": "service", "namespace": "demo"}}, namespace="istio-system"),
        _service("twice", {"orders": {"type": "service"}}),
        _service("twice", {"orders": {"type": "service"}}),
        _service("shop", {"orders": {"type": "service"}}),
    ]
    result = compile_permitting(docs, frozenset({ORDERS}))
    assert {d.ref.name for d in result.errors} >= {"lattice-ingress-istio", "sneaky", "twice"}
    assert result.context.graph.callers_of(ORDERS) == [("demo", "shop")]
    policy = next(o for o in result.objects if o["kind"] == "AuthorizationPolicy" and o["metadata"]["name"] == "orders")
    principals = {p for rule in policy["spec"]["rules"] for f in rule["from"] for p in f["source"]["principals"]}
    assert principals == {"cluster.local/ns/demo/sa/shop", "cluster.local/ns/monitoring/sa/vmagent-lattice"}


def test_a_failed_caller_gets_no_edge_and_no_complaint() -> None:
    nodes = _nodes({"orders": {"any": ANY}, "shop": {"orders": {"type": "service"}},
                    "broken": {"orders": {"type": "service"}}})
    graph = build_graph(nodes, frozenset({ORDERS}), failed=frozenset({("demo", "broken")}))
    assert graph.callers_of(ORDERS) == [("demo", "shop")]
    assert graph.one_sided == []


def _nodes(fleet: dict[str, dict[str, Any]]) -> list[Node]:
    return [Node(("demo", name), "LatticeService", {"app.kubernetes.io/name": name}, name, {},
                 {res: Dependency.model_validate(dep) for res, dep in deps.items()}) for name, deps in fleet.items()]


NAMES = ["a", "b", "c", "d", "e"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_graph_agrees_named_edges_and_permitted_wildcards_only(data: st.DataObject) -> None:
    """Edges = (outbound ∩ named inbound) ∪ {(a, c): a declares c outbound, c declares `*` and is permitted,
    a did not fail}; one-sided = every other declaration, save a failed caller's towards a permitted `*`."""
    fleet: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        deps: dict[str, Any] = {}
        for other in data.draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4), label=f"{name} peers"):
            deps[f"to-{other}"] = {"type": "service", "id": other,
                                   "direction": data.draw(st.sampled_from(["outbound", "inbound", "both"]))}
        if data.draw(st.booleans(), label=f"{name} takes *"):
            deps["anyone"] = ANY
        fleet[name] = deps
    permitted = frozenset(("demo", n) for n in data.draw(st.sets(st.sampled_from(NAMES)), label="permitted"))
    failed = frozenset(("demo", n) for n in data.draw(st.sets(st.sampled_from(NAMES)), label="failed"))
    graph = build_graph(_nodes(fleet), permitted, failed=failed)
    outbound = {(("demo", a), ("demo", d["id"])) for a, deps in fleet.items() for d in deps.values()
                if d.get("id") != "*" and d["direction"] in ("outbound", "both")}
    inbound = {(("demo", d["id"]), ("demo", b)) for b, deps in fleet.items() for d in deps.values()
               if d.get("id") != "*" and d["direction"] in ("inbound", "both")}
    takes_any = {("demo", n) for n, deps in fleet.items() if "anyone" in deps}
    by_wildcard = {(a, c) for a, c in outbound if c in takes_any & permitted} - inbound
    assert set(graph.edges) == (outbound & inbound) | {e for e in by_wildcard if e[0] not in failed}
    assert graph.wildcard_edges == {e for e in by_wildcard if e[0] not in failed}
    quiet = {e for e in by_wildcard if e[0] in failed}
    assert {(o.caller, o.callee) for o in graph.one_sided} == (outbound - inbound - by_wildcard) | (inbound - outbound)
    assert not {(o.caller, o.callee) for o in graph.one_sided} & quiet
    assert set(graph.wildcard_declarers) == takes_any
    assert all(graph.callers_of(k) == sorted(graph.callers_of(k)) for k in graph.nodes)


def test_graph_shows_wildcard_edges_and_the_missing_permit() -> None:
    docs = _fleet()
    permitted = compile_permitting(docs, frozenset({ORDERS})).context.graph
    mermaid = graph_view.mermaid(permitted)
    assert '    n_demo_shop -->|"any caller (`*`)"| n_demo_orders\n' in mermaid
    assert "    n_demo_audit --> n_demo_orders\n" in mermaid  # named by orders: an ordinary edge
    unpermitted: FleetGraph = compile_permitting(docs, frozenset()).context.graph
    assert '    n__ -.->|"admits nobody: `*` needs an AllowWildcard permit"| n_demo_orders\n' in \
        graph_view.mermaid(unpermitted)
    assert '    n__["*"]\n' in graph_view.mermaid(unpermitted)


def test_lattice_graph_table_without_permits(tmp_path: Any) -> None:
    """`lattice graph` decides no policy: every `*` shows as needing its permit."""
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(_fleet()))
    result = CliRunner().invoke(app, ["graph", str(path)])
    assert result.exit_code == 0, result.stdout
    lines = [" ".join(line.replace("│", " ").split()) for line in result.stdout.splitlines()]
    assert "* demo/orders not agreed (admits nobody: `*` needs an AllowWildcard permit)" in lines
    assert "demo/audit demo/orders agreed" in lines
