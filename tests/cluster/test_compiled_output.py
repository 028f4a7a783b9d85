"""What `lattice compile examples/` emits, on the real API server: every object passes the server's own
validation and defaulting (a server-side-apply dry run, strict field validation), and a compiled Deployment
rolls out to Available on KWOK's simulated nodes with its topology spread and disruption budget honoured."""

from __future__ import annotations

import copy
import math
from collections import Counter
from typing import Any

import pytest

from lattice.fleet import FleetResult
from tests.cluster.conftest import Cluster
from tests.cluster.foreign_crds import crds_for
from tests.cluster.kube import ApiError, install_crds, wait_for


def _namespaces(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}


@pytest.fixture(scope="module")
def foreign_crds(cluster: Cluster, examples_fleet: FleetResult) -> list[dict[str, Any]]:
    custom = [o for o in examples_fleet.objects if not cluster.kube.serves(o["apiVersion"], o["kind"])]
    crds = crds_for(custom)
    install_crds(cluster.kube, crds)
    return crds


def test_every_emitted_object_is_accepted_by_a_server_side_apply_dry_run(
    cluster: Cluster, examples_fleet: FleetResult, foreign_crds: list[dict[str, Any]]
) -> None:
    objects = examples_fleet.objects
    # Installed by the fixture, or already there (`make sandbox` installs them too).
    assert cluster.kube.serves("cilium.io/v2", "CiliumNetworkPolicy")
    assert cluster.kube.serves("external-secrets.io/v1", "ExternalSecret")
    for namespace in sorted(_namespaces(objects)):
        cluster.ensure_namespace(namespace)
    refused = []
    for obj in objects:
        try:
            answer = cluster.kube.apply(obj, dry_run=True)
        except ApiError as error:
            meta = obj["metadata"]
            refused.append(f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}: {error.message}")
            continue
        assert "uid" in answer["metadata"], obj["metadata"]  # the server built the object it would store
    assert not refused, f"{len(refused)} of {len(objects)} objects refused:\n" + "\n".join(refused)


