"""`lattice policy validate | whatif | schema`: check CedarPolicies before they are rolled out.

`validate` checks every CedarPolicy against the schema Lattice ships. `whatif` decides a fleet's requests under
the policies it has and under a proposed change, and lists what the change would break or open.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from lattice.api.cedar_policy import CedarPolicy
from lattice.api.service import LatticeService
from lattice.cli.inputs import load_inputs
from lattice.cli.loader import Document
from lattice.cli.report import emit, format_problem
from lattice.errors import ObjectRef, printable
from lattice.fleet import Sourced, check_fleet
from lattice.gates import authorization, cedar_schema, policy_check, requests
from lattice.gates.admission import service_deviations
from lattice.gates.authorization import Decision
from lattice.gates.policy_check import PolicyProblem

app = typer.Typer(no_args_is_help=True, help="Check CedarPolicies: against the schema, and what a change would do.")

PathsArg = Annotated[list[str], typer.Argument(help="Files or directories (searched recursively for *.yaml, *.yml).")]


@dataclass(frozen=True, slots=True)
class _Loaded:
    items: list[Sourced]
    docs: list[Document]
    errors: int


def _load(paths: list[str], only: str | None = None) -> _Loaded:
    """Every Lattice object in `paths` (of the kind `only`, when given); each problem is printed, and counted."""
    return _Loaded(*load_inputs(paths, only=only))


def _policies(loaded: _Loaded) -> list[tuple[CedarPolicy, Document]]:
    return [(item.resource, doc) for item, doc in zip(loaded.items, loaded.docs, strict=True)
            if isinstance(item.resource, CedarPolicy)]


def _file_line(doc: Document, line: int) -> int | None:
    """The line of the file holding line `line` of the document's `spec.policies`: a block scalar
    (`policies: |`) starts on the line after its key, any other scalar on the key's line."""
    key_line = doc.line_of(policy_check.POLICIES_PATH)
    if key_line is None:
        return None
    try:
        text = Path(doc.source).read_text(encoding="utf-8").split("\n")
    except OSError:
        return key_line
    after = text[key_line - 1].partition(":")[2].strip() if key_line <= len(text) else ""
    return key_line + line if after[:1] in ("|", ">") else key_line + line - 1


def _emit_policy_problem(doc: Document, policy: CedarPolicy, found: PolicyProblem) -> None:
    emit(format_problem("error", doc.source, _file_line(doc, found.line), ObjectRef("CedarPolicy", policy.name),
                        found.problem))


@app.command("validate")
def validate_command(paths: PathsArg) -> None:
    """Check every CedarPolicy found (enabled or not) against Lattice's Cedar schema: syntax, entity types,
    attributes and actions, each error at its line with a hint."""
    loaded = _load(paths, only=CedarPolicy.KIND)
    policies = _policies(loaded)
    invalid = 0
    for policy, doc in policies:
        problems = policy_check.validate(policy)
        for found in problems:
            _emit_policy_problem(doc, policy, found)
        invalid += bool(problems)
    emit(f"{len(policies) - invalid} CedarPolicies valid, {invalid + loaded.errors} invalid")
    raise typer.Exit(1 if invalid or loaded.errors else 0)


@app.command("schema")
def schema_command() -> None:
    """Print the Cedar schema policies are validated against (entity types, attributes, actions)."""
    sys.stdout.write(cedar_schema.text())


@app.command("whatif")
def whatif_command(
    paths: PathsArg,
    new: Annotated[list[str], typer.Option("--policies", help="CedarPolicies to roll out (files or directories): "
                                           "each replaces the one of its name, or is added.")],
) -> None:
    """Decide the fleet's requests under its current CedarPolicies and under the proposed ones, and list every
    service whose decisions change (allowed → denied, denied → allowed) with the policy responsible."""
    fleet = _load(paths)
    proposal = _load(new, only=CedarPolicy.KIND)
    current = [policy for policy, _ in _policies(fleet)]
    proposed_by_name = {policy.name: policy for policy in current}
    for policy, _ in _policies(proposal):
        proposed_by_name[policy.name] = policy
    before_set = authorization.build_policy_set(current)
    after_set = authorization.build_policy_set(proposed_by_name.values())
    broken = _report_invalid("current", before_set, _policies(fleet)) + \
        _report_invalid("proposed", after_set, [*_policies(fleet), *_policies(proposal)])
    if broken or proposal.errors:
        emit("error: no comparison while a policy is invalid\n  hint: fix the errors above "
             "(`lattice policy validate` checks the policies alone)")
        raise typer.Exit(1)
    unique, context, _ = check_fleet(fleet.items)
    services = [item.resource for item in unique if isinstance(item.resource, LatticeService)]
    asked = requests.fleet_requests(services, default_provider=context.platform.secrets.default_provider,
                                    deviations=service_deviations)
    prepared = authorization.prepare(asked)
    changes = _changes(authorization.decide(before_set, prepared), authorization.decide(after_set, prepared))
    _print_changes(changes, len(services), len(asked))
    raise typer.Exit(0)


def _report_invalid(which: str, policy_set: authorization.PolicySet,
                    sources: list[tuple[CedarPolicy, Document]]) -> int:
    """Print the problems of a policy set's CedarPolicies once each; how many were printed."""
    docs = {policy.name: (policy, doc) for policy, doc in sources}
    for found in policy_set.problems:
        policy, doc = docs[found.policy]
        _emit_policy_problem(doc, policy, found)
    if policy_set.problems:
        emit(f"error: the {which} policies are invalid")
    return len(policy_set.problems)


def _changes(before: list[Decision], after: list[Decision]) -> list[tuple[Decision, Decision]]:
    return [(old, new) for old, new in zip(before, after, strict=True) if old.allowed != new.allowed]


def _print_changes(changes: list[tuple[Decision, Decision]], services: int, decided: int) -> None:
    """One block per service whose decisions change: each change on one line (what flips, the request, its
    field), the policy responsible on the next."""
    out = sys.stdout
    if not changes:
        out.write(f"No decision changes: {decided} requests of {services} services decide the same.\n")
        return
    by_service: dict[str, list[tuple[Decision, Decision]]] = {}
    for old, new in sorted(changes, key=lambda c: c[0].request.key):
        by_service.setdefault(old.request.principal.id, []).append((old, new))
    for principal, flips in by_service.items():
        out.write(printable(principal) + "\n")
        for old, new in flips:
            request = old.request
            change = "allowed → denied" if old.allowed else "denied → allowed"
            out.write(printable(f"  {change}: {request.action} on {request.resource.uid} ({request.path})") + "\n")
            out.write(printable(f"    {_responsible(old, new)}") + "\n")
    denied = sum(1 for old, _ in changes if old.allowed)
    out.write(f"{len(by_service)} of {services} services change: {denied} requests become denied, "
              f"{len(changes) - denied} become allowed (of {decided} decided).\n")


def _responsible(old: Decision, new: Decision) -> str:
    if new.allowed:
        return f"permitted by {new.responsible()}" + (f" (was {old.responsible()})" if old.forbids else "")
    if new.forbids:
        return new.responsible()
    return f"no permit any more (was permitted by {old.responsible()})"
