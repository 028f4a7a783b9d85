"""Compiling a whole fleet: index what the services know about each other, then compile each one.

Pure (it takes parsed resources and returns outcomes), apart from pausing CPython's cyclic collector while it
runs (see `lattice.collector`). One workload failing never stops the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from functools import partial
from typing import cast

from lattice import reserved, uniqueness
from lattice.api.base import Resource
from lattice.api.cedar_policy import CedarPolicy
from lattice.api.image_provider import ImageProvider, ImageProviderSpec
from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.platform import DEFAULT_PLATFORM, LatticePlatform, LatticePlatformSpec
from lattice.api.secret_provider import SecretProvider, SecretProviderSpec
from lattice.api.service import LatticeService
from lattice.collector import collector_paused
from lattice.compiler import CompileContext, compile_service, provenance, secrets
from lattice.compiler import ingress as ingress_objects
from lattice.compiler import platform as platform_objects_module
from lattice.compiler.meta import Obj
from lattice.compiler.nodes import mesh_member_node, service_node
from lattice.compiler.pipeline import CompileResult, compile_mesh_member
from lattice.errors import LatticeError, ObjectRef, Problem, internal_error
from lattice.gates.admission import (
    FleetAuthorization,
    FleetGates,
    GateReport,
    ImageChecks,
    admit_services,
    authorize_fleet,
)
from lattice.graph import FleetGraph, GraphIndex, Key, OneSided, show, target_of

PLATFORM_NAME = "default"


@dataclass(frozen=True, slots=True)
class Sourced:
    """A parsed resource and where it came from (a file path, or `cluster` in the controller)."""

    source: str
    resource: Resource
    line: int | None = None
    gate: GateReport | None = None
    """What the gates decided for it (`admit`), before it is compiled."""

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
    gate: GateReport | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class FleetResult:
    services: list[ServiceOutcome]
    errors: list[Diagnostic] = field(default_factory=list)
    others: Counter[str] = field(default_factory=Counter)
    cluster_objects: list[Obj] = field(default_factory=list)
    namespace_objects: list[Obj] = field(default_factory=list)
    context: CompileContext = field(default_factory=CompileContext)

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.ok for s in self.services)

    @property
    def objects(self) -> list[Obj]:
        """Everything to apply: cluster-wide objects, shared namespace objects, then each workload's."""
        return [*self.cluster_objects, *self.namespace_objects,
                *(obj for outcome in self.services for obj in outcome.objects)]

    @property
    def one_sided(self) -> list[OneSided]:
        return self.context.graph.one_sided


@dataclass(slots=True)
class FleetMemo:
    """What a long-running caller (the controller) keeps between compiles of a changing fleet, so that a
    compile re-reads only the workloads that changed: the graph's declarations, by the parsed resource they
    came from (a resource is immutable: a changed source is a new object)."""

    graph: GraphIndex = field(default_factory=GraphIndex)
    _sources: dict[Key, Resource] = field(default_factory=dict)

    def sync(self, workloads: Iterable[Resource]) -> None:
        """Hold exactly `workloads` (LatticeServices and mesh members): new or changed ones are put in the
        graph, those no longer given removed."""
        given: dict[Key, Resource] = {}
        for res in workloads:
            key = (res.namespace, res.name)
            given[key] = res
            if self._sources.get(key) is not res:
                self.graph.put(service_node(res) if isinstance(res, LatticeService) else
                               mesh_member_node(cast(LatticeMeshMember, res)))
        for key in self._sources.keys() - given.keys():
            self.graph.remove(key)
        self._sources = given


