"""The controller's loop: the fleet in memory, recompiled where a change reaches, applied, and reported.

Events (from kopf's watches) only record what changed and mark the services it affects; one task compiles and
applies the marked services in bursts, so a burst of changes costs one compile per affected service. What a change
reaches: the service itself and every workload that names it or that it names (an edge, agreed or one-sided, always
has one side naming the other); the services of a namespace whose quota or whose quota usage changed; everything
when a policy, a provider or the platform changes; the services an image gate refused, 30 s after the refusal, then
at doubling intervals up to 10 min, and at once when the registry logins change (no watch event tells of a registry
back up or a signature pushed later; `lattice.controller.rechecks`). Who names a workload comes from the fleet
graph kept between bursts (`FleetMemo`). The compile is the CLI's: the same `check_fleet`, gates (`fleet.admit`)
and `compile_workload`, so the cluster gets what `lattice compile` prints.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lattice.api import parse_resource
from lattice.api.base import Resource
from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.parse import KINDS as SOURCE_KINDS
from lattice.api.quota import LatticeQuota
from lattice.api.service import LatticeService
from lattice.collector import collector_paused
from lattice.compiler import CompileContext, naming
from lattice.compiler.meta import Obj
from lattice.controller import plan
from lattice.controller import status as statuses
from lattice.controller.cluster import SOURCE_API_VERSION, Cluster, source_kind, status_code
from lattice.controller.metrics import Metrics
from lattice.controller.rechecks import RecheckSchedule
from lattice.errors import LatticeError, ObjectRef, Problem
from lattice.fleet import (
    FleetMemo,
    FleetResult,
    ServiceOutcome,
    Sourced,
    admit,
    check_fleet,
    compile_order,
    compile_workload,
    finish_fleet,
)
from lattice.gates.admission import skip_verification
from lattice.gates.images import ImageCheck
from lattice.gates.quota import Demand, describe_usage
from lattice.graph import Key, target_of
from lattice.registry.auth_file import AuthFile, AuthFileError
from lattice.registry.check import check_images
from lattice.registry.client import RegistryClient
from lattice.registry.signatures import VerificationCache

log = logging.getLogger("lattice.controller")

SourceId = tuple[str, str, str]  # (kind, namespace or "", name)
WORKLOAD_KINDS = frozenset({"LatticeService", "LatticeMeshMember"})
FLEET_WIDE_KINDS = frozenset({"CedarPolicy", "LatticePlatform", "SecretProvider", "ImageProvider"})
NOT_COMPILED_KINDS = frozenset({"LatticeJob", "LatticeModel"})
"""Validated and given a status that says nothing was created for them (`lattice.controller.status`)."""
PLATFORM_OWNER = "platform"  # the owner key of the cluster-wide and per-namespace shared objects


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class _Source:
    body: Obj
    parsed: Resource | None
    identity: tuple[Any, ...]
    """What a change must alter to matter: generation (the spec), labels and annotations."""
    problems: list[Problem] = field(default_factory=list)
    """Why it did not parse (reported in its status)."""


@dataclass(slots=True)
class _Compiled:
    """The last compile of a workload, reused while nothing reaches it."""

    objects: list[Obj]
    warnings: list[Any]
    errors: list[Any]
    gate_errors: list[Any]


@dataclass(slots=True)
class Reconciler:
    cluster: Cluster
    metrics: Metrics = field(default_factory=Metrics)
    debounce: float = 0.05
    concurrency: int = 32
    registry_threads: int = 8
    """Services whose images are checked at once (each check asks the registry in a thread of its own)."""
    now: Callable[[], dt.datetime] = _now
    sources: dict[SourceId, _Source] = field(default_factory=dict)
    compiled: dict[Key, _Compiled] = field(default_factory=dict)
    applied: dict[str, dict[plan.ObjectId, Obj]] = field(default_factory=dict)
    """What was last applied, by owner uid (PLATFORM_OWNER for the shared objects)."""
    versions: dict[plan.ObjectId, tuple[str, int]] = field(default_factory=dict)
    """(resourceVersion, generation) each owned object had after our last write: our own echo is ignored."""
    deployments: dict[Key, Obj] = field(default_factory=dict)
    written_status: dict[SourceId, Obj] = field(default_factory=dict)
    dirty: set[Key] = field(default_factory=set)
    status_dirty: set[Key] = field(default_factory=set)
    everything: bool = True
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    seeded: bool = False
    registry: RegistryClient = field(default_factory=RegistryClient)
    auth_file: AuthFile | None = None
    """Registry logins, read again when the file changes (`lattice.registry.auth_file`)."""
    auth_problem: str = ""
    """The last auth file problem logged (each is logged once)."""
    rechecks: RecheckSchedule = field(default_factory=RecheckSchedule)
    """When each service an image gate refused is checked again (see `recheck_images`)."""
    shared_failures: int = 0
    """Bursts in a row whose shared objects failed to apply: the retry backs off, 2 s doubling to 60 s."""
    verification_cache: VerificationCache = field(default_factory=VerificationCache)
    image_facts: dict[Key, dict[str, ImageCheck]] = field(default_factory=dict)
    last: dict[Key, tuple[ServiceOutcome, list[Any]]] = field(default_factory=dict)
    """Each workload's last outcome and one-sided edges: a rollout's progress only rewrites status from them."""
    seeded_kinds: set[plan.Kind] = field(default_factory=set)
    memo: FleetMemo = field(default_factory=FleetMemo)
    """The graph's declarations between bursts (updated for the workloads that changed)."""

    # --- what the watches report -------------------------------------------------------------------------
    def observe_source(self, kind: str, body: Obj, deleted: bool = False) -> None:
        meta = body.get("metadata") or {}
        sid = (kind, meta.get("namespace") or "", meta.get("name", ""))
        identity = (meta.get("generation"), meta.get("labels"), meta.get("annotations"), meta.get("uid"))
        before = self.sources.get(sid)
        if deleted:
            self.sources.pop(sid, None)
            self.written_status.pop(sid, None)
            if kind in WORKLOAD_KINDS:
                self._forget((sid[1], sid[2]), meta.get("uid", ""))
        elif before is not None and before.identity == identity:
            return  # a status write (ours) or a no-op
        else:
            parsed, problems = self._parse(body)
            self.sources[sid] = _Source(body, parsed, identity, problems)
        self._mark(sid, before.parsed if before else None, None if deleted else self.sources[sid].parsed)

    def observe_owned(self, body: Obj, deleted: bool = False) -> None:
        """An object Lattice owns changed: our own echo is ignored; a Deployment's status refreshes the owner's
        status; anything else (a hand edit, a deletion) is drift, reverted by compiling and applying again."""
        oid = plan.object_id(body)
        meta = body.get("metadata") or {}
        owner = self._owner_key(meta)
        if owner is None:
            return
        if body.get("kind") == "Deployment" and not deleted:
            self.deployments[owner] = body
        mine = self.versions.get(oid)
        if not deleted and mine is not None:
            if meta.get("resourceVersion") == mine[0]:
                return
            if body.get("kind") == "Deployment" and meta.get("generation") == mine[1]:
                self.status_dirty.add(owner)  # only its status moved: the rollout progressed
                self.wake.set()
                return
        self.versions.pop(oid, None)  # drift: applied again even though the compile did not change
        self.dirty.add(owner)
        self.wake.set()

    def _owner_key(self, meta: Mapping[str, Any]) -> Key | None:
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") in WORKLOAD_KINDS:
                return (meta.get("namespace") or "", ref.get("name", ""))
        return None

    def _parse(self, body: Obj) -> tuple[Resource | None, list[Problem]]:
        try:
            return parse_resource(body), []
        except LatticeError as error:
            return None, list(error.problems)  # reported in its status, as a failed input

    def _forget(self, key: Key, uid: str) -> None:
        """A deleted workload: the garbage collector removes its objects; nothing of it is kept here."""
        for oid in self.applied.pop(uid, {}):
            self.versions.pop(oid, None)
        self.compiled.pop(key, None)
        self.deployments.pop(key, None)
        self.image_facts.pop(key, None)
        self.last.pop(key, None)

    def _mark(self, sid: SourceId, before: Resource | None, after: Resource | None) -> None:
        kind, namespace, name = sid
        if kind in FLEET_WIDE_KINDS:
            self.everything = True
        elif kind == "LatticeQuota":
            self.dirty.update(self._workloads_in(namespace))
        elif kind in WORKLOAD_KINDS:
            key = (namespace, name)
            self.dirty.add(key)
            for res in (before, after):
                self.dirty.update(_named_by(res))
            self.dirty.update(self._naming(key))
        self.wake.set()

    def _workloads_in(self, namespace: str) -> set[Key]:
        return {(ns, name) for kind, ns, name in self.sources if kind in WORKLOAD_KINDS and ns == namespace}

    def _naming(self, key: Key) -> frozenset[Key]:
        """The workloads whose dependencies name `key`, from the graph as of the last burst: a workload that
        changed since is marked itself, and what it names now with it."""
        return self.memo.graph.naming(key)

    # --- the loop -------------------------------------------------------------------------------------------
    async def run(self) -> None:
        rechecks = asyncio.get_running_loop().create_task(self.recheck_images())
        try:
            await self._loop()
        finally:
            rechecks.cancel()

    async def recheck_images(self, tick: float = 1.0) -> None:
        """The services an image gate refused are checked again when their recheck is due (the registry is
        back, the signature was pushed after the service: `rechecks` backs off per service) and all of them at
        once when the registry logins change (the Secret was created or rotated): nothing else about them
        changes, so no watch event would."""
        while True:
            await asyncio.sleep(tick)
            try:
                logins_changed = self.auth_file is not None and self.auth_file.changed()
            except OSError as error:  # a transient stat failure must not end the rechecks
                log.warning("reading the registry auth file failed (%s)", error)
                continue
            keys = self.rechecks.restart() if logins_changed else self.rechecks.take_due(time.monotonic())
            if keys:
                log.info("checking the images of %d refused services again (%s)", len(keys),
                         "the registry logins changed" if logins_changed else "their recheck is due")
                self.dirty |= keys
                self.wake.set()

    async def _loop(self) -> None:
        while True:
            await self.wake.wait()
            await asyncio.sleep(self.debounce)  # let a burst of events arrive
            self.wake.clear()
            try:
                await self.reconcile()
            except Exception:  # one failed burst must not stop the controller; the next one retries
                log.exception("reconcile failed; retrying")
                self.metrics.failures.labels(reason="internal").inc()
                self.everything = True
                await asyncio.sleep(1)
                self.wake.set()

    async def seed(self) -> None:
        """What Lattice applied before this process started, so pruning sees it. Each kind is listed until it
        answers (a flaky API server fails one list, not the whole start)."""
        for kind in plan.WRITTEN_KINDS:
            if kind in self.seeded_kinds:
                continue
            for attempt in range(1, 11):
                try:
                    found = [obj async for obj in self.cluster.list_managed(kind)]
                    break
                except Exception as error:
                    if attempt == 10:
                        raise
                    log.warning("listing %s failed (%s); retrying", kind.plural, _describe(error))
                    await asyncio.sleep(0.2 * attempt)
            self.seeded_kinds.add(kind)
            for obj in found:
                refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
                shared = (obj["metadata"].get("labels") or {}).get(naming.SHARED_LABEL) == "true"
                if not refs and not shared:
                    continue  # Lattice's label but no owner Lattice knows (e.g. `lattice install`'s): never pruned
                owner = refs[0]["uid"] if refs else PLATFORM_OWNER
                self.applied.setdefault(owner, {})[plan.object_id(obj)] = obj
                if obj["kind"] == "Deployment":
                    key = self._owner_key(obj["metadata"])
                    if key is not None:
                        self.deployments[key] = obj
        self.seeded = True

    async def reconcile(self) -> None:
        if not self.seeded:
            await self.seed()
        if not self.everything and not self.dirty and self.status_dirty:
            await self._statuses_only()  # only rollouts moved: nothing to compile, only Ready to report
            return
        started = time.perf_counter()
        items, failed = self._fleet()
        with collector_paused():
            checked, context, fleet_errors = check_fleet(items, failed, self.memo)
        batch = set(self._all_workloads()) if self.everything else set(self.dirty)
        self.everything, self.dirty = False, set()
        await self._mark_compiling(batch)
        images_checked = await self._check_images(checked, context, batch)
        status_only = self.status_dirty - batch
        self.status_dirty = set()
        with collector_paused():
            result, by_key = self._compile(checked, context, fleet_errors, batch, images_checked)
        try:
            await self._apply_shared([*result.cluster_objects, *result.namespace_objects])
            self.shared_failures = 0
        except Exception as error:  # the shared objects failing must not hold back every service
            delay = min(60.0, 2.0 * 2 ** self.shared_failures)
            self.shared_failures += 1
            log.warning("applying the platform objects failed (%s); retrying in %.0f s", _describe(error), delay)
            self.metrics.failures.labels(reason="platform-objects").inc()
            self._burst_later(delay)
        await self._platform_statuses(result)
        semaphore = asyncio.Semaphore(self.concurrency)

        one_sided: dict[Key, list[Any]] = {}
        for edge in context.graph.one_sided:  # one pass, not one scan of every edge per service
            for end in {edge.caller, edge.callee}:
                one_sided.setdefault(end, []).append(edge)
        self.last = {key: (outcome, one_sided.get(key, [])) for key, outcome in by_key.items()}

        async def one(key: Key, outcome: ServiceOutcome, apply: bool) -> None:
            async with semaphore:
                await self._service(key, outcome, one_sided.get(key, []), apply)

        await asyncio.gather(*(one(key, outcome, key in batch) for key, outcome in by_key.items()
                               if key in batch or key in status_only))
        self.metrics.reconcile_seconds.observe(time.perf_counter() - started)

    def _compile(self, checked: list[Sourced], context: CompileContext, fleet_errors: list[Any], batch: set[Key],
                 images_checked: set[Key]) -> tuple[FleetResult, dict[Key, ServiceOutcome]]:
        """The gates over the fleet, then the compile of what `batch` names (growing it by the workloads whose
        gate decision changed; the others reuse their last compile), then the fleet-wide steps. CPU only."""
        ordered = admit(compile_order(checked), context, self.image_facts)
        image_refused = {(item.ref.namespace or "", item.ref.name) for item in ordered
                         if item.gate is not None and item.gate.by_condition.get("ImagesVerified")}
        self.rechecks.decided(image_refused, images_checked, time.monotonic())
        results: list[ServiceOutcome | None] = []
        for item in ordered:
            key = (item.ref.namespace or "", item.ref.name)
            cached = self.compiled.get(key)
            gate_errors = list(item.gate.errors) if item.gate is not None else []
            if cached is not None and key not in batch and cached.gate_errors == gate_errors:
                results.append(ServiceOutcome(item.source, item.ref, list(cached.objects), list(cached.warnings),
                                              list(cached.errors), gate=item.gate))
                continue
            if item.resource.kind in WORKLOAD_KINDS:
                batch.add(key)
            compile_started = time.perf_counter()
            outcome = compile_workload(item, context)
            self.metrics.compile_seconds.observe(time.perf_counter() - compile_started)
            if outcome is not None:
                self.compiled[key] = _Compiled(outcome.objects, list(outcome.warnings), list(outcome.errors),
                                               gate_errors)
            results.append(outcome)
        result = finish_fleet(ordered, results, context, fleet_errors)
        self.metrics.fleet_size.set(len(result.services))
        by_key = {(o.ref.namespace or "", o.ref.name): o for o in result.services}
        by_key.update(self._refused_inputs(batch - set(by_key), result.errors))
        for key in set(self.compiled) - set(by_key):
            self.compiled.pop(key, None)
        return result, by_key

    def _refused_inputs(self, keys: set[Key], errors: list[Any]) -> dict[Key, ServiceOutcome]:
        """The workloads that never reached the compile (their spec did not parse, or a fleet-wide check
        refused them): a Failed outcome with no objects and the problems that stopped them, for their status."""
        out = {}
        for key in keys:
            kind = next((k for k in ("LatticeService", "LatticeMeshMember") if (k, *key) in self.sources), None)
            if kind is None:
                continue
            source = self.sources[(kind, *key)]
            ref = ObjectRef(kind, key[1], key[0] or None)
            problems = source.problems or [d.problem for d in errors if d.ref == ref] or [
                Problem("", "refused by a fleet-wide check", "see the controller's log")]
            out[key] = ServiceOutcome("cluster", ref, errors=problems)
        return out

    async def _mark_compiling(self, batch: set[Key]) -> None:
        """A service whose spec changed since its last status shows `Compiling` until its new compile is
        applied (one write, only for a new generation: a platform change re-derives without it)."""
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(key: Key) -> None:
            sid = ("LatticeService", *key)
            source = self.sources.get(sid)
            if source is None:
                return
            previous = self._previous_status(sid, source)
            generation = source.body["metadata"].get("generation", 0)
            if not previous or previous.get("observedGeneration") == generation:
                return
            async with semaphore:
                try:
                    await self._patch_status(sid, statuses.compiling(previous, generation))
                except Exception as error:  # only a progress note: the compile goes on without it
                    log.warning("marking %s/%s Compiling failed (%s)", key[0], key[1], _describe(error),
                                extra={"object_namespace": key[0], "object_name": key[1]})

        await asyncio.gather(*(one(key) for key in batch))

    async def _check_images(self, items: list[Sourced], context: CompileContext, batch: set[Key]) -> set[Key]:
        """In the cluster every image is resolved and its signature verified (DESIGN §4), for the services the
        burst reaches and those never checked; the registry is asked off the event loop, for several services at
        once (one slow registry must not serialise a burst). Returns the services checked."""
        threads = asyncio.Semaphore(self.registry_threads)
        if self._refresh_logins():
            batch |= self.rechecks.restart()  # every refused service, checked again with the new logins, now

        async def one(svc: LatticeService) -> None:
            refs = {name: c.image for name, c in svc.spec.workload.containers.items()}
            skip = skip_verification(svc, context.authorization.policy_set) \
                if context.authorization is not None else frozenset()
            async with threads:
                self.image_facts[(svc.namespace, svc.name)] = await asyncio.to_thread(
                    check_images, refs, context.image_providers, context.platform.images, resolve=True,
                    verify=True, client=self.registry, cache=self.verification_cache, skip_verification=skip)

        services = [item.resource for item in items if isinstance(item.resource, LatticeService)
                    and ((key := (item.resource.namespace, item.resource.name)) in batch
                         or key not in self.image_facts)]
        await asyncio.gather(*(one(svc) for svc in services))
        live = {(item.ref.namespace or "", item.ref.name) for item in items}
        for key in set(self.image_facts) - live:
            del self.image_facts[key]
        return {(svc.namespace, svc.name) for svc in services}

    def _refresh_logins(self) -> bool:
        """The registry logins as the auth file holds them now, and whether they changed; a broken file keeps
        the last good ones (and says so), since checking with none would refuse every private image."""
        if self.auth_file is None:
            return False
        try:
            changed = self.registry.use_credentials(self.auth_file.current())
            self.auth_problem = ""
            return changed
        except AuthFileError as error:
            self.metrics.failures.labels(reason="registry-auth").inc()
            if str(error) != self.auth_problem:  # once per problem, not once per burst
                log.warning("the registry auth file %s cannot be used (%s); keeping the logins read before",
                            error.path, error)
            self.auth_problem = str(error)
            return False

    async def _statuses_only(self) -> None:
        keys, self.status_dirty = self.status_dirty, set()
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(key: Key) -> None:
            outcome, one_sided = self.last[key]
            source = self.sources.get((outcome.ref.kind, key[0], key[1]))
            if source is None or outcome.ref.kind != "LatticeService":
                return
            async with semaphore:
                try:
                    await self._write_status(key, source, outcome, one_sided)
                except Exception as error:  # retried like any failed reconcile
                    log.warning("writing the status of %s/%s failed (%s); retrying", key[0], key[1],
                                _describe(error), extra={"object_namespace": key[0], "object_name": key[1]})
                    self.status_dirty.add(key)
                    self.wake.set()

        await asyncio.gather(*(one(key) for key in keys if key in self.last))

    def _fleet(self) -> tuple[list[Sourced], list[ObjectRef]]:
        items, failed = [], []
        for (kind, ns, name), source in sorted(self.sources.items()):
            if source.parsed is None:
                failed.append(ObjectRef(kind, name, ns or None))
            else:
                items.append(Sourced("cluster", source.parsed))
        return items, failed

    def _all_workloads(self) -> list[Key]:
        return [(ns, name) for kind, ns, name in self.sources if kind in WORKLOAD_KINDS]

    # --- one service ------------------------------------------------------------------------------------------
    async def _service(self, key: Key, outcome: ServiceOutcome, one_sided: list[Any], apply: bool) -> None:
        kind = outcome.ref.kind
        source = self.sources.get((kind, key[0], key[1]))
        if source is None:
            return
        uid = source.body["metadata"].get("uid", "")
        try:
            if apply and outcome.ok:
                await self._apply_owned(uid, plan.with_owner(outcome.objects, plan.Owner(
                    SOURCE_API_VERSION, kind, key[1], uid)))
            elif apply and outcome.gate is not None and outcome.gate.by_condition.get("Authorized"):
                await self._revoke_secrets(uid, outcome)
            await self._write_status(key, source, outcome, one_sided)
            self.metrics.reconciles.labels(result="ok" if outcome.ok else "failed").inc()
            if not outcome.ok:
                reason = "gate" if outcome.gate is not None and outcome.gate.errors else "compile"
                self.metrics.failures.labels(reason=reason).inc()
        except Exception as error:  # a conflict, a 5xx, a timeout, a dropped connection: try again shortly
            code = status_code(error)
            log.warning("reconciling %s/%s failed (%s); retrying", key[0], key[1], _describe(error),
                        extra={"object_namespace": key[0], "object_name": key[1]})
            self.metrics.failures.labels(reason=f"api-{code}" if code else type(error).__name__).inc()
            self._retry_later(key)

    def _burst_later(self, delay: float) -> None:
        """Another burst after `delay` with nothing marked: it compiles nothing again, re-applies the shared
        objects not yet applied and writes the platform-side statuses not yet written (a namespace missing for an
        hour must not re-derive the fleet every 2 s)."""
        async def later() -> None:
            await asyncio.sleep(delay)
            self.wake.set()
        asyncio.get_running_loop().create_task(later())

    def _retry_later(self, key: Key) -> None:
        async def later() -> None:
            await asyncio.sleep(0.5)
            self.dirty.add(key)
            self.wake.set()
        asyncio.get_running_loop().create_task(later())

    async def _apply_owned(self, owner: str, desired: list[Obj]) -> None:
        """Apply in order (what the Deployment needs, the Deployment, what targets it), then delete what the
        compile no longer produces."""
        previous = self.applied.get(owner, {})
        for phase in _phases(desired):
            applied = await asyncio.gather(*(self.cluster.apply(obj) for obj in phase
                                             if previous.get(plan.object_id(obj)) != obj
                                             or plan.object_id(obj) not in self.versions))
            for obj in applied:
                meta = obj.get("metadata") or {}
                self.versions[plan.object_id(obj)] = (meta.get("resourceVersion", ""), meta.get("generation", 0))
        for oid in plan.to_delete(desired, previous.values(), owner):
            await self.cluster.delete(oid)
            self.versions.pop(oid, None)
        self.applied[owner] = {plan.object_id(obj): obj for obj in desired}

    async def _apply_shared(self, objects: list[Obj]) -> None:
        objects = [{**obj, "metadata": {**obj["metadata"], "labels": {
            **(obj["metadata"].get("labels") or {}), naming.SHARED_LABEL: "true"}}} for obj in objects]
        previous = self.applied.get(PLATFORM_OWNER, {})
        wanted = {plan.object_id(obj): obj for obj in objects}
        for obj in plan.apply_order(objects):
            oid = plan.object_id(obj)
            if previous.get(oid) != obj or oid not in self.versions:
                applied = await self.cluster.apply(obj)
                meta = applied.get("metadata") or {}
                self.versions[oid] = (meta.get("resourceVersion", ""), meta.get("generation", 0))
        for oid in set(previous) - set(wanted):
            await self.cluster.delete(oid)
        self.applied[PLATFORM_OWNER] = wanted

    async def _revoke_secrets(self, owner: str, outcome: ServiceOutcome) -> None:
        """A denied secret's ExternalSecret is deleted: access is revoked, not only no longer granted."""
        gate = outcome.gate
        denied = set(gate.denied_secrets) if gate is not None else set()
        previous = self.applied.get(owner, {})
        for oid, obj in list(previous.items()):
            if obj["kind"] == "ExternalSecret" and _reads_any(obj, denied):
                await self.cluster.delete(oid)
                previous.pop(oid)
                self.versions.pop(oid, None)

    async def _write_status(self, key: Key, source: _Source, outcome: ServiceOutcome, one_sided: list[Any]) -> None:
        kind = outcome.ref.kind
        generation = source.body["metadata"].get("generation", 0)
        previous = self._previous_status((kind, *key), source)
        now = self.now()
        if kind == "LatticeService":
            new = statuses.status(outcome, one_sided, self.deployments.get(key), generation, previous, _stamp(now))
        else:
            new = statuses.member_status(outcome, one_sided, generation, previous, _stamp(now))
        await self._put_status((kind, *key), source, previous, new, now)

    async def _platform_statuses(self, result: FleetResult) -> None:
        """The status of every source that is not a workload: accepted, refused (its own problems, or what a
        fleet-wide check found in it), or validated and not compiled (LatticeJob, LatticeModel). Written only
        when it changed; a failed write is tried again in a burst 2 s later (which compiles nothing new)."""
        refused: dict[ObjectRef, list[Problem]] = {}
        for diagnostic in result.errors:
            if diagnostic.ref is not None and diagnostic.ref.kind not in WORKLOAD_KINDS:
                refused.setdefault(diagnostic.ref, []).append(diagnostic.problem)
        admitted: dict[str, list[Demand]] = {}  # by namespace, the services its quotas admitted: their usage
        for outcome in result.services:
            gate = outcome.gate
            if gate is not None and gate.quota == "ok" and gate.demand is not None:
                admitted.setdefault(gate.demand.namespace, []).append(gate.demand)
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(sid: SourceId, source: _Source) -> None:
            kind, namespace, name = sid
            generation = source.body["metadata"].get("generation", 0)
            previous = self._previous_status(sid, source)
            problems = source.problems or refused.get(ObjectRef(kind, name, namespace or None), [])
            stamp = _stamp(now := self.now())
            if kind in NOT_COMPILED_KINDS:
                new = statuses.not_compiled_status(kind, problems, generation, previous, stamp)
            else:
                detail = describe_usage(source.parsed.spec, admitted.get(namespace, [])) \
                    if isinstance(source.parsed, LatticeQuota) else ""
                new = statuses.accepted_status(problems, generation, previous, stamp, detail)
            async with semaphore:
                try:
                    await self._put_status(sid, source, previous, new, now)
                except Exception as error:
                    log.warning("writing the status of %s %s failed (%s)", kind, "/".join(filter(None, sid[1:])),
                                _describe(error), extra={"object_namespace": namespace, "object_name": name})
                    self.metrics.failures.labels(reason="status").inc()
                    self._burst_later(2.0)

        await asyncio.gather(*(one(sid, source) for sid, source in list(self.sources.items())
                               if sid[0] not in WORKLOAD_KINDS))

    def _previous_status(self, sid: SourceId, source: _Source) -> Obj:
        """What we last wrote, else what the object carried when we first saw it (a restart rewrites nothing)."""
        written = self.written_status.get(sid)
        return written if written is not None else source.body.get("status") or {}

    async def _put_status(self, sid: SourceId, source: _Source, previous: Mapping[str, Any], new: Obj,
                          now: dt.datetime) -> None:
        """Write `new` if it differs from `previous`, and an Event for each condition that failed or recovered."""
        if new == previous:
            return
        await self._patch_status(sid, new)
        for type_, reason, message in statuses.transitions(previous, new):
            try:
                await self.cluster.event(source.body, type_, reason, message, now)
            except Exception as error:  # the status says it already; an Event is not worth a second reconcile
                log.warning("recording the %s Event of %s %s failed (%s)", reason, sid[0],
                            "/".join(filter(None, sid[1:])), _describe(error),
                            extra={"object_namespace": sid[1], "object_name": sid[2]})
                self.metrics.failures.labels(reason="event").inc()

    async def _patch_status(self, sid: SourceId, new: Obj) -> None:
        kind, namespace, name = sid
        model = SOURCE_KINDS[kind]
        await self.cluster.patch_status(source_kind(kind, model.PLURAL, model.NAMESPACED), name, namespace, new)
        self.written_status[sid] = new


