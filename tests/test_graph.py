"""The fleet graph: bilateral matching, one-sided reports with the exact stanza, and its pictures."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lattice.api import parse_resource
from lattice.api.workload import Dependency
from lattice.cli.main import app
from lattice.fleet import Sourced, check_fleet
from lattice.graph import FleetGraph, GraphIndex, Node, OneSided, build_graph, target_of
from tests.conftest import GOLDEN_INPUTS
from tests.support.gates import admitting

ABCD = str(GOLDEN_INPUTS / "graph-abcd.yaml")


def _svc(name: str, namespace: str = "shop", **resources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"workload": {"containers": {"main": {"image": "registry.example.com/x:1",
                                                          "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}},
                                  "service": {"ports": {"http": {"port": 8080}}},
                                  "resources": resources}}}


def _graph(*docs: dict[str, Any]) -> FleetGraph:
    return check_fleet([Sourced("t", parse_resource(d)) for d in docs])[1].graph


@pytest.mark.parametrize(("a_says", "b_says", "edges", "one_sided"), [
    ("outbound", "inbound", [("a", "b")], []),
    ("both", "both", [("a", "b"), ("b", "a")], []),
    ("outbound", None, [], [("a", "b", "a")]),
    (None, "inbound", [], [("a", "b", "b")]),
    ("inbound", "inbound", [], [("a", "b", "b"), ("b", "a", "a")]),
    ("both", "inbound", [("a", "b")], [("b", "a", "a")]),
])
def test_an_edge_exists_only_when_both_sides_agree(a_says: str | None, b_says: str | None,
                                                   edges: list[tuple[str, str]],
                                                   one_sided: list[tuple[str, str, str]]) -> None:
    a = _svc("a", **({"b": {"type": "service", "direction": a_says}} if a_says else {}))
    b = _svc("b", **({"a": {"type": "service", "direction": b_says}} if b_says else {}))
    graph = _graph(a, b)
    assert [(x[1], y[1]) for x, y in graph.edges] == edges
    assert sorted((o.caller[1], o.callee[1], o.declared_by[1]) for o in graph.one_sided) == sorted(one_sided)


def test_id_and_namespace_name_the_target() -> None:
    a = _svc("a", db={"type": "service", "id": "postgres", "namespace": "data"})
    pg = _svc("postgres", "data", a={"type": "service", "direction": "inbound", "namespace": "shop"})
    assert _graph(a, pg).edges == [(("shop", "a"), ("data", "postgres"))]


def test_the_stanza_is_exactly_what_the_other_side_writes() -> None:
    assert OneSided(("shop", "b"), ("billing", "c"), ("shop", "b")).stanza() == \
        "b: {type: service, direction: inbound, namespace: shop}"
    assert OneSided(("shop", "a"), ("shop", "b"), ("shop", "b")).stanza() == "b: {type: service, direction: outbound}"


def test_table_lists_agreed_one_sided_and_isolated() -> None:
    result = CliRunner().invoke(app, ["graph", ABCD])
    assert result.exit_code == 0
    lines = [" ".join(line.replace("│", " ").split()) for line in result.stdout.splitlines()]
    assert "shop/a shop/b agreed" in lines
    assert "shop/b billing/c one-sided (missing: billing/c has not declared it inbound)" in lines
    assert "shop/d - declares nothing and is reached by nothing" in lines


def test_mermaid_draws_agreed_solid_and_one_sided_dashed() -> None:
    result = CliRunner().invoke(app, ["graph", ABCD, "--format", "mermaid"])
    assert result.stdout == (
        "flowchart LR\n"
        '    n_billing_c["billing/c"]\n'
        '    n_shop_a["shop/a"]\n'
        '    n_shop_b["shop/b"]\n'
        '    n_shop_d["shop/d"]\n'
        "    n_shop_a --> n_shop_b\n"
        '    n_shop_b -.->|"missing: billing/c has not declared it inbound"| n_billing_c\n'
    )


def test_dot_and_namespace_filter() -> None:
    result = CliRunner().invoke(app, ["graph", ABCD, "--format", "dot", "--namespace", "billing"])
    assert result.stdout == (
        "digraph fleet {\n    rankdir=LR;\n    node [shape=box, fontname=\"Helvetica\"];\n"
        '    "billing/c";\n    "shop/b";\n'
        '    "shop/b" -> "billing/c" [style=dashed, color=orange, label="missing: billing/c has not declared it '
        'inbound"];\n}\n'
    )


def test_svg_without_graphviz_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no `dot` to find
    result = CliRunner().invoke(app, ["graph", ABCD, "--format", "svg"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --format svg needs Graphviz's `dot`, which is not installed\n"
        "  hint: install it (Debian: `apt-get install graphviz`), or use `--format dot` and render elsewhere\n")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (.ci/run installs it)")
def test_svg_through_graphviz() -> None:
    result = CliRunner().invoke(app, ["graph", ABCD, "--format", "svg"])
    assert result.exit_code == 0
    assert result.stdout.lstrip().startswith("<?xml")
    assert "billing/c has not declared it inbound" in result.stdout
    assert 'stroke-dasharray' in result.stdout  # the one-sided edge is dashed


def test_compile_summary_lists_one_sided_edges() -> None:
    result = CliRunner().invoke(app, ["compile", *admitting(ABCD, "--summary")])
    assert result.exit_code == 0
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert "One-sided declarations" in flat
    assert "shop/b billing/c shop/b billing/c: b: {type: service, direction: inbound, namespace: shop}" in flat


def test_a_mesh_member_is_told_to_add_the_stanza_under_its_own_resources() -> None:
    from tests.support.gates import compile_fleet

    app_doc = _svc("app", db={"type": "service", "direction": "outbound"})
    member = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeMeshMember",
              "metadata": {"name": "db", "namespace": "shop"},
              "spec": {"selector": {"app": "postgres"}, "ports": {"postgres": {"port": 5432}}}}
    result = compile_fleet([Sourced("t", parse_resource(app_doc)), Sourced("t", parse_resource(member))])
    warnings = {s.ref.name: [w.render() for w in s.warnings] for s in result.services}
    assert warnings["db"] == [
        "spec.resources: shop/app declares shop/db as a callee, but shop/db does not declare it back, so no "
        "traffic is allowed between them (hint: add `app: {type: service, direction: inbound}` under "
        "`spec.resources` to allow it)"]
    assert warnings["app"] == [
        "spec.workload.resources: shop/app calls shop/db, but shop/db has not agreed, so no traffic is allowed "
        "between them (hint: the owner of shop/db adds `app: {type: service, direction: inbound}` under "
        "`spec.resources`)"]


@pytest.mark.parametrize("dependency", [
    {"type": "secret"},
    {"type": "volume", "params": {"size": "1Gi"}},
    {"type": "gpu", "params": {"count": 1}},
    {"type": "external-service", "params": {"endpoints": {"api": "https://b.example.com"}}},
], ids=lambda d: d["type"])
def test_only_a_service_dependency_can_open_an_edge(dependency: dict[str, Any]) -> None:
    """A secret, volume, GPU or external endpoint named like a workload is no call to it, even when that
    workload admits the name inbound: only `type: service` takes part in the agreement."""
    graph = _graph(_svc("a", b=dependency), _svc("b", a={"type": "service", "direction": "inbound"}))
    assert graph.edges == []
    assert [(o.caller[1], o.callee[1], o.declared_by[1]) for o in graph.one_sided] == [("a", "b", "b")]


PEERS = [("shop", n) for n in "abcd"] + [("data", "db")]


def _node(key: tuple[str, str], deps: dict[str, dict[str, Any]]) -> Node:
    return Node(key, "LatticeService", {"app.kubernetes.io/name": key[1]}, key[1], {},
                {res: Dependency.model_validate(dep) for res, dep in deps.items()})


@st.composite
def _declarations(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    deps: dict[str, dict[str, Any]] = {}
    for namespace, name in draw(st.lists(st.sampled_from(PEERS), unique=True, max_size=3)):
        deps[f"to-{name}"] = {"type": "service", "id": name, "namespace": namespace,
                              "direction": draw(st.sampled_from(["outbound", "inbound", "both"]))}
    if draw(st.booleans()):
        deps["anyone"] = {"type": "service", "direction": "inbound", "id": "*"}
    if draw(st.booleans()):
        deps["api"] = {"type": "external-service", "params": {"endpoints": {"x": "https://api.example.com"}}}
    return deps


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PEERS), st.none() | _declarations()), max_size=12),
       st.sets(st.sampled_from(PEERS)), st.sets(st.sampled_from(PEERS)))
def test_an_index_updated_one_workload_at_a_time_is_the_graph_built_afresh(
        steps: list[tuple[tuple[str, str], dict[str, dict[str, Any]] | None]],
        permitted: set[tuple[str, str]], failed: set[tuple[str, str]]) -> None:
    """The controller's graph (put and remove as workloads change, replacing and dropping declarations) is
    always the one `build_graph` makes of the workloads held now, and `naming` is who declares whom."""
    index = GraphIndex()
    held: dict[tuple[str, str], Node] = {}
    for key, deps in steps:
        if deps is None:
            index.remove(key)
            held.pop(key, None)
        else:
            held[key] = _node(key, deps)
            index.put(held[key])
        kept = index.graph(frozenset(permitted), failed=frozenset(failed))
        fresh = build_graph(list(held.values()), frozenset(permitted), failed=frozenset(failed))
        assert (kept.nodes, kept.callers, kept.callees, kept.one_sided, kept.externals, kept.wildcard_declarers,
                kept.wildcard_edges) == (fresh.nodes, fresh.callers, fresh.callees, fresh.one_sided,
                                         fresh.externals, fresh.wildcard_declarers, fresh.wildcard_edges)
        for peer in PEERS:
            assert index.naming(peer) == {
                k for k, node in held.items() for res, dep in node.dependencies.items()
                if dep.type == "service" and dep.id != "*" and target_of(k[0], res, dep) == peer}