def build_context(items: list[Sourced], errors: list[Diagnostic],
                  failed: frozenset[Key] = frozenset(), platform: LatticePlatformSpec | None = None,
                  authorization: FleetAuthorization | None = None, memo: FleetMemo | None = None) -> CompileContext:
    platform = platform if platform is not None else _platform(items, errors)
    memo = memo if memo is not None else FleetMemo()
    memo.sync(item.resource for item in items if isinstance(item.resource, LatticeService | LatticeMeshMember))
    secret_providers: dict[str, SecretProviderSpec] = {}
    image_providers: dict[str, ImageProviderSpec] = {}
    for item in items:
        res = item.resource
        if isinstance(res, SecretProvider):
            secret_providers[res.name] = res.spec
        elif isinstance(res, ImageProvider):
            image_providers[res.name] = res.spec
    wildcards = authorization.wildcard_callees if authorization is not None else frozenset()
    return CompileContext(platform=platform, graph=memo.graph.graph(wildcards, failed=failed),
                          authorization=authorization,
                          secret_providers=dict(sorted(secret_providers.items())),
                          image_providers=dict(sorted(image_providers.items())), failed=failed)


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


_WORKLOAD_KINDS = frozenset({"LatticeService", "LatticeMeshMember"})


def _identity(item: Sourced) -> tuple[str, str | None, str]:
    """Services and mesh members share one name space: both become the same graph node and policy names."""
    kind = "workload" if item.resource.kind in _WORKLOAD_KINDS else item.resource.kind
    return (kind, item.ref.namespace, item.resource.name)


def _duplicates(items: list[Sourced], errors: list[Diagnostic]) -> list[Sourced]:
    """Objects defined more than once are all refused: which copy would win must not depend on file order."""
    first: dict[tuple[str, str | None, str], Sourced] = {}
    repeated: set[tuple[str, str | None, str]] = set()
    for item in items:
        key = _identity(item)
        if key in first:
            repeated.add(key)
            earlier = first[key]
            what = str(item.ref) if earlier.ref.kind == item.ref.kind else \
                f"{item.ref.namespace}/{item.resource.name} (a {earlier.ref.kind} and a {item.ref.kind})"
            errors.append(Diagnostic(item.source, item.ref, Problem(
                "metadata.name", f"{what} is defined twice (first at {earlier.location}); neither is compiled",
                "give one of them another name or namespace, or delete one")))
        else:
            first[key] = item
    return [item for item in items if _identity(item) not in repeated]


def check_fleet(items: list[Sourced], failed: Iterable[ObjectRef] = (), memo: FleetMemo | None = None
                ) -> tuple[list[Sourced], CompileContext, list[Diagnostic]]:
    """Fleet-level checks (duplicates, the platform singleton, reserved names, identities, namespaces and
    labels) and the compile context they yield.

    `failed` names the inputs that did not even parse: workloads among them, and those refused here, are known
    to have failed, so that their peers are told so instead of being told that they are missing or have not
    agreed. `memo` carries what an earlier call over the same fleet already read (see `FleetMemo`)."""
    errors: list[Diagnostic] = []
    unique = _duplicates(items, errors)
    platform = _platform(unique, errors)
    unique = _refuse_reserved(unique, platform, errors)
    refused = {(item.ref.namespace or "", item.resource.name) for item in items
               if item.resource.kind in _WORKLOAD_KINDS} - {(i.ref.namespace or "", i.resource.name) for i in unique}
    refused |= {(ref.namespace or "default", ref.name) for ref in failed if ref.kind in _WORKLOAD_KINDS}
    authorization = authorize_fleet((item.resource for item in unique), platform)
    errors.extend(_policy_problems(unique, authorization))
    context = build_context(unique, errors, frozenset(refused), platform, authorization, memo)
    return unique, context, errors


def _policy_problems(items: list[Sourced], authorization: FleetAuthorization) -> list[Diagnostic]:
    """A CedarPolicy that does not validate against the schema is an error of that policy (and, while it is
    invalid, the gate denies every request: a broken `forbid` must not silently allow)."""
    by_name = {item.resource.name: item for item in items if isinstance(item.resource, CedarPolicy)}
    out = []
    for found in authorization.policy_set.problems:
        item = by_name.get(found.policy)
        if item is not None:  # the message starts with the line already (`policy_check`)
            out.append(Diagnostic(item.source, item.ref, found.problem))
    return out