def _describe(error: BaseException) -> str:
    code = status_code(error)
    return f"HTTP {code}: {error}" if code is not None else f"{type(error).__name__}: {error}"


def _named_by(res: Resource | None) -> set[Key]:
    """The workloads a service or mesh member names in its dependencies."""
    if isinstance(res, LatticeService):
        deps: Iterable[Any] = res.spec.workload.resources.items()
    elif isinstance(res, LatticeMeshMember):
        deps = res.spec.resources.items()
    else:
        return set()
    return {target_of(res.namespace, name, dep) for name, dep in deps if dep.type == "service"}


def _phases(objects: list[Obj]) -> list[list[Obj]]:
    """Before the Deployment, the Deployment, after it: each phase applied together, in order."""
    kinds = [obj["kind"] for obj in objects]
    cut = kinds.index("Deployment") if "Deployment" in kinds else len(objects)
    phases = [objects[:cut], objects[cut:cut + 1], objects[cut + 1:]]
    return [phase for phase in phases if phase]


def _reads_any(external_secret: Obj, denied: set[tuple[str, str]]) -> bool:
    spec = external_secret.get("spec") or {}
    store = (spec.get("secretStoreRef") or {}).get("name", "")
    keys = {(d.get("remoteRef") or {}).get("key") for d in spec.get("data") or []}
    keys |= {(d.get("extract") or {}).get("key") for d in spec.get("dataFrom") or []}
    return any((store, key) in denied for key in keys if key)
