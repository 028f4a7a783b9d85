"""Checking CedarPolicies: each parsed alone, its statements named (CedarPolicy, line, effect, `@id`), and
every problem put at its line with a hint of what exists instead.

Cedar's own validator (`cedarpy.validate_policies` against the shipped schema) finds the mistakes; its
messages name a policy by position (`policy2`) and carry no hint, so they are placed and explained here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cedarpy
import orjson

from lattice.api.cedar_policy import CedarPolicy
from lattice.errors import Problem
from lattice.gates import cedar_schema, cedar_text

POLICIES_PATH = "spec.policies"


@dataclass(frozen=True, slots=True)
class Statement:
    """One Cedar statement of a CedarPolicy, as the gate names it in its messages."""

    policy: str
    """The CedarPolicy's name ("" for the platform's implicit permit)."""
    line: int
    """1-based, within the CedarPolicy's `spec.policies`."""
    effect: Literal["permit", "forbid"]
    annotation: str | None = None
    """Its `@id`, when it has one."""

    @property
    def label(self) -> str:
        """How a denial names it: its `@id`, else its CedarPolicy's name."""
        return self.annotation or self.policy

    def describe(self) -> str:
        if not self.policy:
            return f"the platform's implicit `{self.effect}` `{self.label}`"
        where = f"CedarPolicy `{self.policy}`, line {self.line}"
        return f"`{self.annotation}` ({where})" if self.annotation else f"the `{self.effect}` at {where}"


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """A problem of one CedarPolicy at a line of its `spec.policies` (1-based)."""

    policy: str
    line: int
    problem: Problem


def validate(policy: CedarPolicy) -> list[PolicyProblem]:
    """Every problem of one CedarPolicy (enabled or not): syntax, then the schema."""
    return check_policy(policy.name, policy.spec.policies)[1]


def check_policy(name: str, text: str) -> tuple[list[Statement] | None, list[PolicyProblem]]:
    """The statements of one CedarPolicy and its problems; no statements when it does not parse."""
    try:
        est = orjson.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        message = str(exc)
        line = cedar_text.syntax_error_line(text, message)
        return None, [PolicyProblem(name, line, Problem(
            POLICIES_PATH, f"line {line}: Cedar syntax error: {message}",
            "each statement is `permit(principal, action, resource) when { ... };` or `forbid(...)`, "
            "ending with `;`"))]
    lines = cedar_text.statement_lines(text)
    problems: list[PolicyProblem] = []
    for template_id in est.get("templates", {}):
        line = _line_at(lines, template_id)
        problems.append(PolicyProblem(name, line, Problem(
            POLICIES_PATH, f"line {line}: the statement is a Cedar template (`?principal` or `?resource`), "
            "which Lattice never links, so it would decide nothing",
            'name the entity instead, e.g. `principal == Lattice::Service::"<namespace>/<name>"`')))
    static = est.get("staticPolicies", {})
    if not static and not problems:
        problems.append(PolicyProblem(name, 1, Problem(
            POLICIES_PATH, "the policies hold no statement (only comments or blank lines)",
            'write at least one `permit(...)` or `forbid(...)` statement, or remove the CedarPolicy')))
    problems.extend(_schema_problems(name, text, lines))
    statements = [Statement(name, _line_at(lines, pid), body["effect"], (body.get("annotations") or {}).get("id"))
                  for pid, body in sorted(static.items(), key=lambda item: policy_index(item[0]))]
    return statements, problems


def policy_index(policy_id: str) -> int:
    return int(policy_id.removeprefix("policy"))


def _line_at(lines: Sequence[int], policy_id: str) -> int:
    index = policy_index(policy_id)
    return lines[index] if index < len(lines) else 1


# --- validation messages ----------------------------------------------------------------------------------

_ATTRIBUTE = re.compile(r"attribute `(\w+)` on entity type `Lattice::(\w+)` not found")
_ENTITY_TYPE = re.compile(r"unrecognized entity type `([\w:]+)`")
_ACTION = re.compile(r'unrecognized action `(.+)`')
_TAG = re.compile(r'unable to guarantee safety of access to tag `"(.*)"` on entity type `Lattice::(\w+)`')
_NO_ACTION = "unable to find an applicable action given the policy scope constraints"


