"""The authorization gate: CedarPolicies decide every request a workload makes, before anything is produced.

Pure: policies and requests in, decisions out (Cedar is an in-process library, cedarpy). The enabled
CedarPolicies form one policy set, parsed once per fleet; the entities of all requests are built once; all
requests are decided in one `cedarpy.is_authorized_batch` call (parsed handles: tens of µs a decision, where
parsing per call costs ~300 µs; FIELD-NOTES "Cedar (cedarpy 4.12)").

Default deny: a request is allowed only when a `permit` matches and no `forbid` does. `DeployImage` needs no
permit (the ImageProvider rules admit images): the platform adds one implicit permit for every image, so an
image is refused only by a `forbid`.

A policy set with an invalid CedarPolicy decides nothing: every request is denied and says why. Leaving the
invalid policy out instead could drop a `forbid` and allow what it forbids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cedarpy
import orjson

from lattice.api.cedar_policy import CedarPolicy
from lattice.collector import collector_paused
from lattice.errors import Problem
from lattice.gates import cedar_text
from lattice.gates.cedar_schema import NAMESPACE
from lattice.gates.policy_check import PolicyProblem, Statement, check_policy, policy_index

Action = Literal["AccessSecret", "AccessExternalEndpoint", "DeployImage", "SkipImageVerification",
                 "OverrideSecurity", "AccessVolume", "AllowWildcard"]
PLATFORM_IMAGE_PERMIT = "lattice:images-need-no-permit"
"""The `@id` of the implicit permit on `DeployImage`."""
_IMPLICIT = (f'@id("{PLATFORM_IMAGE_PERMIT}")\n'
             f'permit(principal, action == {NAMESPACE}::Action::"DeployImage", resource);')
_FAILED = re.compile(r"error while evaluating policy `(policy\d+)`: (.*)", re.S)


# --- requests and decisions --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Principal:
    """The workload asking: `Lattice::Service::"<namespace>/<name>"`."""

    namespace: str
    name: str
    kind: str = "service"
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def uid(self) -> str:
        return entity_uid("Service", self.id)


@dataclass(frozen=True, slots=True)
class Resource:
    """What is asked for: an entity of the schema (`SecretPath`, `Image`...) with its attributes."""

    type: str
    id: str
    attrs: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return entity_uid(self.type, self.id)


@dataclass(frozen=True, slots=True)
class Request:
    """One thing a workload needs permitted, and the input field it comes from (for the error)."""

    principal: Principal
    action: Action
    resource: Resource
    path: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What the request is, independent of the policies: the same under any policy set."""
        return (self.principal.id, self.action, self.resource.uid, self.path)


@dataclass(frozen=True, slots=True)
class Decision:
    request: Request
    allowed: bool
    permits: tuple[Statement, ...] = ()
    """The permits that allowed it (empty when denied)."""
    forbids: tuple[Statement, ...] = ()
    """The forbids that denied it, highest priority first (empty when no permit is the reason)."""
    problem: Problem | None = None
    """The denial, ready to report (None when allowed)."""

    def responsible(self) -> str:
        """The policies behind the decision, in a few words."""
        if self.allowed:
            return ", ".join(s.describe() for s in self.permits) or "-"
        if self.forbids:
            return "forbidden by " + ", ".join(s.describe() for s in self.forbids)
        return "no permit"


# --- the policy set ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PolicySet:
    """The enabled CedarPolicies as one parsed Cedar policy set, and what names each of its statements."""

    cedar: cedarpy.PolicySet
    statements: Mapping[str, Statement]
    """Cedar's policy id (`policy0`...) -> the statement, in priority order."""
    problems: Sequence[PolicyProblem] = ()
    policies: tuple[str, ...] = ()
    """The CedarPolicies in effect, highest priority first."""
    forbiddable: frozenset[str] | None = None
    """The actions a `forbid` of the set may apply to (`forbiddable_actions`); None: any."""

    @property
    def valid(self) -> bool:
        return not self.problems


