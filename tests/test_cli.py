"""The `lattice` commands end to end (in-process, through typer's runner): output formats, files written,
exit codes, and that every form prints the same objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lattice import render
from lattice.cli.main import app
from lattice.fleet import FleetResult
from tests.conftest import EXAMPLES
from tests.support.gates import admitting

runner = CliRunner()


def _yaml_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)


def test_compile_prints_exactly_the_fleet_result(examples_fleet: FleetResult) -> None:
    result = runner.invoke(app, ["compile", "examples"])
    assert result.exit_code == 0
    assert result.stdout == render.dump_yaml_stream(examples_fleet.objects)
    assert result.stderr == ""


def test_json_output_is_one_v1_list_of_the_same_objects() -> None:
    as_yaml = _yaml_docs(runner.invoke(app, ["compile", "examples"]).stdout)
    result = runner.invoke(app, ["compile", "examples", "-o", "json"])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert listed["apiVersion"] == "v1" and listed["kind"] == "List"
    assert listed["items"] == as_yaml


def test_out_dir_writes_one_file_per_workload_and_the_shared_objects(tmp_path: Path) -> None:
    everything = _yaml_docs(runner.invoke(app, ["compile", "examples"]).stdout)
    result = runner.invoke(app, ["compile", "examples", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.yaml"))
    assert written == ["_cluster.yaml", "commerce/api.yaml", "commerce/orders-db.yaml", "commerce/orders.yaml",
                       "commerce/payments.yaml", "commerce/worker.yaml", "storefront/_namespace.yaml",
                       "storefront/catalog.yaml", "storefront/web.yaml"]
    from_files = [d for p in sorted(tmp_path.rglob("*.yaml")) for d in _yaml_docs(p.read_text())]
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])  # noqa: E731
    assert sorted(from_files, key=key) == sorted(everything, key=key)
    payments = _yaml_docs((tmp_path / "commerce" / "payments.yaml").read_text())
    assert {o["metadata"]["labels"]["app.kubernetes.io/name"] for o in payments} == {"payments"}
    assert "Lattice fleet" in result.stdout  # the summary table


def test_standard_input_is_read_with_a_dash() -> None:
    text = (EXAMPLES / "storefront" / "catalog.yaml").read_text()
    result = runner.invoke(app, ["compile", *admitting("-")], input=text)
    assert result.exit_code == 0
    names = {(o["kind"], o["metadata"]["name"]) for o in _yaml_docs(result.stdout)}
    assert ("Deployment", "catalog") in names


def test_foreign_documents_are_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["compile", *admitting(str(tmp_path))])
    assert result.exit_code == 0
    assert result.stderr == f"warning: {tmp_path}/cm.yaml:1: skipped v1 ConfigMap: not a lattice.dev kind\n"


def test_validate_reports_without_compiling() -> None:
    result = runner.invoke(app, ["validate", "examples"])
    assert result.exit_code == 0
    assert result.stderr == "16 objects valid, 0 invalid\n"
    assert result.stdout == ""
    bad = runner.invoke(app, ["validate", "tests/inputs/invalid/replicas-negative.yaml"])
    assert bad.exit_code == 1
    assert bad.stderr.endswith("0 objects valid, 1 invalid\n")


def test_crds_prints_one_crd_per_kind() -> None:
    result = runner.invoke(app, ["crds"])
    assert result.exit_code == 0
    docs = _yaml_docs(result.stdout)
    assert [d["spec"]["names"]["kind"] for d in docs] == sorted(d["spec"]["names"]["kind"] for d in docs)
    assert len(docs) == 9


def test_platform_prints_the_cluster_wide_objects_with_the_fleets_platform() -> None:
    bare = _yaml_docs(runner.invoke(app, ["platform"]).stdout)
    assert [(d["kind"], d["metadata"]["name"]) for d in bare] == [
        ("CiliumClusterwideNetworkPolicy", "lattice-default-deny"), ("PeerAuthentication", "default"),
        ("AuthorizationPolicy", "allow-nothing")]
    with_examples = _yaml_docs(runner.invoke(app, ["platform", "examples/platform"]).stdout)
    assert ("ClusterSecretStore", "vault") in [(d["kind"], d["metadata"]["name"]) for d in with_examples]


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["compile"]).exit_code == 2
    assert runner.invoke(app, ["compile", "examples", "-o", "xml"]).exit_code == 2


def test_a_v1_list_is_read_item_by_item_with_lines_of_the_items(tmp_path: Path) -> None:
    """`kubectl get ls -o yaml` prints a v1 List; its items compile, and errors point into the list."""
    listing = tmp_path / "list.yaml"
    listing.write_text(
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "- apiVersion: lattice.dev/v1alpha1\n"
        "  kind: LatticeService\n"
        "  metadata: {name: ok, namespace: demo}\n"
        "  spec:\n"
        "    workload:\n"
        "      containers:\n"
        "        main: {image: 'registry.example.com/ok:1', resources: {limits: {cpu: 100m, memory: 64Mi}}}\n"
        "      service: {ports: {http: {port: 8080}}}\n"
        "- apiVersion: lattice.dev/v1alpha1\n"
        "  kind: LatticeService\n"
        "  metadata: {name: bad, namespace: demo}\n"
        "  spec:\n"
        "    replicas: -1\n"
        "    workload:\n"
        "      containers:\n"
        "        main: {image: 'registry.example.com/bad:1', resources: {limits: {cpu: 100m, memory: 64Mi}}}\n"
    )
    result = runner.invoke(app, ["compile", *admitting(str(listing))])
    assert result.exit_code == 1
    assert result.stderr == (f"error: {listing}:16: LatticeService demo/bad: spec.replicas: -1 is too small "
                             "(the minimum is 0)\n  hint: write a value of at least 0\n")
    assert ("Deployment", "ok") in {(o["kind"], o["metadata"]["name"]) for o in _yaml_docs(result.stdout)}


def test_validate_warns_both_sides_of_a_one_sided_declaration_as_compile_does() -> None:
    result = runner.invoke(app, ["validate", *admitting("tests/inputs/golden/graph-abcd.yaml")])
    assert result.exit_code == 0
    warnings = (
        "warning: tests/inputs/golden/graph-abcd.yaml:35: LatticeService billing/c: spec.workload.resources: "
        "shop/b declares billing/c as a callee, but billing/c does not declare it back, so no traffic is allowed "
        "between them\n"
        "  hint: add `b: {type: service, direction: inbound, namespace: shop}` under `spec.workload.resources` "
        "to allow it\n"
        "warning: tests/inputs/golden/graph-abcd.yaml:27: LatticeService shop/b: spec.workload.resources: "
        "shop/b calls billing/c, but billing/c has not agreed, so no traffic is allowed between them\n"
        "  hint: the owner of billing/c adds `b: {type: service, direction: inbound, namespace: shop}` under "
        "`spec.workload.resources`\n")
    assert result.stderr == warnings + "6 objects valid, 0 invalid\n"
    assert runner.invoke(app, ["compile", *admitting("tests/inputs/golden/graph-abcd.yaml")]).stderr == warnings
