"""The status the controller writes: Ready only when the Deployment serves, gate refusals as conditions with
their reasons, one-sided edges named with the stanza to add, and transition times kept while nothing changes."""

from __future__ import annotations

from typing import Any

from lattice.controller import status as st
from lattice.errors import ObjectRef, Problem
from lattice.fleet import ServiceOutcome
from lattice.gates.admission import GateReport
from lattice.graph import OneSided

REF = ObjectRef("LatticeService", "payments", "commerce")
T0, T1 = "2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z"


def deployment(*, replicas: int = 3, updated: int = 3, available: int = 3, generation: int = 2,
               observed: int = 2, available_condition: str = "True") -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": updated, "updatedReplicas": updated,
                       "availableReplicas": available,
                       "conditions": [{"type": "Available", "status": available_condition}]}}


def compiled(**gate: Any) -> ServiceOutcome:
    return ServiceOutcome("x.yaml", REF, objects=[{"kind": "Deployment"}, {"kind": "Service"}, {"kind": "Service"}],
                          gate=GateReport(**gate))


def by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_ready_means_the_deployment_is_available_with_every_replica() -> None:
    out = st.status(compiled(), [], deployment(), 7, None, T0)
    assert out["phase"] == "Ready" and out["observedGeneration"] == 7
    assert out["compiledResources"] == {"count": 3, "kinds": {"Deployment": 1, "Service": 2}}
    assert by_type(out)["Ready"]["status"] == "True"
    assert [c["type"] for c in out["conditions"]] == list(st.CONDITION_TYPES)


def test_applied_but_not_rolled_out_is_pending() -> None:
    for dep in (deployment(available=1), deployment(updated=2), deployment(observed=1), None,
                deployment(available_condition="False")):
        out = st.status(compiled(), [], dep, 1, None, T0)
        assert out["phase"] == "Pending", dep
        assert by_type(out)["Ready"]["status"] == "False" and out["message"]


def test_a_gate_refusal_fails_with_its_condition_and_reason() -> None:
    gate = GateReport()
    gate.refuse("Authorized", [Problem("spec.workload.resources.stripe", "AccessSecret denied", "permit(...)")])
    outcome = ServiceOutcome("x.yaml", REF, errors=list(gate.errors), gate=gate)
    out = st.status(outcome, [], None, 1, None, T0)
    conditions = by_type(out)
    assert out["phase"] == "Failed"
    assert conditions["Authorized"]["status"] == "False" and conditions["Authorized"]["reason"] == "Denied"
    assert "AccessSecret denied" in conditions["Authorized"]["message"]
    assert conditions["Ready"]["reason"] == "GateFailed"
    assert conditions["QuotaAvailable"]["status"] == "True"
    assert out["compiledResources"]["count"] == 0


def test_one_sided_edges_name_the_missing_stanza() -> None:
    payments = ("commerce", "payments")
    edge = OneSided(caller=payments, callee=("commerce", "ledger"), declared_by=payments)
    cond = by_type(st.status(compiled(), [edge], deployment(), 1, None, T0))["DependenciesMatched"]
    assert cond["status"] == "False" and cond["reason"] == "OneSided"
    assert "payments: {type: service, direction: inbound}" in cond["message"]


def test_transition_times_are_kept_while_a_condition_holds() -> None:
    first = st.status(compiled(), [], deployment(available=1), 1, None, T0)
    same = st.status(compiled(), [], deployment(available=2), 1, first, T1)
    assert by_type(same)["Ready"]["lastTransitionTime"] == T0  # still False: the time is kept
    ready = st.status(compiled(), [], deployment(), 1, same, T1)
    assert by_type(ready)["Ready"]["lastTransitionTime"] == T1
    assert by_type(ready)["Authorized"]["lastTransitionTime"] == T0
    assert st.status(compiled(), [], deployment(), 1, ready, "2026-12-01T11:00:00Z") == ready  # unchanged