def build_policy_set(policies: Iterable[CedarPolicy]) -> PolicySet:
    """One policy set from the enabled CedarPolicies, highest `priority` first (ties by name), every one
    validated against the schema. Parse it once per fleet; `decide` takes it."""
    enabled = sorted((p for p in policies if p.spec.enabled), key=lambda p: (-p.spec.priority, p.name))
    texts: list[str] = []
    statements: dict[str, Statement] = {}
    problems: list[PolicyProblem] = []
    for policy in enabled:
        found, policy_problems = check_policy(policy.name, policy.spec.policies)
        problems.extend(policy_problems)
        if found is None or policy_problems:
            continue  # the set decides nothing while a policy is invalid (see `decide`)
        for statement in found:
            statements[f"policy{len(statements)}"] = statement
        texts.append(policy.spec.policies)
    statements[f"policy{len(statements)}"] = Statement("", 1, "permit", PLATFORM_IMAGE_PERMIT)
    text = "\n".join([*texts, _IMPLICIT])
    cedar = cedarpy.PolicySet.from_str(text)
    # Cedar numbers the statements of the text in order; each CedarPolicy was counted as parsed alone.
    assert len(cedar) == len(statements), (len(cedar), len(statements))
    return PolicySet(cedar, statements, tuple(problems), tuple(p.name for p in enabled),
                     forbiddable_actions(text))


def forbiddable_actions(text: str) -> frozenset[str] | None:
    """The actions some `forbid` of `text` is scoped to (None: a forbid scoped to every action). An action no
    forbid names needs no evaluation where the platform permits it implicitly (DeployImage): Cedar would
    allow it by that permit whatever else the set holds, and images are most of a fleet's requests."""
    forbids = [p for p in orjson.loads(cedarpy.policies_to_json_str(text))["staticPolicies"].values()
               if p["effect"] == "forbid"]
    actions: set[str] = set()
    for policy in forbids:
        scope = policy["action"]
        if scope["op"] == "==":
            actions.add(scope["entity"]["id"])
        elif scope["op"] == "in" and "entities" in scope:
            actions.update(entity["id"] for entity in scope["entities"])
        else:  # `action` alone, or `in` one entity (an action group): any action
            return None
    return frozenset(actions)


# --- entities and decisions ------------------------------------------------------------------------------

def entity_uid(entity_type: str, entity_id: str) -> str:
    """`Lattice::<Type>::"<id>"`, as written in a policy."""
    return f"{NAMESPACE}::{entity_type}::{cedar_text.string(entity_id)}"


@dataclass(frozen=True, slots=True)
class PreparedRequests:
    """Requests with their Cedar form and entities, built once and decided under any number of policy sets."""

    requests: Sequence[Request]
    cedar_requests: list[dict[str, object]]
    entities: cedarpy.Entities


def prepare(requests: Sequence[Request]) -> PreparedRequests:
    """The Cedar requests and one entity set holding every principal and resource named."""
    with collector_paused():  # tens of thousands of small dicts, no cycles (see lattice.collector)
        return _prepare(requests)


def _prepare(requests: Sequence[Request]) -> PreparedRequests:
    entities: dict[tuple[str, str], dict[str, object]] = {}
    cedar_requests: list[dict[str, object]] = []
    for request in requests:
        principal, resource = request.principal, request.resource
        service = (f"{NAMESPACE}::Service", principal.id)
        if service not in entities:
            labels = dict(sorted(principal.labels.items()))
            entities[service] = {
                "uid": {"type": service[0], "id": service[1]},
                "attrs": {"namespace": principal.namespace, "name": principal.name, "kind": principal.kind,
                          "labels": [f"{k}={v}" for k, v in labels.items()]},
                "parents": [], "tags": labels,
            }
        target = (f"{NAMESPACE}::{resource.type}", resource.id)
        if target not in entities:
            entities[target] = {"uid": {"type": target[0], "id": target[1]}, "attrs": dict(resource.attrs),
                                "parents": []}
        # The structured form needs no parsing of Cedar syntax, and no `context` is the fastest request.
        cedar_requests.append({"principal": entities[service]["uid"],
                               "action": {"type": f"{NAMESPACE}::Action", "id": request.action},
                               "resource": entities[target]["uid"]})
    text = orjson.dumps(list(entities.values())).decode()
    return PreparedRequests(requests, cedar_requests, cedarpy.Entities.from_json_str(text))


