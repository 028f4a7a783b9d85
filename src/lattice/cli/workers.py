"""Compiling and rendering a large fleet on every core: `fleet.compile_fleet` then the YAML stream, in parts.

The fleet-wide steps stay whole and in this process: `check_fleet` (duplicates, platform, reserved names, the
shared context and graph) before, `fleet.finish_fleet` (name conflicts, one-sided and failed-peer warnings,
secret-store readers, gateways) after. Only `compile_workload`, which reads nothing but its item and the context,
runs in forked workers, over contiguous ranges of the compile order; they inherit the items and the context
(copy-on-write, never pickled) and each renders its workloads' YAML itself. What comes back per workload is its
errors and warnings, its YAML bytes and a `skeleton` of its objects: the few fields the fleet-wide steps read.
Sending the whole objects back through a pipe cost more than compiling them.

The answer is the serial one byte for byte (tests/test_workers.py compares them): same order, same outcomes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from lattice import render
from lattice.collector import collector_paused
from lattice.compiler import CompileContext
from lattice.compiler.meta import Obj
from lattice.errors import ObjectRef
from lattice.fleet import (
    FleetResult,
    ServiceOutcome,
    Sourced,
    admit,
    check_fleet,
    compile_order,
    compile_workload,
    finish_fleet,
)
from lattice.gates.admission import ImageChecks

PARALLEL_MIN_WORKLOADS = 200
"""Below this many workloads one process is faster than starting workers."""

_WHOLE = frozenset({"ExternalSecret", "Certificate", "HTTPRoute", "GRPCRoute"})
_PODS = frozenset({"Deployment", "StatefulSet", "Job"})

_ORDERED: list[Sourced] = []  # what forked workers read (inherited, never sent through a pipe)
_CONTEXT: CompileContext | None = None


@dataclass(slots=True)
class RenderedFleet:
    """A compiled fleet whose workloads' YAML is already rendered: `texts[k]` is the YAML of
    `result.services[k]`'s objects (`render.dump_yaml_stream`). Those objects are skeletons (see `skeleton`):
    write the output with `yaml_parts`, never by rendering `result.objects`."""

    result: FleetResult
    texts: list[bytes]

    def yaml_parts(self) -> Iterator[bytes]:
        """`render.dump_yaml_stream(result.objects)` as UTF-8, in parts; failed workloads emit nothing."""
        first = True
        head = [*self.result.cluster_objects, *self.result.namespace_objects]
        if head:
            yield render.dump_yaml_stream(head).encode()
            first = False
        for outcome, text in zip(self.result.services, self.texts, strict=True):
            if outcome.ok and outcome.objects:
                yield text if first else b"---\n" + text
                first = False


def worker_count() -> int:
    return min(len(os.sched_getaffinity(0)), 8) if hasattr(os, "sched_getaffinity") else 1


def parallel_possible(workloads: int) -> bool:
    return worker_count() >= 2 and workloads >= PARALLEL_MIN_WORKLOADS \
        and "fork" in multiprocessing.get_all_start_methods()


def compile_rendered(items: list[Sourced], failed: Iterable[ObjectRef] = (), *,
                     workers: int | None = None, image_checks: ImageChecks | None = None) -> RenderedFleet:
    """`compile_fleet(items, failed)` with each workload's YAML rendered, by forked workers when `workers`
    (default: one per core) is 2 or more and the fleet is large enough; else in this process."""
    with collector_paused():
        checked, context, errors = check_fleet(items, failed)
        ordered = admit(compile_order(checked), context, image_checks)
        count = worker_count() if workers is None else workers
        if workers is None and not parallel_possible(len(ordered)):
            count = 1
        pairs = _parallel(ordered, context, count) if count >= 2 else _compile_range(ordered, context)
        outcomes = [outcome for outcome, _ in pairs]
        result = finish_fleet(ordered, outcomes, context, errors)
        return RenderedFleet(result, [text for outcome, text in pairs if outcome is not None])


Pair = tuple[ServiceOutcome | None, bytes]
"""A workload's outcome (None for a kind only validated) and its YAML."""


def _parallel(ordered: list[Sourced], context: CompileContext, workers: int) -> list[Pair]:
    global _ORDERED, _CONTEXT
    step = max(1, -(-len(ordered) // (workers * 8)))
    ranges = [(k, min(k + step, len(ordered))) for k in range(0, len(ordered), step)]
    _ORDERED, _CONTEXT = ordered, context
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return [pair for part in pool.map(_compile_bounds, ranges) for pair in part]
    except BrokenProcessPool:
        # A worker died (killed, out of memory): `multiprocessing.Pool` would wait for it forever. Compiling
        # here gives the same answer, or fails the same way where it can be seen.
        return _compile_range(ordered, context)
    finally:
        _ORDERED, _CONTEXT = [], None


def _compile_bounds(bounds: tuple[int, int]) -> list[Pair]:
    assert _CONTEXT is not None
    pairs = _compile_range(_ORDERED[bounds[0]:bounds[1]], _CONTEXT)
    for outcome, _ in pairs:
        if outcome is not None:
            outcome.objects = [skeleton(obj) for obj in outcome.objects]
    return pairs


def _compile_range(items: list[Sourced], context: CompileContext) -> list[Pair]:
    out: list[Pair] = []
    for item in items:
        outcome = compile_workload(item, context)
        out.append((outcome, render.dump_yaml_stream(outcome.objects).encode() if outcome is not None else b""))
    return out


def skeleton(obj: Obj) -> Obj:
    """The fields of a compiled object that the fleet-wide steps read: its identity; ExternalSecrets,
    Certificates and routes whole (the Secrets and hosts they claim, the stores they read); pod templates'
    volumes and each container's mounts (`uniqueness.pod_problems`)."""
    kind, meta = obj["kind"], obj["metadata"]
    if kind in _WHOLE:
        return obj
    out: Obj = {"apiVersion": obj["apiVersion"], "kind": kind,
                "metadata": {key: meta[key] for key in ("name", "namespace") if key in meta}}
    if kind in _PODS:
        template = (obj.get("spec") or {}).get("template")
        if not template:
            out["spec"] = {"template": template}
        else:
            pod = template.get("spec") or {}
            out["spec"] = {"template": {"spec": {
                "volumes": pod.get("volumes") or [],
                "containers": [{"name": c["name"], "volumeMounts": c.get("volumeMounts") or []}
                               for c in pod.get("containers") or []],
            }}}
    return out
