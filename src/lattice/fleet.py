"""Compiling a whole fleet: index what the services know about each other, then compile each one.

Pure: it takes parsed resources and returns outcomes. One service failing never stops the others.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from lattice.api.base import Resource
from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.platform import DEFAULT_PLATFORM, LatticePlatform, LatticePlatformSpec
from lattice.api.service import LatticeService
from lattice.api.workload import ServicePort
from lattice.compiler import CompileContext, compile_service
from lattice.compiler.context import ServiceKey
from lattice.compiler.meta import Obj
from lattice.errors import LatticeError, ObjectRef, Problem

PLATFORM_NAME = "default"


@dataclass(frozen=True, slots=True)
class Sourced:
    """A parsed resource and where it came from (a file path, or `cluster` in the controller)."""

    source: str
    resource: Resource
    line: int | None = None

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    @property
    def ref(self) -> ObjectRef:
        res = self.resource
        return ObjectRef(res.kind, res.name, res.namespace if res.NAMESPACED else None)


@dataclass(slots=True)
class Diagnostic:
    source: str
    ref: ObjectRef | None
    problem: Problem


@dataclass(slots=True)
class ServiceOutcome:
    source: str
    ref: ObjectRef
    objects: list[Obj] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class FleetResult:
    services: list[ServiceOutcome]
    errors: list[Diagnostic] = field(default_factory=list)
    others: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.ok for s in self.services)

    @property
    def objects(self) -> list[Obj]:
        return [obj for outcome in self.services for obj in outcome.objects]


def build_context(items: list[Sourced], errors: list[Diagnostic]) -> CompileContext:
    platform = _platform(items, errors)
    ports: dict[ServiceKey, dict[str, ServicePort]] = {}
    for item in items:
        res = item.resource
        if isinstance(res, LatticeService):
            ports[(res.namespace, res.name)] = res.spec.workload.ports
        elif isinstance(res, LatticeMeshMember):
            ports[(res.namespace, res.name)] = res.spec.ports
    return CompileContext(platform=platform, service_ports=ports)


def _platform(items: list[Sourced], errors: list[Diagnostic]) -> LatticePlatformSpec:
    found: LatticePlatformSpec | None = None
    for item in items:
        if not isinstance(item.resource, LatticePlatform):
            continue
        if item.resource.name != PLATFORM_NAME:
            errors.append(Diagnostic(item.source, item.ref, Problem(
                "metadata.name", f"the platform object must be named `{PLATFORM_NAME}`",
                f"rename it to `{PLATFORM_NAME}`: there is one LatticePlatform per cluster")))
        elif found is not None:
            errors.append(Diagnostic(item.source, item.ref, Problem(
                "metadata.name", "a second LatticePlatform named `default`", "keep exactly one")))
        else:
            found = item.resource.spec
    return found or DEFAULT_PLATFORM


def _duplicates(items: list[Sourced], errors: list[Diagnostic]) -> list[Sourced]:
    """Objects defined more than once are all refused: which copy would win must not depend on file order."""
    first: dict[tuple[str, str | None, str], Sourced] = {}
    repeated: set[tuple[str, str | None, str]] = set()
    for item in items:
        key = (item.resource.kind, item.ref.namespace, item.resource.name)
        if key in first:
            repeated.add(key)
            errors.append(Diagnostic(item.source, item.ref, Problem(
                "metadata.name", f"{item.ref} is defined twice (first at {first[key].location}); neither is compiled",
                "give one of them another name or namespace, or delete one")))
        else:
            first[key] = item
    return [item for item in items if (item.resource.kind, item.ref.namespace, item.resource.name) not in repeated]


def check_fleet(items: list[Sourced]) -> tuple[list[Sourced], CompileContext, list[Diagnostic]]:
    """Fleet-level checks (duplicates, the platform singleton) and the compile context they yield."""
    errors: list[Diagnostic] = []
    unique = _duplicates(items, errors)
    context = build_context(unique, errors)
    return unique, context, errors


def compile_fleet(items: list[Sourced]) -> FleetResult:
    """Compile every LatticeService in `items`; other kinds are validated and counted."""
    items, context, errors = check_fleet(items)
    outcomes: list[ServiceOutcome] = []
    others: Counter[str] = Counter()
    for item in sorted(items, key=lambda i: (i.ref.namespace or "", i.resource.name, i.resource.kind)):
        res = item.resource
        if not isinstance(res, LatticeService):
            others[res.kind] += 1
            continue
        outcome = ServiceOutcome(source=item.source, ref=item.ref)
        try:
            result = compile_service(res, context)
        except LatticeError as exc:
            outcome.errors = exc.problems
        else:
            outcome.objects, outcome.warnings = result.objects, result.warnings
        outcomes.append(outcome)
    return FleetResult(services=outcomes, errors=errors, others=others)
