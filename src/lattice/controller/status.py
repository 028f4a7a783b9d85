"""The status a LatticeService reports, computed from what the controller knows: the compile outcome, the
gates' decisions, the one-sided edges and its Deployment's own status. Pure, so every phase and condition can
be tested without a cluster.

`Ready` means serving: the Deployment is Available with the desired replicas all updated and available, read
from the Deployment's status for its current generation (the rollout conditions of
https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status), not merely "applied".
Conditions follow metav1.Condition; a condition's `lastTransitionTime` changes only when its status does, so
that status is rewritten only when something changed.

The phases: `Compiling` while the controller works on a generation it has not applied yet (written when a
service that already has a status changes, so a stale `Ready` never describes a spec that is not running);
`Pending` once the compile is applied and the workload is not yet serving (its rollout is in progress), as a
Pod is Pending until its containers run; `Ready`; `Failed` when the input, a gate or the compile refused it
(what runs keeps running; nothing new is applied).

The other kinds report a status too, so that `kubectl get` answers for every object a team or the platform
writes: a LatticeMeshMember is `Ready` once its policies are applied (there is no rollout of ours to wait for);
a platform-side kind (CedarPolicy, LatticePlatform, SecretProvider, ImageProvider, LatticeQuota) is `Ready`
when accepted (a LatticeQuota's message then states its usage) and `Failed` with the problems that refused it;
a LatticeJob or LatticeModel, validated but not compiled by this version, says so instead of showing nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lattice.errors import Problem
from lattice.fleet import ServiceOutcome
from lattice.gates.admission import GATE_CONDITIONS
from lattice.graph import OneSided, show

Obj = dict[str, Any]

READY, AUTHORIZED, IMAGES_VERIFIED, QUOTA_AVAILABLE, DEPENDENCIES_MATCHED = (
    "Ready", "Authorized", "ImagesVerified", "QuotaAvailable", "DependenciesMatched")
CONDITION_TYPES = (READY, AUTHORIZED, IMAGES_VERIFIED, QUOTA_AVAILABLE, DEPENDENCIES_MATCHED)
FAILURE_REASONS = frozenset({"GateFailed", "CompileFailed", "ProgressDeadlineExceeded", "Invalid", "NotCompiled"})
"""The reasons a False `Ready` is a failure (anything else is a rollout in progress)."""
_MESSAGE_LIMIT = 32768  # metav1.Condition.message maxLength


@dataclass(frozen=True, slots=True)
class Rollout:
    """Whether a Deployment serves: from its `status` against its `spec` and `metadata.generation`."""

    ready: bool
    reason: str
    message: str


def rollout(deployment: Mapping[str, Any] | None) -> Rollout:
    if deployment is None:
        return Rollout(False, "DeploymentMissing", "the Deployment does not exist yet")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Rollout(False, "RollingOut", "the Deployment controller has not yet seen the latest change")
    desired = spec.get("replicas", 1)
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Rollout(False, "ProgressDeadlineExceeded", progressing.get("message") or "the rollout is stuck")
    if (conditions.get("Available") or {}).get("status") == "True" and updated >= desired and available >= desired \
            and status.get("replicas", 0) == updated:
        return Rollout(True, "Available", f"{available}/{desired} replicas available")
    return Rollout(False, "RollingOut", f"{updated}/{desired} replicas updated, {available}/{desired} available")


def _condition(type_: str, ok: bool, reason: str, message: str, generation: int) -> Obj:
    return {"type": type_, "status": "True" if ok else "False", "reason": reason,
            "message": message[:_MESSAGE_LIMIT], "observedGeneration": generation}


def _problems_text(problems: Sequence[Problem]) -> str:
    return "; ".join(p.render() for p in problems)


def conditions(outcome: ServiceOutcome, one_sided: Sequence[OneSided], deployment: Mapping[str, Any] | None,
               generation: int) -> list[Obj]:
    """The five conditions, in a fixed order, without transition times (see `merge_conditions`)."""
    gate = outcome.gate
    by_gate = gate.by_condition if gate is not None else {}
    out = []
    gates = ((AUTHORIZED, "Permitted"), (IMAGES_VERIFIED, "Verified"), (QUOTA_AVAILABLE, "WithinQuota"))
    for type_, ok_reason in gates:
        problems = by_gate.get(type_, [])
        if problems:
            out.append(_condition(type_, False, GATE_CONDITIONS[type_], _problems_text(problems), generation))
        else:
            detail = {AUTHORIZED: gate.authorized, IMAGES_VERIFIED: gate.images, QUOTA_AVAILABLE: gate.quota}[type_] \
                if gate is not None else "-"
            out.append(_condition(type_, True, ok_reason, detail if detail != "-" else "", generation))
    out.append(_dependencies(one_sided, generation))
    if not outcome.ok:
        failed_gate = any(by_gate.get(t) for t in (AUTHORIZED, IMAGES_VERIFIED, QUOTA_AVAILABLE))
        out.insert(0, _condition(READY, False, "GateFailed" if failed_gate else "CompileFailed",
                                 _problems_text(outcome.errors), generation))
    else:
        state = rollout(deployment)
        out.insert(0, _condition(READY, state.ready, state.reason, state.message, generation))
    return out


def _dependencies(one_sided: Sequence[OneSided], generation: int) -> Obj:
    if not one_sided:
        return _condition(DEPENDENCIES_MATCHED, True, "Matched", "every declared edge is agreed", generation)
    lines = [f"{show(edge.caller)} -> {show(edge.callee)}: {show(edge.missing)} adds `{edge.stanza()}`"
             for edge in one_sided]
    return _condition(DEPENDENCIES_MATCHED, False, "OneSided", "; ".join(lines), generation)


def merge_conditions(new: Sequence[Obj], old: Sequence[Mapping[str, Any]], now: str) -> list[Obj]:
    """`new` with each condition's `lastTransitionTime` kept from `old` while its status is unchanged."""
    previous = {c.get("type"): c for c in old}
    out = []
    for cond in new:
        before = previous.get(cond["type"])
        kept = before.get("lastTransitionTime") if before and before.get("status") == cond["status"] else None
        out.append({**cond, "lastTransitionTime": kept or now})
    return out