def _refuse_reserved(items: list[Sourced], platform: LatticePlatformSpec, errors: list[Diagnostic]) -> list[Sourced]:
    """Workloads that take a platform name, identity, namespace or label (or, for mesh members, a compiled
    service's pods or identity) are refused before the graph is built, so no peer ever trusts them."""
    services: dict[str, list[LatticeService]] = {}
    for item in items:
        if isinstance(item.resource, LatticeService):
            services.setdefault(item.resource.namespace, []).append(item.resource)
    kept = []
    for item in items:
        problems = reserved.workload_problems(item.resource, platform)
        if isinstance(item.resource, LatticeMeshMember):
            problems += reserved.mesh_member_problems(item.resource, services.get(item.resource.namespace, []))
        errors.extend(Diagnostic(item.source, item.ref, problem) for problem in problems)
        if not problems:
            kept.append(item)
    return kept


def platform_objects(context: CompileContext, workload_objects: list[Obj] | None = None) -> list[Obj]:
    """Objects the cluster needs once: default deny, the mesh-wide settings and a ClusterSecretStore per
    SecretProvider, each store readable only from the namespaces whose compiled ExternalSecrets read it."""
    return [*platform_objects_module.cluster_objects(context.platform),
            *secrets.cluster_secret_stores(context.secret_providers, secrets.store_readers(workload_objects or []))]


def resources_path(graph: FleetGraph, key: Key) -> str:
    """Where a workload declares its dependencies: services in their workload, mesh members in their spec."""
    node = graph.nodes.get(key)
    return "spec.resources" if node is not None and node.kind == "LatticeMeshMember" else "spec.workload.resources"


def one_sided_warning(edge: OneSided, about: Key, graph: FleetGraph) -> Problem:
    """The warning each side of a one-sided declaration gets: the declarer learns nothing flows yet, the
    other side learns the exact stanza to add."""
    caller, callee = show(edge.caller), show(edge.callee)
    if about == edge.declared_by:
        verb = "calls" if about == edge.caller else "accepts calls from"
        other = callee if about == edge.caller else caller
        return Problem(
            resources_path(graph, about),
            f"{show(about)} {verb} {other}, but {other} has not agreed, so no traffic is allowed between them",
            f"the owner of {show(edge.missing)} adds `{edge.stanza()}` under "
            f"`{resources_path(graph, edge.missing)}`",
        )
    return Problem(
        resources_path(graph, about),
        f"{caller} declares {callee} as {'a callee' if edge.declared_by == edge.caller else 'a caller'}, "
        f"but {show(about)} does not declare it back, so no traffic is allowed between them",
        f"add `{edge.stanza()}` under `{resources_path(graph, about)}` to allow it",
    )


def failed_peer_warnings(graph: FleetGraph, about: Key, failed: Set[Key]) -> list[Problem]:
    """A warning for each service `about` declares that failed (to parse, as a duplicate or to compile):
    nothing flows to or from it, and the reason is its own errors, not a missing agreement."""
    node = graph.nodes.get(about)
    if node is None:
        return []
    out = []
    for resource, dep in sorted(node.dependencies.items()):
        target = target_of(about[0], resource, dep) if dep.type == "service" else None
        if target is not None and target in failed:
            out.append(Problem(
                f"{resources_path(graph, about)}.{resource}",
                f"{show(target)} failed to compile (its errors are reported with it), so no traffic flows between "
                f"{show(about)} and {show(target)} until it compiles",
                f"fix the errors of {show(target)}",
            ))
    return out


def compile_fleet(items: list[Sourced], failed: Iterable[ObjectRef] = (),
                  image_checks: ImageChecks | None = None) -> FleetResult:
    """Compile every LatticeService and LatticeMeshMember in `items`; other kinds are validated and counted.
    `failed` names inputs that did not parse (see `check_fleet`)."""
    with collector_paused():
        return _compile_fleet(items, failed, image_checks)