def _schema_problems(name: str, text: str, lines: Sequence[int]) -> list[PolicyProblem]:
    result = cedarpy.validate_policies(text, cedar_schema.schema())
    by_policy: dict[str, list[str]] = {}
    for error in result.errors:
        by_policy.setdefault(error.policy_id, []).append(error.error)
    problems: list[PolicyProblem] = []
    for policy_id, errors in sorted(by_policy.items(), key=lambda item: policy_index(item[0]) if item[0] else -1):
        start = _line_at(lines, policy_id) if policy_id else 1
        problems.extend(PolicyProblem(name, line, Problem(POLICIES_PATH, f"line {line}: {message}", hint))
                        for line, message, hint in _explain(text, start, errors))
    return problems


def _explain(text: str, start: int, errors: list[str]) -> list[tuple[int, str, str]]:
    """Cedar's validation errors of one statement as (line, message, hint): one per mistake, each with what
    exists instead."""
    decl = cedar_schema.declarations()
    out: list[tuple[int, str, str]] = []
    missing: dict[str, list[str]] = {}  # attribute -> the entity types lacking it
    for error in errors:
        if match := _ATTRIBUTE.search(error):
            missing.setdefault(match[1], []).append(match[2])
    for attribute, lacking in missing.items():
        line = cedar_text.line_of(text, start, re.compile(rf"\b{re.escape(attribute)}\b"))
        having = sorted(t for t, e in decl.entities.items() if attribute in e.attributes)
        if having:
            lacking_text = ", ".join(f"`Lattice::{t}`" for t in sorted(lacking))
            out.append((line, f"attribute `{attribute}` does not exist on {lacking_text}, which this statement "
                        f"may apply to (only {', '.join(f'`Lattice::{t}`' for t in having)} has it)",
                        "narrow the scope to the action it is for (e.g. "
                        f'`action == Lattice::Action::"{_action_for(having[0])}"`), or guard it with '
                        f"`resource has {attribute} && ...`"))
            continue
        for entity in sorted(set(lacking)):
            known = decl.entities[entity]
            names = sorted(known.attributes)
            close = difflib.get_close_matches(attribute, names, n=1)
            hint = (f"did you mean `{close[0]}`? " if close else "") + \
                f"`Lattice::{entity}` has " + (", ".join(f"`{n}`" for n in names) if names else "no attributes")
            if known.tags is not None and not close:
                hint += f'; its labels are tags: `hasTag("{attribute}") && getTag("{attribute}")`'
            out.append((line, f"`Lattice::{entity}` has no attribute `{attribute}`", hint))
    for error in errors:
        if _ATTRIBUTE.search(error):
            continue
        if match := _ENTITY_TYPE.search(error):
            written = match[1]
            types = sorted(e.qualified for e in decl.entities.values())
            close = difflib.get_close_matches(written, types, n=1)
            line = cedar_text.line_of(text, start, re.compile(re.escape(written) + r"(?![\w])"))
            out.append((line, f"unknown entity type `{written}`",
                        (f"did you mean `{close[0]}`? " if close else "") + "the entity types are "
                        + ", ".join(f"`{t}`" for t in types)))
        elif match := _ACTION.search(error):
            written = match[1]
            actions = sorted(decl.actions)
            bare = written.rpartition("::")[2].strip('"')
            close = difflib.get_close_matches(bare, actions, n=1)
            line = cedar_text.line_of(text, start, re.compile(re.escape(bare)))
            out.append((line, f"unknown action `{written}`",
                        (f'did you mean `Lattice::Action::"{close[0]}"`? ' if close else "")
                        + "the actions are " + ", ".join(f'`Lattice::Action::"{a}"`' for a in actions)))
        elif match := _TAG.search(error):
            tag = match[1]
            line = cedar_text.line_of(text, start, re.compile(r"getTag\(\s*" + re.escape(cedar_text.string(tag))))
            out.append((line, f'`getTag("{tag}")` may read a label the service does not have',
                        f'guard it: `principal.hasTag("{tag}") && principal.getTag("{tag}") == "..."`'))
        elif error.endswith(_NO_ACTION):
            if len(errors) > 1:
                continue  # follows from another mistake of the same statement, reported above
            applies = "; ".join(f"`{a}`: principal `Lattice::{p}`, resource `Lattice::{r}`"
                                for a, (p, r) in sorted(decl.actions.items()))
            out.append((start, "no action applies to the principal and resource this statement names",
                        f"each action takes one resource type ({applies})"))
        else:
            message = error.split(", ", 1)[1] if error.startswith("for policy `") else error
            out.append((start, message.removeprefix("Policy parse error: "),
                        "compare values of the same type: `port` is a number (`resource.port == 443`), "
                        "`labels` a set of \"key=value\" strings, every other attribute a string"))
    return sorted(out)


def _action_for(entity: str) -> str:
    return next((a for a, (_, r) in sorted(cedar_schema.declarations().actions.items()) if r == entity), "...")
