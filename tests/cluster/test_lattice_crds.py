"""`lattice crds` on the real API server: accepted as structural, served with the status subresource, the
printer columns and short names they declare; the examples round-trip unpruned; invalid objects are refused
with the schema's own message (apiextensions-apiserver's validation, not ours)."""

from __future__ import annotations

import copy
import subprocess
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lattice.cli.main import app
from tests.cluster.conftest import Cluster
from tests.cluster.kube import ApiError, install_crds
from tests.conftest import EXAMPLES

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _lattice_crds() -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["crds"])
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def lattice_crds(cluster: Cluster) -> dict[str, dict[str, Any]]:
    return install_crds(cluster.kube, _lattice_crds())


def _examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["apiVersion"].startswith("lattice.dev/")]
    return docs


def test_every_crd_is_established_with_what_it_declares(cluster: Cluster, lattice_crds: dict[str, Any]) -> None:
    for crd in _lattice_crds():
        served = lattice_crds[crd["metadata"]["name"]]
        conditions = {c["type"]: c for c in served["status"]["conditions"]}
        assert "NonStructuralSchema" not in conditions, conditions["NonStructuralSchema"]["message"]
        assert served["status"]["acceptedNames"]["kind"] == crd["spec"]["names"]["kind"]
        assert served["status"]["acceptedNames"].get("shortNames") == crd["spec"]["names"].get("shortNames")
        version = crd["spec"]["versions"][0]
        group_version = f"{crd['spec']['group']}/{version['name']}"
        discovered = {r["name"]: r for r in cluster.kube.get_path(f"/apis/{group_version}")["resources"]}
        plural = crd["spec"]["names"]["plural"]
        assert discovered[plural].get("shortNames") == crd["spec"]["names"].get("shortNames")
        assert (f"{plural}/status" in discovered) == ("status" in version.get("subresources", {}))


def test_examples_round_trip_without_pruning(cluster: Cluster, lattice_crds: dict[str, Any]) -> None:
    examples = _examples()
    assert examples
    for doc in examples:
        if doc["metadata"].get("namespace"):
            cluster.ensure_namespace(doc["metadata"]["namespace"])
        cluster.kube.apply(doc)
        stored = cluster.kube.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"],
                                  doc["metadata"].get("namespace"))
        assert stored["spec"] == doc["spec"], f"{doc['kind']}/{doc['metadata']['name']}: the server changed spec"


def test_printer_columns_and_short_name_through_kubectl(cluster: Cluster, lattice_crds: dict[str, Any]) -> None:
    service = next(d for d in _examples() if d["kind"] == "LatticeService")
    cluster.ensure_namespace(service["metadata"]["namespace"])
    cluster.kube.apply(service)
    crd = next(c for c in _lattice_crds() if c["spec"]["names"]["kind"] == "LatticeService")
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    path = cluster.kube.path(service["apiVersion"], "LatticeService", service["metadata"]["namespace"])
    table = cluster.kube.request("GET", path, headers={"Accept": TABLE})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", *columns]
    if cluster.plane is None:
        return
    short = crd["spec"]["names"]["shortNames"][0]
    out = subprocess.run(
        [str(cluster.plane.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", "get", short, "-A"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    assert out.split("\n")[0].split() == ["NAMESPACE", "NAME", *(c.upper() for c in columns)]
    assert service["metadata"]["name"] in out


def _service(**spec_changes: Any) -> dict[str, Any]:
    service = copy.deepcopy(next(d for d in _examples() if d["kind"] == "LatticeService"))
    service["metadata"]["name"] = "invalid-example"
    service["spec"].update(spec_changes)
    return service


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        pytest.param({"replicas": -1}, 422, "spec.replicas: Invalid value: -1: spec.replicas in body should be "
                     "greater than or equal to 0", id="below-minimum"),
        pytest.param({"replicas": "three"}, 422, 'spec.replicas: Invalid value: "string": spec.replicas in body '
                     'must be of type integer: "string"', id="wrong-type"),
        pytest.param({"workload": None}, 422, "spec.workload: Required value", id="required"),
        # Strict field validation refuses while decoding, before the schema runs: 400, not 422.
        pytest.param({"replica": 2}, 400, 'strict decoding error: unknown field "spec.replica"',
                     id="unknown-field-strict"),
    ],
)
def test_invalid_service_is_refused_with_the_schema_message(
    cluster: Cluster, lattice_crds: dict[str, Any], change: dict[str, Any], status: int, message: str
) -> None:
    service = _service(**change)
    if change.get("workload", "") is None:
        del service["spec"]["workload"]
    cluster.ensure_namespace(service["metadata"]["namespace"])
    with pytest.raises(ApiError) as refused:
        cluster.kube.create(service)
    assert refused.value.status == status, refused.value
    assert message in refused.value.message


def test_unknown_fields_are_pruned_without_strict_validation(
    cluster: Cluster, lattice_crds: dict[str, Any]
) -> None:
    service = _service(replica=2)
    service["metadata"]["name"] = "pruned-example"
    cluster.ensure_namespace(service["metadata"]["namespace"])
    cluster.kube.delete(service["apiVersion"], "LatticeService", "pruned-example", service["metadata"]["namespace"])
    cluster.kube.request("POST", cluster.kube.path(service["apiVersion"], "LatticeService",
                                                  service["metadata"]["namespace"]),
                         json=service, params={"fieldValidation": "Ignore"})
    stored = cluster.kube.get(service["apiVersion"], "LatticeService", "pruned-example",
                              service["metadata"]["namespace"])
    assert "replica" not in stored["spec"]
    assert stored["spec"]["workload"] == service["spec"]["workload"]


def test_status_is_a_subresource(cluster: Cluster, lattice_crds: dict[str, Any]) -> None:
    """A write to the main resource ignores status; only /status changes it (what a controller relies on)."""
    service = _service()
    service["metadata"]["name"] = "status-example"
    service["status"] = {"phase": "Ready"}
    namespace = service["metadata"]["namespace"]
    cluster.ensure_namespace(namespace)
    cluster.kube.delete(service["apiVersion"], "LatticeService", "status-example", namespace)  # an earlier run's
    created = cluster.kube.create(service)
    assert "status" not in created or created["status"].get("phase") != "Ready"
    path = cluster.kube.path(service["apiVersion"], "LatticeService", namespace, "status-example") + "/status"
    patched = cluster.kube.request("PATCH", path, json={"status": {"phase": "Ready"}},
                                   headers={"Content-Type": "application/merge-patch+json"})
    assert patched["status"]["phase"] == "Ready"
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]