def test_events_for_failures_and_recoveries_only() -> None:
    ok = st.status(compiled(), [], deployment(), 1, None, T0)
    assert st.transitions(None, ok) == []
    gate = GateReport()
    gate.refuse("QuotaAvailable", [Problem("spec.replicas", "quota commerce/team-budget: cpu limit 2", "lower")])
    failed = st.status(ServiceOutcome("x.yaml", REF, errors=list(gate.errors), gate=gate), [], None, 2, ok, T1)
    events = st.transitions(ok, failed)
    assert ("Warning", "OverQuota") in [(t, r) for t, r, _ in events]
    assert ("Warning", "GateFailed") in [(t, r) for t, r, _ in events]
    recovered = st.status(compiled(), [], deployment(), 3, failed, T1)
    assert {(t, r) for t, r, _ in st.transitions(failed, recovered)} == {("Normal", "WithinQuota"),
                                                                         ("Normal", "Available")}
    rolling = st.status(compiled(), [], deployment(available=1), 4, recovered, T1)
    assert st.transitions(recovered, rolling) == []  # a rollout in progress is not a failure
    rolled = st.status(compiled(), [], deployment(), 4, rolling, T1)
    assert st.transitions(rolling, rolled) == []  # nor is its end a recovery


def test_a_rollout_past_its_deadline_is_a_failure_and_its_end_a_recovery() -> None:
    stuck_deployment = deployment(available=1)
    stuck_deployment["status"]["conditions"].append(
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "payments-7c9" has timed out progressing.'})
    rolling = st.status(compiled(), [], deployment(available=1), 1, None, T0)
    stuck = st.status(compiled(), [], stuck_deployment, 1, rolling, T1)
    assert stuck["phase"] == "Pending"
    assert st.transitions(rolling, stuck) == [
        ("Warning", "ProgressDeadlineExceeded", 'ReplicaSet "payments-7c9" has timed out progressing.')]
    serving = st.status(compiled(), [], deployment(), 1, stuck, T1)
    assert st.transitions(stuck, serving) == [("Normal", "Available", "Ready: 3/3 replicas available")]


def test_a_new_generation_is_compiling_until_its_compile_is_applied() -> None:
    ready = st.status(compiled(), [], deployment(), 1, None, T0)
    compiling = st.compiling(ready, 2)
    assert (compiling["phase"], compiling["observedGeneration"]) == ("Compiling", 2)
    assert "generation 2" in compiling["message"]
    # The conditions still describe the generation they were computed for, with their transition times.
    assert compiling["conditions"] == ready["conditions"]
    assert {c["observedGeneration"] for c in compiling["conditions"]} == {1}
    assert st.transitions(ready, compiling) == []  # no Event for a progress note
    applied = st.status(compiled(), [], deployment(), 2, compiling, T1)
    assert applied["phase"] == "Ready" and by_type(applied)["Ready"]["lastTransitionTime"] == T0


def test_an_input_refused_before_the_compile_fails_with_its_problems() -> None:
    problem = Problem("spec.workload.containers.app.image", "an image needs a registry", "write host/repo:tag")
    out = st.status(ServiceOutcome("cluster", REF, errors=[problem]), [], None, 3, None, T0)
    assert out["phase"] == "Failed" and out["compiledResources"]["count"] == 0
    assert by_type(out)["Ready"]["reason"] == "CompileFailed"
    assert "spec.workload.containers.app.image: an image needs a registry" in out["message"]
    assert ("Warning", "CompileFailed") in [(t, r) for t, r, _ in st.transitions(None, out)]


MEMBER = ObjectRef("LatticeMeshMember", "orders-db", "commerce")


def test_a_mesh_member_is_ready_once_its_policies_are_applied() -> None:
    """No Deployment of Lattice's runs its pods, so there is no rollout to wait for; what it compiled is there."""
    policies = [{"kind": "CiliumNetworkPolicy"}, {"kind": "AuthorizationPolicy"}]
    out = st.member_status(ServiceOutcome("cluster", MEMBER, objects=policies), [], 4, None, T0)
    assert (out["phase"], out["observedGeneration"], out["message"]) == ("Ready", 4, "")
    assert out["compiledResources"] == {"count": 2, "kinds": {"AuthorizationPolicy": 1, "CiliumNetworkPolicy": 1}}
    assert [(c["type"], c["status"], c["reason"]) for c in out["conditions"]] == [
        ("Ready", "True", "Applied"), ("DependenciesMatched", "True", "Matched")]
    assert "cost" not in out  # no gate prices a member: its pods are someone else's


def test_a_mesh_member_names_its_one_sided_edges_and_fails_with_its_problems() -> None:
    member, api = ("commerce", "orders-db"), ("commerce", "api")
    edge = OneSided(caller=api, callee=member, declared_by=api)
    agreed_later = st.member_status(ServiceOutcome("cluster", MEMBER, objects=[{"kind": "CiliumNetworkPolicy"}]),
                                    [edge], 1, None, T0)
    assert agreed_later["phase"] == "Ready"  # a missing agreement is reported, the policies still hold
    matched = by_type(agreed_later)["DependenciesMatched"]
    assert matched["status"] == "False" and "api: {type: service, direction: inbound}" in matched["message"]
    problem = Problem("spec.selector", "selects no labels", "add the labels of the member's pods")
    failed = st.member_status(ServiceOutcome("cluster", MEMBER, errors=[problem]), [], 2, agreed_later, T1)
    assert failed["phase"] == "Failed" and "spec.selector: selects no labels" in failed["message"]
    assert by_type(failed)["Ready"]["reason"] == "CompileFailed"
    assert ("Warning", "CompileFailed") in [(t, r) for t, r, _ in st.transitions(agreed_later, failed)]


def test_a_platform_kind_is_ready_when_accepted_and_failed_with_what_refused_it() -> None:
    accepted = st.accepted_status([], 3, None, T0)
    assert accepted == {"phase": "Ready", "message": "", "observedGeneration": 3, "conditions": [
        {"type": "Ready", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 3,
         "lastTransitionTime": T0}]}
    assert st.accepted_status([], 3, accepted, T1) == accepted  # nothing changed: nothing to write
    problem = Problem("metadata.name", "the platform object must be named `default`", "rename it to `default`")
    refused = st.accepted_status([problem], 4, accepted, T1)
    assert refused["phase"] == "Failed" and "metadata.name: the platform object must be named" in refused["message"]
    assert by_type(refused)["Ready"]["reason"] == "Invalid"
    assert st.transitions(accepted, refused) == [("Warning", "Invalid", refused["message"])]
    assert st.transitions(refused, st.accepted_status([], 5, refused, T1)) == [
        ("Normal", "Accepted", "Ready: Accepted")]


def test_a_kind_validated_but_not_compiled_says_nothing_was_created() -> None:
    out = st.not_compiled_status("LatticeJob", [], 1, None, T0)
    assert out["phase"] == "Failed" and out["compiledResources"] == {"count": 0, "kinds": {}}
    assert by_type(out)["Ready"]["reason"] == "NotCompiled"
    assert "does not compile it: nothing was created" in out["message"]
    assert [t for t, _, _ in st.transitions(None, out)] == ["Warning"]  # told once, in `kubectl describe`
    problem = Problem("spec.tasks", "required field `tasks` is missing", "add `tasks: ...`")
    invalid = st.not_compiled_status("LatticeJob", [problem], 2, out, T1)
    assert by_type(invalid)["Ready"]["reason"] == "Invalid" and "spec.tasks" in invalid["message"]


def test_an_accepted_quota_states_its_usage_in_its_message() -> None:
    usage = "used by 2 workloads: cpu 3 of 4, memory 4Gi of 8Gi"
    out = st.accepted_status([], 1, None, T0, usage)
    assert out["phase"] == "Ready" and out["message"] == usage and by_type(out)["Ready"]["message"] == usage
    more = st.accepted_status([], 1, out, T1, "used by 3 workloads: cpu 4 of 4, memory 5Gi of 8Gi")
    assert by_type(more)["Ready"]["lastTransitionTime"] == T0  # only the message moved
    assert st.transitions(out, more) == []  # usage moving is no Event
