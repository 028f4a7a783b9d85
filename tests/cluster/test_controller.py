"""`lattice controller` on the real control plane: the real process (`lattice controller`), watching and
writing through the real API server, with pods simulated by KWOK. Nothing of the controller is patched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lattice.controller import install
from lattice.fleet import FleetResult
from tests.cluster.conftest import Cluster
from tests.cluster.controller_process import RunningController, install_lattice_for_tests, service_account_kubeconfig
from tests.cluster.kube import ApiError, wait_for

NAMESPACE = "shop"
IMAGE = "registry.example.com/shop/app@sha256:" + "b" * 64
LATTICE = "lattice.dev/v1alpha1"


@pytest.fixture(scope="module")
def controller(cluster: Cluster, examples_fleet: FleetResult, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[RunningController]:
    install_lattice_for_tests(cluster, examples_fleet, NAMESPACE)
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "ImageProvider", "metadata": {"name": "example"},
                        "spec": {"registry": "registry.example.com", "trust": {"enforce": False}}})
    kubeconfig = service_account_kubeconfig(cluster.kube, cluster.kubeconfig, tmp_path_factory.mktemp("controller"))
    running = RunningController(kubeconfig, "--priority", "10")  # leader election, through the installed peering
    wait_for("the controller's /healthz", running.healthy, timeout=30)
    yield running
    running.stop()


def service(name: str, *, replicas: int = 2, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": LATTICE, "kind": "LatticeService", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "workload": {
                "containers": {"app": {"image": IMAGE, "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
                "service": {"ports": {"http": {"port": 8080}}},
                "resources": resources or {}}}}


def _status(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.kube.get(LATTICE, "LatticeService", name, NAMESPACE)
    return obj.get("status") or {}


def _phase(cluster: Cluster, name: str, phase: str) -> dict[str, Any] | None:
    status = _status(cluster, name)
    return status if status.get("phase") == phase else None


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_a_created_service_becomes_ready_with_exactly_its_compiled_objects(
        cluster: Cluster, controller: RunningController) -> None:
    created = cluster.kube.apply(service("web"))
    try:
        status = wait_for("web to be Ready", lambda: _phase(cluster, "web", "Ready"), timeout=60)
    except TimeoutError:
        print(controller.tail())
        raise
    assert status["observedGeneration"] == created["metadata"]["generation"]
    kinds = status["compiledResources"]["kinds"]
    assert kinds["Deployment"] == 1 and kinds["CiliumNetworkPolicy"] == 1
    deployment = cluster.kube.get("apps/v1", "Deployment", "web", NAMESPACE)
    assert deployment["status"]["availableReplicas"] == 2
    [owner] = deployment["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "LatticeService", "web", created["metadata"]["uid"], True)
    managers = {m["manager"] for m in deployment["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert managers == {"lattice"}
    assert _condition(status, "Ready")["status"] == "True"
    assert "lattice_reconciles_total" in controller.metrics()


def test_dropping_to_one_replica_deletes_the_disruption_budget(cluster: Cluster, controller: RunningController) -> None:
    cluster.kube.apply(service("api", replicas=2))
    wait_for("api to be Ready", lambda: _phase(cluster, "api", "Ready"), timeout=60)
    cluster.kube.get("policy/v1", "PodDisruptionBudget", "api", NAMESPACE)
    cluster.kube.apply(service("api", replicas=1))

    def pdb_gone() -> bool | None:
        try:
            cluster.kube.get("policy/v1", "PodDisruptionBudget", "api", NAMESPACE)
        except ApiError as error:
            return error.status == 404 or None
        return None

    wait_for("the PDB of api to be deleted", pdb_gone, timeout=30)


def test_a_hand_edit_of_an_owned_deployment_is_reverted(cluster: Cluster, controller: RunningController) -> None:
    cluster.kube.apply(service("edited", replicas=2))
    wait_for("edited to be Ready", lambda: _phase(cluster, "edited", "Ready"), timeout=60)
    cluster.kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "edited", "namespace": NAMESPACE}, "spec": {"replicas": 5}},
                       manager="someone")

    def reverted() -> bool | None:
        return cluster.kube.get("apps/v1", "Deployment", "edited", NAMESPACE)["spec"]["replicas"] == 2 or None

    wait_for("the hand edit to be reverted", reverted, timeout=30)


def _exists(cluster: Cluster, api_version: str, kind: str, name: str) -> bool:
    try:
        cluster.kube.get(api_version, kind, name, NAMESPACE)
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def test_removing_the_permit_fails_the_service_and_revokes_its_secret(
        cluster: Cluster, controller: RunningController) -> None:
    """The CedarPolicy that lets `billing` read its secret goes: the service turns Failed with the denial in
    its Authorized condition and an Event, and its ExternalSecret is deleted (access revoked, not just no longer
    granted)."""
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "SecretProvider", "metadata": {"name": "vault"},
                        "spec": {"provider": {"vault": {"server": "https://vault.internal:8200", "path": "secret",
                                                        "version": "v2", "auth": {"kubernetes": {
                                                            "mountPath": "kubernetes", "role": "eso"}}}}}})
    permit = {"apiVersion": LATTICE, "kind": "CedarPolicy", "metadata": {"name": "billing-secrets"},
              "spec": {"policies": '@id("billing-reads-its-db")\n'
                                   'permit(principal == Lattice::Service::"shop/billing", '
                                   'action == Lattice::Action::"AccessSecret", resource);\n'}}
    cluster.kube.apply(permit)
    cluster.kube.apply(service("billing", resources={
        "db": {"type": "secret", "params": {"provider": "vault", "keys": ["dsn"]}}}))
    wait_for("billing to be Ready", lambda: _phase(cluster, "billing", "Ready"), timeout=60)
    assert _exists(cluster, "external-secrets.io/v1", "ExternalSecret", "billing-db")

    cluster.kube.delete(LATTICE, "CedarPolicy", "billing-secrets")
    status = wait_for("billing to fail", lambda: _phase(cluster, "billing", "Failed"), timeout=30)
    authorized = _condition(status, "Authorized")
    assert (authorized["status"], authorized["reason"]) == ("False", "Denied")
    assert 'AccessSecret on Lattice::SecretPath::"vault:shop/db"' in authorized["message"]
    wait_for("the ExternalSecret to be deleted",
             lambda: not _exists(cluster, "external-secrets.io/v1", "ExternalSecret", "billing-db") or None,
             timeout=30)
    events = cluster.kube.list("v1", "Event", NAMESPACE, fieldSelector="involvedObject.name=billing")
    assert any(e["reason"] == "Denied" and e["type"] == "Warning" for e in events)
    assert _exists(cluster, "apps/v1", "Deployment", "billing")  # nothing new applied; what runs keeps running

    # Granted again, then denied again: the secret comes back, and the repeated denial counts on the same
    # Event (as client-go's correlator does) instead of writing a second one.
    cluster.kube.apply(permit)
    wait_for("billing to recover", lambda: _phase(cluster, "billing", "Ready"), timeout=30)
    wait_for("the ExternalSecret to be back",
             lambda: _exists(cluster, "external-secrets.io/v1", "ExternalSecret", "billing-db") or None, timeout=30)
    cluster.kube.delete(LATTICE, "CedarPolicy", "billing-secrets")
    wait_for("billing to fail again", lambda: _phase(cluster, "billing", "Failed"), timeout=30)

    def denials() -> list[dict[str, Any]] | None:
        found = [e for e in cluster.kube.list("v1", "Event", NAMESPACE, fieldSelector="involvedObject.name=billing")
                 if e["reason"] == "Denied"]
        return found if found and found[0].get("count") == 2 else None

    [denied] = wait_for("the Denied Event to count 2", denials, timeout=30)
    assert denied["lastTimestamp"] >= denied["firstTimestamp"]


def test_a_spec_the_compiler_refuses_fails_with_the_field_and_the_fix(
        cluster: Cluster, controller: RunningController) -> None:
    """The CRD's schema cannot say everything (here: replicas above autoscaling.max); what only Lattice's
    parser refuses still reaches the user, in the status and an Event, with the field path and the fix."""
    refused = service("too-many")
    refused["spec"]["replicas"] = 5
    refused["spec"]["autoscaling"] = {"max": 3}
    cluster.kube.apply(refused)
    status = wait_for("too-many to fail", lambda: _phase(cluster, "too-many", "Failed"), timeout=30)
    assert "replicas (5) is larger than autoscaling.max (3)" in status["message"]
    assert "raise autoscaling.max" in status["message"]
    assert status["compiledResources"]["count"] == 0
    assert not _exists(cluster, "apps/v1", "Deployment", "too-many")
    events = cluster.kube.list("v1", "Event", NAMESPACE, fieldSelector="involvedObject.name=too-many")
    assert any(e["type"] == "Warning" and e["reason"] == "CompileFailed" for e in events)
    refused["spec"]["replicas"] = 2  # fixed: the next generation compiles
    fixed = cluster.kube.apply(refused)
    status = wait_for("too-many to be Ready once fixed", lambda: _phase(cluster, "too-many", "Ready"), timeout=60)
    assert status["observedGeneration"] == fixed["metadata"]["generation"]


def test_a_deleted_service_leaves_nothing_behind(cluster: Cluster, controller: RunningController) -> None:
    cluster.kube.apply(service("short-lived"))
    wait_for("short-lived to be Ready", lambda: _phase(cluster, "short-lived", "Ready"), timeout=60)
    cluster.kube.delete(LATTICE, "LatticeService", "short-lived", NAMESPACE)
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("cilium.io/v2", "CiliumNetworkPolicy")):
        wait_for(f"the {kind} to be collected",
                 lambda api_version=api_version, kind=kind: not _exists(cluster, api_version, kind, "short-lived")
                 or None, timeout=60)


def test_the_callee_agreeing_updates_both_sides_and_matches_the_dependency(
        cluster: Cluster, controller: RunningController) -> None:
    cluster.kube.apply(service("caller", resources={"callee": {"type": "service"}}))
    cluster.kube.apply(service("callee"))
    status = wait_for("caller's one-sided edge", lambda: ((s := _status(cluster, "caller")).get("conditions") and
                      _condition(s, "DependenciesMatched")["status"] == "False" and s) or None, timeout=60)
    assert "callee: {type: service" not in _condition(status, "DependenciesMatched")["message"]
    assert "caller: {type: service, direction: inbound}" in _condition(status, "DependenciesMatched")["message"]
    cluster.kube.apply(service("callee", resources={"caller": {"type": "service", "direction": "inbound"}}))

    def matched() -> bool | None:
        conditions = _status(cluster, "caller").get("conditions") or []
        return any(c["type"] == "DependenciesMatched" and c["status"] == "True" for c in conditions) or None

    wait_for("caller's DependenciesMatched to turn True", matched, timeout=30)

    def admitted() -> bool | None:
        cnp = cluster.kube.get("cilium.io/v2", "CiliumNetworkPolicy", "callee", NAMESPACE)
        names = [sel.get("matchLabels", {}).get("app.kubernetes.io/name") for rule in cnp["spec"].get("ingress", [])
                 for sel in rule.get("fromEndpoints", [])]
        return "caller" in names or None

    wait_for("callee's policy to admit caller", admitted, timeout=30)


def test_a_platform_change_re_derives_every_service(cluster: Cluster, controller: RunningController) -> None:
    cluster.kube.apply(service("watched"))
    cluster.kube.apply(service("watched-too"))
    wait_for("watched to be Ready", lambda: _phase(cluster, "watched", "Ready"), timeout=60)
    assert _exists(cluster, "operator.victoriametrics.com/v1beta1", "VMServiceScrape", "watched")
    platform = {"apiVersion": LATTICE, "kind": "LatticePlatform", "metadata": {"name": "default"},
                "spec": {"metrics": {"stack": "prometheus-operator"}}}
    cluster.kube.apply(platform)
    try:
        wait_for("a ServiceMonitor for watched",
                 lambda: _exists(cluster, "monitoring.coreos.com/v1", "ServiceMonitor", "watched") or None,
                 timeout=60)
        wait_for("the VMServiceScrape to be pruned",
                 lambda: not _exists(cluster, "operator.victoriametrics.com/v1beta1", "VMServiceScrape", "watched")
                 or None, timeout=30)
        wait_for("a ServiceMonitor for watched-too",  # every service, not only one
                 lambda: _exists(cluster, "monitoring.coreos.com/v1", "ServiceMonitor", "watched-too") or None,
                 timeout=30)
    finally:
        cluster.kube.delete(LATTICE, "LatticePlatform", "default")


def test_a_second_replica_stands_by_while_the_first_writes(
        cluster: Cluster, controller: RunningController, tmp_path: Path) -> None:
    standby = RunningController(service_account_kubeconfig(cluster.kube, cluster.kubeconfig, tmp_path),
                                "--priority", "1")
    try:
        wait_for("the second replica's /healthz", standby.healthy, timeout=30)
        # kopf starts paused until its peering says it leads (engines/peering.py): a lower priority never does,
        # so it logs nothing about it; what shows is that it never reconciles.
        cluster.kube.apply(service("during-standby"))
        wait_for("during-standby to be Ready", lambda: _phase(cluster, "during-standby", "Ready"), timeout=60)
        assert 'lattice_reconciles_total{result="ok"}' in controller.metrics()
        assert 'lattice_reconciles_total{result="ok"}' not in standby.metrics()  # it never wrote
    finally:
        code, seconds = standby.stop()
    assert code == 0 and seconds < 10, (code, seconds, standby.tail())  # a graceful shutdown on SIGTERM


def test_the_granted_rules_are_needed_a_missing_one_stops_it_and_restoring_it_recovers(
        cluster: Cluster, controller: RunningController) -> None:
    """The tests run with exactly `lattice install`'s ClusterRole; this one takes the apps rules away (so the
    controller may not apply Deployments): the service cannot become Ready and the controller reports 403s;
    with the rules back it converges, with no restart."""
    role = install.cluster_role()
    without_apps = {**role, "rules": [r for r in role["rules"] if r["apiGroups"] != ["apps"]]}
    assert len(without_apps["rules"]) == len(role["rules"]) - 1
    cluster.kube.apply(without_apps)
    try:
        cluster.kube.apply(service("needs-apps"))
        wait_for("a 403 from the API server", lambda: 'reason="api-403"' in controller.metrics() or None, timeout=30)
        assert (_status(cluster, "needs-apps").get("phase")) != "Ready"
        assert not _exists(cluster, "apps/v1", "Deployment", "needs-apps")
    finally:
        cluster.kube.apply(role)
    wait_for("needs-apps to be Ready once the rule is back", lambda: _phase(cluster, "needs-apps", "Ready"),
             timeout=60)


def _source_status(cluster: Cluster, kind: str, name: str, namespace: str | None, phase: str) -> dict[str, Any] | None:
    status = cluster.kube.get(LATTICE, kind, name, namespace).get("status") or {}
    return status if status.get("phase") == phase else None


def test_a_mesh_member_reports_its_policies_and_its_unagreed_edges(
        cluster: Cluster, controller: RunningController) -> None:
    """A LatticeMeshMember is Ready once its policies are applied; an edge its caller has not agreed to shows in
    DependenciesMatched, and agreeing turns it True."""
    member = {"apiVersion": LATTICE, "kind": "LatticeMeshMember", "metadata": {"name": "db", "namespace": NAMESPACE},
              "spec": {"selector": {"app.kubernetes.io/name": "postgresql"}, "ports": {"pg": {"port": 5432}},
                       "resources": {"db-client": {"type": "service", "direction": "inbound"}}}}
    created = cluster.kube.apply(member)
    status = wait_for("db to be Ready", lambda: _source_status(cluster, "LatticeMeshMember", "db", NAMESPACE,
                                                              "Ready"), timeout=60)
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert status["compiledResources"]["kinds"]["CiliumNetworkPolicy"] == 1
    assert _condition(status, "Ready")["reason"] == "Applied"
    assert _condition(status, "DependenciesMatched")["status"] == "False"
    assert "shop/db-client adds `db: {type: service" in _condition(status, "DependenciesMatched")["message"]
    cluster.kube.get("cilium.io/v2", "CiliumNetworkPolicy", "db", NAMESPACE)  # what the status counts exists
    cluster.kube.apply(service("db-client", resources={"db": {"type": "service"}}))

    def matched() -> dict[str, Any] | None:
        found = _source_status(cluster, "LatticeMeshMember", "db", NAMESPACE, "Ready")
        return found if found and _condition(found, "DependenciesMatched")["status"] == "True" else None

    wait_for("db's DependenciesMatched to turn True", matched, timeout=30)
    member["spec"]["selector"] = {"app.kubernetes.io/name": "postgresql", "tier": "primary"}
    changed = cluster.kube.apply(member)
    def describes_the_new_generation() -> dict[str, Any] | None:
        found = _source_status(cluster, "LatticeMeshMember", "db", NAMESPACE, "Ready")
        return found if found and found["observedGeneration"] == changed["metadata"]["generation"] else None

    wait_for("db's status to describe its new generation", describes_the_new_generation, timeout=30)


def test_platform_objects_report_whether_they_were_accepted(cluster: Cluster, controller: RunningController) -> None:
    """`kubectl get` answers for the platform's kinds too: the ImageProvider the tests use is Ready, a
    LatticePlatform not named `default` is Failed with the fix, and a LatticeJob says that nothing was created."""
    wait_for("the ImageProvider to be accepted", lambda: _source_status(
        cluster, "ImageProvider", "example", None, "Ready"), timeout=30)
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "LatticePlatform", "metadata": {"name": "staging"},
                        "spec": {}})
    try:
        status = wait_for("the misnamed LatticePlatform to fail", lambda: _source_status(
            cluster, "LatticePlatform", "staging", None, "Failed"), timeout=30)
        assert "metadata.name: the platform object must be named `default`" in status["message"]
        assert "rename it to `default`" in status["message"]
        events = cluster.kube.list("v1", "Event", "default", fieldSelector="involvedObject.name=staging")
        assert any(e["type"] == "Warning" and e["reason"] == "Invalid" for e in events)
    finally:
        cluster.kube.delete(LATTICE, "LatticePlatform", "staging")
    job = {"apiVersion": LATTICE, "kind": "LatticeJob", "metadata": {"name": "nightly", "namespace": NAMESPACE},
           "spec": {"tasks": {"report": {"workload": {"containers": {"main": {
               "image": IMAGE, "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}}}}}}}
    cluster.kube.apply(job)
    status = wait_for("the LatticeJob's status", lambda: _source_status(
        cluster, "LatticeJob", "nightly", NAMESPACE, "Failed"), timeout=30)
    assert _condition(status, "Ready")["reason"] == "NotCompiled"
    assert "nothing was created" in status["message"]


def test_a_cedar_policy_that_does_not_validate_fails_with_its_line(
        cluster: Cluster, controller: RunningController) -> None:
    """While a CedarPolicy does not validate, the gate denies every request (a broken `forbid` must not allow);
    the policy itself says why, and fixing it lets the services through again."""
    broken = {"apiVersion": LATTICE, "kind": "CedarPolicy", "metadata": {"name": "typo"},
              "spec": {"policies": "permit(principal, action, resource) when { principal.no_such_attribute };"}}
    cluster.kube.apply(broken)
    try:
        status = wait_for("the broken CedarPolicy to fail", lambda: _source_status(
            cluster, "CedarPolicy", "typo", None, "Failed"), timeout=30)
        assert "spec.policies: line 1: `Lattice::Service` has no attribute `no_such_attribute`" in status["message"]
        assert _condition(status, "Ready")["reason"] == "Invalid"
        broken["spec"]["policies"] = "permit(principal, action, resource) when { false };"
        fixed = cluster.kube.apply(broken)
        status = wait_for("the fixed CedarPolicy to be accepted", lambda: _source_status(
            cluster, "CedarPolicy", "typo", None, "Ready"), timeout=30)
        assert status["observedGeneration"] == fixed["metadata"]["generation"]
    finally:
        cluster.kube.delete(LATTICE, "CedarPolicy", "typo")
    cluster.kube.apply(service("after-typo"))
    wait_for("a service to be admitted once the policy is gone", lambda: _phase(cluster, "after-typo", "Ready"),
             timeout=60)


def test_a_quota_reports_what_its_admitted_services_use(cluster: Cluster, controller: RunningController) -> None:
    """The usage in a LatticeQuota's status is the gate's own count: a refused service is not in it, and the
    refusal it gets states the same figure."""
    namespace = "budgeted"
    cluster.ensure_namespace(namespace)
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "LatticeQuota", "metadata": {"name": "team",
                        "namespace": namespace}, "spec": {"limits": {"cpu": "500m"}}})

    def in_budgeted(name: str, replicas: int) -> dict[str, Any]:
        svc = service(name, replicas=replicas)
        svc["metadata"]["namespace"] = namespace
        return svc

    cluster.kube.apply(in_budgeted("base", 2))  # admitted first: the gate admits in name order (`compile_order`)
    cluster.kube.apply(in_budgeted("large", 10))
    refused = wait_for("large to be refused", lambda: _source_status(
        cluster, "LatticeService", "large", namespace, "Failed"), timeout=60)
    assert "cpu limit 0.5, used 0.2 by 1 workload, large asks 1 (10 × 0.1)" in refused["message"], refused["message"]
    def quota_message(starts: str) -> dict[str, Any] | None:
        found = _source_status(cluster, "LatticeQuota", "team", namespace, "Ready")
        return found if found and found["message"].startswith(starts) else None

    status = wait_for("the quota's usage", lambda: quota_message("used by 1 workload"), timeout=30)
    assert status["message"] == "used by 1 workload: cpu 0.2 of 0.5"
    cluster.kube.delete(LATTICE, "LatticeService", "large", namespace)
    cluster.kube.delete(LATTICE, "LatticeService", "base", namespace)
    wait_for("the quota's usage to drop to nothing", lambda: quota_message("used by 0 workloads: cpu 0 of 0.5"),
             timeout=30)