def _compile_fleet(items: list[Sourced], failed: Iterable[ObjectRef], image_checks: ImageChecks | None
                   ) -> FleetResult:
    items, context, errors = check_fleet(items, failed)
    ordered = admit(compile_order(items), context, image_checks)
    return finish_fleet(ordered, [compile_workload(item, context) for item in ordered], context, errors)


def compile_order(items: list[Sourced]) -> list[Sourced]:
    """The order workloads are compiled and emitted in: by namespace, name and kind, never by file order."""
    return sorted(items, key=lambda i: (i.ref.namespace or "", i.resource.name, i.resource.kind))


def admit(ordered: list[Sourced], context: CompileContext, image_checks: ImageChecks | None = None) -> list[Sourced]:
    """`ordered` with each LatticeService's gate report attached: the gates run before any derivation, in the
    compile order (quota admission depends on it), over the policies, providers and quotas of the fleet."""
    positions = [k for k, item in enumerate(ordered) if isinstance(item.resource, LatticeService)]
    services = [res for res in (ordered[k].resource for k in positions) if isinstance(res, LatticeService)]
    reports = admit_services(services, FleetGates.of(item.resource for item in ordered), context.platform,
                             context.image_providers, image_checks, context.authorization)
    out = list(ordered)
    for k, svc, report in zip(positions, services, reports, strict=True):
        out[k] = replace(ordered[k], resource=_pinned(svc, report.pinned_images), gate=report)
    return out


def _pinned(svc: LatticeService, pinned: Mapping[str, str]) -> LatticeService:
    """The service with each container's image replaced by its digest-pinned reference (the gate resolved it)."""
    if not pinned:
        return svc
    workload = svc.spec.workload
    containers = {name: c.model_copy(update={"image": pinned[name]}) if name in pinned else c
                  for name, c in workload.containers.items()}
    spec = svc.spec.model_copy(update={"workload": workload.model_copy(update={"containers": containers})})
    return svc.model_copy(update={"spec": spec})


def compile_workload(item: Sourced, context: CompileContext) -> ServiceOutcome | None:
    """One workload's outcome, or None for a kind that is only validated. It reads nothing but the item and the
    shared context, so workloads may be compiled in any order or in parallel (see `lattice.cli.workers`)."""
    res = item.resource
    result: CompileResult
    outcome = ServiceOutcome(source=item.source, ref=item.ref, gate=item.gate)
    if item.gate is not None and item.gate.errors:  # refused by a gate: nothing is derived
        outcome.errors = list(item.gate.errors)
        return outcome
    try:
        if isinstance(res, LatticeService):
            result = compile_service(res, context)
        elif isinstance(res, LatticeMeshMember):
            result = compile_mesh_member(res, context)
        else:
            return None
    except LatticeError as exc:
        outcome.errors = exc.problems
    except Exception as exc:  # a bug while compiling one workload fails that workload alone
        outcome.errors = [internal_error(f"compiling {item.ref}", exc)]
    else:
        outcome.objects, outcome.warnings = result.objects, result.warnings
        if item.gate is not None:
            outcome.warnings[:0] = item.gate.warnings
    return outcome