def phase(outcome: ServiceOutcome, deployment: Mapping[str, Any] | None) -> str:
    if not outcome.ok:
        return "Failed"
    return "Ready" if rollout(deployment).ready else "Pending"


def status(outcome: ServiceOutcome, one_sided: Sequence[OneSided], deployment: Mapping[str, Any] | None,
           generation: int, previous: Mapping[str, Any] | None, now: str) -> Obj:
    """The whole `status` of a LatticeService; equal to `previous` when nothing changed."""
    out = _whole(phase(outcome, deployment), conditions(outcome, one_sided, deployment, generation), generation,
                 previous, now, outcome.objects)
    gate = outcome.gate
    if gate is not None and gate.demand is not None:
        out["cost"] = {"hourly": f"{gate.demand.cost_per_hour:.4f}"}
    return out


def _whole(phase_: str, new_conditions: list[Obj], generation: int, previous: Mapping[str, Any] | None, now: str,
           objects: Sequence[Obj] | None) -> Obj:
    out: Obj = {"phase": phase_, "message": new_conditions[0]["message"] if phase_ != "Ready" else "",
                "observedGeneration": generation}
    if objects is not None:
        kinds = Counter(obj["kind"] for obj in objects)
        out["compiledResources"] = {"count": len(objects), "kinds": dict(sorted(kinds.items()))}
    out["conditions"] = merge_conditions(new_conditions, (previous or {}).get("conditions") or [], now)
    return out


def member_status(outcome: ServiceOutcome, one_sided: Sequence[OneSided], generation: int,
                  previous: Mapping[str, Any] | None, now: str) -> Obj:
    """A LatticeMeshMember's status: `Ready` once its policies are applied (its pods are someone else's
    rollout), `Failed` when the input or the compile refused it; and whether its declared edges are agreed."""
    if outcome.ok:
        ready = _condition(READY, True, "Applied", "its network and mesh policies are applied", generation)
    else:
        ready = _condition(READY, False, "CompileFailed", _problems_text(outcome.errors), generation)
    return _whole("Ready" if outcome.ok else "Failed", [ready, _dependencies(one_sided, generation)], generation,
                  previous, now, outcome.objects)


def accepted_status(problems: Sequence[Problem], generation: int, previous: Mapping[str, Any] | None,
                    now: str, detail: str = "") -> Obj:
    """A platform-side kind's status: `Ready` when accepted, else `Failed` with what refused it (a CedarPolicy
    that does not validate, a second LatticePlatform, a spec that does not parse). `detail` is what an
    accepted one has to say (a LatticeQuota's usage), in its message and its Ready condition's."""
    if problems:
        ready = _condition(READY, False, "Invalid", _problems_text(problems), generation)
    else:
        ready = _condition(READY, True, "Accepted", detail, generation)
    out = _whole("Failed" if problems else "Ready", [ready], generation, previous, now, None)
    if not problems:
        out["message"] = ready["message"]
    return out


def not_compiled_status(kind: str, problems: Sequence[Problem], generation: int, previous: Mapping[str, Any] | None,
                        now: str) -> Obj:
    """A kind this version validates but does not compile: `Failed`, saying that nothing was created for it (a
    spec that does not parse says why instead)."""
    if problems:
        return accepted_status(problems, generation, previous, now)
    ready = _condition(READY, False, "NotCompiled", f"this version of Lattice validates a {kind} but does not "
                       "compile it: nothing was created for it", generation)
    return _whole("Failed", [ready], generation, previous, now, [])


def compiling(previous: Mapping[str, Any], generation: int) -> Obj:
    """`previous` while a new generation is compiled: the phase says so and `observedGeneration` moves on (the
    status is about the current spec), while each condition keeps the generation it was computed for."""
    return {**previous, "phase": "Compiling", "observedGeneration": generation,
            "message": f"compiling generation {generation}"}


def transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(event type, reason, message) for each condition that changed status: a Warning for a failure (a gate,
    the compile, a one-sided edge, a rollout past its progress deadline), Normal for a recovery from one;
    nothing when only the message changed, and nothing for a first rollout finishing (the Deployment and
    ReplicaSet controllers already record every step of it: at 1,000 services those are 1,000 Events)."""
    before = {c.get("type"): c for c in (old or {}).get("conditions") or []}
    events = []
    for cond in new.get("conditions") or []:
        prior = before.get(cond["type"])
        if prior is not None and prior.get("status") == cond["status"] and (
                _is_failure(prior) or not _is_failure(cond)):
            continue  # unchanged, save a rollout in progress that became stuck
        if cond["status"] == "False" and _is_failure(cond):
            events.append(("Warning", cond["reason"], cond["message"]))
        elif cond["status"] == "True" and prior is not None and _is_failure(prior):
            events.append(("Normal", cond["reason"], f"{cond['type']}: {cond['message'] or cond['reason']}"))
    return events


def _is_failure(cond: Mapping[str, Any]) -> bool:
    return cond.get("type") != READY or cond.get("reason") in FAILURE_REASONS