def test_dry_run_shows_the_servers_defaults(cluster: Cluster, examples_fleet: FleetResult) -> None:
    """The answer is the object as the server would store it, with the API's defaults filled in."""
    deployment = copy.deepcopy(next(o for o in examples_fleet.objects if o["kind"] == "Deployment"))
    deployment["metadata"]["name"] = "dry-run-only"
    namespace = deployment["metadata"]["namespace"]
    cluster.ensure_namespace(namespace)
    answer = cluster.kube.apply(deployment, dry_run=True)
    assert "progressDeadlineSeconds" not in deployment["spec"]
    assert answer["spec"]["progressDeadlineSeconds"] == 600
    assert answer["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    with pytest.raises(ApiError) as absent:
        cluster.kube.get("apps/v1", "Deployment", "dry-run-only", namespace)
    assert absent.value.status == 404  # a dry run stores nothing


def _belongs_to(obj: dict[str, Any], workload: str) -> bool:
    labels: dict[str, str] = obj["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/name") == workload


def _allowed_disruptions(pdb_spec: dict[str, Any], expected_pods: int, healthy: int) -> int:
    """What the disruption controller computes (pkg/controller/disruption): healthy pods above the floor."""
    if "minAvailable" in pdb_spec:
        floor = _scaled(pdb_spec["minAvailable"], expected_pods)
    else:
        floor = expected_pods - _scaled(pdb_spec["maxUnavailable"], expected_pods)
    return max(0, healthy - floor)


def _scaled(value: int | str, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def test_a_compiled_deployment_becomes_available_on_kwok_nodes(
    cluster: Cluster, examples_fleet: FleetResult
) -> None:
    cluster.require_simulated_nodes()
    kube = cluster.kube
    deployment = next(
        o for o in examples_fleet.objects
        if o["kind"] == "Deployment" and o["spec"].get("replicas", 1) > 1
        and o["spec"]["template"]["spec"].get("topologySpreadConstraints")
    )
    name, namespace = deployment["metadata"]["name"], deployment["metadata"]["namespace"]
    # What the Deployment's pods need from the API: their ServiceAccount (admission refuses pods without it)
    # and the budget. ConfigMaps and Secrets are only read by a kubelet, which KWOK replaces.
    companions = [
        o for o in examples_fleet.objects
        if o["metadata"].get("namespace") == namespace and _belongs_to(o, name)
        and o["kind"] in ("ServiceAccount", "ConfigMap", "PodDisruptionBudget", "Service")
    ]
    pdb = next(o for o in companions if o["kind"] == "PodDisruptionBudget")
    cluster.ensure_namespace(namespace)
    for obj in [*companions, deployment]:
        kube.apply(obj)

    replicas = deployment["spec"]["replicas"]

    def available() -> dict[str, Any] | None:
        current = kube.get("apps/v1", "Deployment", name, namespace)
        conditions = {c["type"]: c for c in current.get("status", {}).get("conditions", [])}
        done = (
            conditions.get("Available", {}).get("status") == "True"
            and current["status"].get("availableReplicas") == replicas
            and current["status"].get("updatedReplicas") == replicas
            and current["status"].get("observedGeneration") == current["metadata"]["generation"]
        )
        return current if done else None

    wait_for(f"Deployment {namespace}/{name} Available with {replicas} replicas", available, timeout=90)

    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    pods = [p for p in kube.list("v1", "Pod", namespace, labelSelector=selector)
            if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == replicas
    assert all(p["status"]["phase"] == "Running" for p in pods)
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"] for n in kube.list("v1", "Node")}
    for constraint in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        key = constraint["topologyKey"]
        domains = {labels[key] for labels in nodes.values() if key in labels}
        counts = Counter(nodes[p["spec"]["nodeName"]][key] for p in pods)
        skew = max(counts.values()) - min(counts.get(d, 0) for d in domains)
        assert skew <= constraint["maxSkew"], f"{key}: {dict(counts)} over {sorted(domains)}"

    def budget() -> dict[str, Any] | None:
        current = kube.get("policy/v1", "PodDisruptionBudget", pdb["metadata"]["name"], namespace)
        status = current.get("status", {})
        settled = (
            status.get("observedGeneration") == current["metadata"]["generation"]
            and status.get("currentHealthy") == replicas
            and status.get("expectedPods") == replicas
        )
        return status if settled else None

    status = wait_for(f"PodDisruptionBudget {pdb['metadata']['name']} observed", budget, timeout=60)
    expected = _allowed_disruptions(pdb["spec"], replicas, replicas)
    assert expected >= 1, pdb["spec"]
    assert status["disruptionsAllowed"] == expected
    assert status["desiredHealthy"] == replicas - expected


def test_garbage_collection_removes_the_pods_with_their_deployment(
    cluster: Cluster, examples_fleet: FleetResult
) -> None:
    """Owner references: deleting the Deployment deletes its ReplicaSets and Pods (the garbage collector)."""
    cluster.require_simulated_nodes()
    kube = cluster.kube
    deployment = next(o for o in examples_fleet.objects if o["kind"] == "Deployment")
    name, namespace = deployment["metadata"]["name"], deployment["metadata"]["namespace"]
    cluster.ensure_namespace(namespace)
    for obj in examples_fleet.objects:
        if obj["metadata"].get("namespace") == namespace and obj["kind"] == "ServiceAccount" and _belongs_to(obj, name):
            kube.apply(obj)
    kube.apply(deployment)
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    wait_for("the Deployment's pods", lambda: len(kube.list("v1", "Pod", namespace, labelSelector=selector)) > 0)
    kube.request("DELETE", kube.path("apps/v1", "Deployment", namespace, name),
                 json={"propagationPolicy": "Background"})
    wait_for("the ReplicaSets and Pods to be collected", lambda: not kube.list(
        "apps/v1", "ReplicaSet", namespace, labelSelector=selector) and not kube.list(
        "v1", "Pod", namespace, labelSelector=selector), timeout=60)