def decide(policy_set: PolicySet, requests: Sequence[Request] | PreparedRequests) -> list[Decision]:
    """Each request's decision, in order, from one batch evaluation; every denial carries its Problem."""
    if not isinstance(requests, PreparedRequests) and policy_set.valid and policy_set.forbiddable is not None \
            and "DeployImage" not in policy_set.forbiddable and any(r.action == "DeployImage" for r in requests):
        return _decide_images_implicitly(policy_set, requests)
    prepared = requests if isinstance(requests, PreparedRequests) else prepare(requests)
    if not prepared.requests:
        return []
    if not policy_set.valid:
        return [_undecided(policy_set, request) for request in prepared.requests]
    with collector_paused():  # a result object per decision, no cycles (see lattice.collector)
        results = cedarpy.is_authorized_batch(prepared.cedar_requests, policy_set.cedar, prepared.entities)
        return [_decision(policy_set, request, result)
                for request, result in zip(prepared.requests, results, strict=True)]


def _decide_images_implicitly(policy_set: PolicySet, requests: Sequence[Request]) -> list[Decision]:
    """No forbid names DeployImage: every image is allowed by the implicit permit, the rest go to Cedar."""
    implicit = next(s for s in policy_set.statements.values() if s.annotation == PLATFORM_IMAGE_PERMIT)
    others = iter(decide(policy_set, [r for r in requests if r.action != "DeployImage"]))
    return [Decision(r, True, permits=(implicit,)) if r.action == "DeployImage" else next(others) for r in requests]


def _decision(policy_set: PolicySet, request: Request, result: cedarpy.AuthzResult) -> Decision:
    statements = policy_set.statements
    diagnostics = result.diagnostics
    reasons = diagnostics.reasons
    # Statements are numbered in priority order, so the lowest ids are the highest priorities.
    ordered = [statements[r] for r in (sorted(reasons, key=policy_index) if len(reasons) > 1 else reasons)]
    errors = diagnostics.errors
    # A forbid that failed to evaluate might have matched: its error denies (Cedar itself would skip it).
    failed: dict[Statement, str] = {}
    for error in errors:
        match = _FAILED.fullmatch(error)
        if match and match[1] in statements and statements[match[1]].effect == "forbid":
            failed.setdefault(statements[match[1]], match[2])
    if result.allowed and not failed:
        return Decision(request, True, permits=tuple(ordered))
    forbids = tuple(s for s in ordered if s.effect == "forbid") + tuple(failed)
    return Decision(request, False, forbids=forbids, problem=denial(request, forbids, failed))


def _undecided(policy_set: PolicySet, request: Request) -> Decision:
    names = sorted({p.policy for p in policy_set.problems})
    listed = ", ".join(f"`{n}`" for n in names)
    problem = Problem(request.path, f"{request.action} on {request.resource.uid} is not decided for "
                      f"{request.principal.uid}: CedarPolicy {listed} is invalid, and no decision is made while a "
                      "policy is invalid (leaving it out could drop a `forbid`)",
                      "fix the CedarPolicy (its errors are reported with it; `lattice policy validate` checks it)")
    return Decision(request, False, problem=problem)


def permit_for(request: Request) -> str:
    """The narrowest permit that allows exactly this request, ready to paste into a CedarPolicy."""
    return (f"permit(principal == {request.principal.uid}, "
            f'action == {NAMESPACE}::Action::"{request.action}", resource == {request.resource.uid});')


def denial(request: Request, forbids: Sequence[Statement], failed: Mapping[Statement, str] | None = None) -> Problem:
    """The denial as the user reads it: what was asked, who decided, and what would allow it."""
    asked = f"{request.action} on {request.resource.uid} is denied for {request.principal.uid}"
    permit = permit_for(request)
    if forbids:
        failed = failed or {}
        deciders = ", ".join(s.describe() + (f", which failed to evaluate ({failed[s]}) and so denies"
                                             if s in failed else "") for s in forbids)
        why = f"forbidden by {deciders}"
        change = ("change or remove it so that it does not match" if len(forbids) == 1
                  else "change or remove them so that none matches")
        if request.action == "DeployImage":
            hint = f"images need no permit, only no forbid: {change}"
        else:
            hint = f"a permit never overrides a forbid: {change}; then, unless another permit matches, add `{permit}`"
        return Problem(request.path, f"{asked}: {why}", hint)
    return Problem(request.path, f"{asked}: no CedarPolicy permits it (default deny)",
                   f"to allow exactly this, add to a CedarPolicy: `{permit}`")
