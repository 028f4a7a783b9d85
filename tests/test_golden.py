"""Golden files: the exact YAML each example and each tests/inputs/golden input compiles to.

A change to a golden file is a change to what every cluster receives: review it like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from lattice import render
from lattice.api.crd import all_crds
from lattice.fleet import FleetResult
from tests.conftest import EXAMPLES, GOLDEN_INPUTS, load_fleet
from tests.support.gates import compile_fleet

EXAMPLE_SERVICES = ["commerce/api", "commerce/orders", "commerce/orders-db", "commerce/payments",
                    "commerce/worker", "storefront/catalog", "storefront/web"]


def test_examples_compile_cleanly(examples_fleet: FleetResult) -> None:
    assert examples_fleet.errors == []
    assert [(s.ref.namespace, s.ref.name, s.errors, s.warnings) for s in examples_fleet.services] == [
        (ref.split("/")[0], ref.split("/")[1], [], []) for ref in EXAMPLE_SERVICES
    ]


@pytest.mark.parametrize("ref", EXAMPLE_SERVICES, ids=lambda r: r.replace("/", "-"))
def test_example_golden(ref: str, examples_fleet: FleetResult, yaml_snapshot: SnapshotAssertion) -> None:
    outcome = next(s for s in examples_fleet.services if f"{s.ref.namespace}/{s.ref.name}" == ref)
    assert render.dump_yaml_stream(outcome.objects) == yaml_snapshot


def test_example_cluster_and_namespace_objects_golden(examples_fleet: FleetResult,
                                                       yaml_snapshot: SnapshotAssertion) -> None:
    shared = [*examples_fleet.cluster_objects, *examples_fleet.namespace_objects]
    assert render.dump_yaml_stream(shared) == yaml_snapshot


def _golden_inputs() -> list[Path]:
    return sorted(GOLDEN_INPUTS.glob("*.yaml"))


@pytest.mark.parametrize("path", _golden_inputs(), ids=lambda p: p.stem)
def test_input_golden(path: Path, yaml_snapshot: SnapshotAssertion) -> None:
    result = compile_fleet(load_fleet(path))
    assert result.errors == []
    assert all(s.ok for s in result.services), [s.errors for s in result.services]
    rendered = "".join(
        f"# {s.ref}\n" + "".join(f"# warning: {w.render()}\n" for w in s.warnings) + render.dump_yaml_stream(s.objects)
        for s in result.services
    )
    if result.namespace_objects:
        rendered += "# shared namespace objects\n" + render.dump_yaml_stream(result.namespace_objects)
    assert rendered == yaml_snapshot


def test_crds_golden(yaml_snapshot: SnapshotAssertion) -> None:
    assert render.dump_yaml_stream(all_crds()) == yaml_snapshot


def test_compiling_twice_is_byte_identical() -> None:
    first = render.dump_yaml_stream(compile_fleet(load_fleet(EXAMPLES)).objects)
    second = render.dump_yaml_stream(compile_fleet(list(reversed(load_fleet(EXAMPLES)))).objects)
    assert first == second


def test_a_service_compiled_alone_gets_deny_all_policies() -> None:
    """compile_service without a fleet (a graph of one): nobody may call it and it may call nobody; only the
    platform's scraper reaches its metrics port (and, in ambient mode, the kubelet its probed port)."""
    from lattice.api import parse_resource
    from lattice.api.service import LatticeService
    from lattice.compiler import CompileContext, compile_service

    svc = parse_resource({
        "apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService", "metadata": {"name": "solo", "namespace": "x"},
        "spec": {"workload": {
            "containers": {"main": {"image": "registry.example.com/solo:1",
                                    "variables": {"PEER": "${resources.peer.host}"},
                                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
            "service": {"ports": {"http": {"port": 8080}}},
            "resources": {"peer": {"type": "service", "direction": "both"}}}}})
    assert isinstance(svc, LatticeService)
    objects = compile_service(svc, CompileContext()).objects
    cnp = next(o for o in objects if o["kind"] == "CiliumNetworkPolicy")
    assert [r.get("fromEndpoints", r.get("fromCIDR")) for r in cnp["spec"]["ingress"]] == [
        [{"matchLabels": {"app.kubernetes.io/instance": "lattice", "app.kubernetes.io/name": "vmagent",
                          "k8s:io.kubernetes.pod.namespace": "monitoring"}}],
        ["169.254.7.127/32"]]
    assert cnp["spec"]["egress"] == [{}]
    policy = next(o for o in objects if o["kind"] == "AuthorizationPolicy")
    assert [r["from"][0]["source"]["principals"] for r in policy["spec"]["rules"]] == [
        ["cluster.local/ns/monitoring/sa/vmagent-lattice"]]