def finish_fleet(ordered: list[Sourced], results: list[ServiceOutcome | None], context: CompileContext,
                 errors: list[Diagnostic]) -> FleetResult:
    """The fleet-wide steps after every workload compiled (`results[k]` is `compile_workload(ordered[k])`):
    name conflicts, one-sided and failed-peer warnings, the secret stores' readers and the gateways.

    They read of each outcome's objects only the names, the ExternalSecrets, Certificates and routes, and
    the volumes and mounts of pod templates (what `uniqueness` and `secrets.store_readers` look at)."""
    outcomes: list[ServiceOutcome] = []
    compiled: list[Sourced] = []
    others: Counter[str] = Counter()
    for item, maybe in zip(ordered, results, strict=True):
        if maybe is None:
            others[item.resource.kind] += 1
        else:
            outcomes.append(maybe)
            compiled.append(item)
    cluster_objects = platform_objects(context)
    _refuse_name_conflicts(outcomes, compiled, context, cluster_objects)
    _refuse_listener_overflow(outcomes, compiled)
    services = [item.resource for item, outcome in zip(compiled, outcomes, strict=True)
                if outcome.ok and isinstance(item.resource, LatticeService)]
    by_key = {(o.ref.namespace or "", o.ref.name): o for o in outcomes}
    failed_keys = context.failed | {key for key, o in by_key.items() if not o.ok}
    for edge in context.graph.one_sided:
        for about in (edge.declared_by, edge.missing):
            if about == edge.declared_by and edge.missing in failed_keys:
                continue  # said by the failed-peer warning: the other side failed, it did not refuse
            if about in by_key and by_key[about].ok:  # a failed workload's errors come first
                by_key[about].warnings.append(one_sided_warning(edge, about, context.graph))
    for key, outcome in by_key.items():
        if outcome.ok:
            outcome.warnings.extend(failed_peer_warnings(context.graph, key, failed_keys))
    return FleetResult(
        services=outcomes, errors=errors, others=others, context=context,
        # Stores open only to the namespaces whose ExternalSecrets survived every check (names never depend on it).
        cluster_objects=platform_objects(context, [obj for outcome in outcomes for obj in outcome.objects]),
        namespace_objects=ingress_objects.gateways(services, context.platform),
    )


def _refuse_listener_overflow(outcomes: list[ServiceOutcome], items: list[Sourced]) -> None:
    """A namespace's Gateway holds at most 64 listeners; past that the API server refuses it and no route of
    the namespace is served. Every routed service there fails (as colliding names do: file order never picks
    which), with the count and how to route fewer hosts."""
    by_namespace: dict[str, list[tuple[ServiceOutcome, set[str]]]] = {}
    for outcome, item in zip(outcomes, items, strict=True):
        if outcome.ok and isinstance(item.resource, LatticeService) and item.resource.spec.ingress is not None:
            by_namespace.setdefault(item.resource.namespace, []).append(
                (outcome, ingress_objects.listener_names(item.resource)))
    for namespace, routed in by_namespace.items():
        count = len(set().union(*(names for _, names in routed)))
        if count <= ingress_objects.MAX_LISTENERS:
            continue
        for outcome, _ in routed:
            outcome.errors, outcome.objects, outcome.warnings = [Problem(
                "spec.ingress",
                f"the routes of namespace `{namespace}` need {count} listeners on its Gateway (a TLS host takes "
                f"two: HTTPS and the HTTP redirect); Gateway API allows at most {ingress_objects.MAX_LISTENERS}, "
                "so the Gateway would be refused and no route of the namespace served",
                "route fewer distinct hosts from this namespace: one wildcard host (`*.example.com`) covers many, "
                "or move some services to another namespace")], [], []


def _refuse_name_conflicts(outcomes: list[ServiceOutcome], items: list[Sourced], context: CompileContext,
                           cluster_objects: list[Obj]) -> None:
    """The fleet-wide safety net: a compiled workload whose emitted names collide fails, with nothing emitted.
    The shared per-namespace objects are checked as they would be with every compiled service routed."""
    ok = [(outcome, item) for outcome, item in zip(outcomes, items, strict=True) if outcome.ok]
    stores = [*context.secret_providers, *filter(None, [context.platform.secrets.default_provider])]
    owners = [uniqueness.Owner(str(item.ref), item.location, outcome.objects,
                               partial(provenance.input_paths, item.resource, stores=stores,
                                       image_providers=list(context.image_providers)))
              for outcome, item in ok]
    routed = [item.resource for _, item in ok if isinstance(item.resource, LatticeService)]
    shared = [*cluster_objects, *ingress_objects.gateways(routed, context.platform)]
    for index, problems in uniqueness.check(owners, shared).items():
        outcome = ok[index][0]
        outcome.errors, outcome.objects, outcome.warnings = problems, [], []
