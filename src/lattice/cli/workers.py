from __future__ import annotations

import dataclasses
import io
import marshal
import multiprocessing
import os
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from lattice import render
from lattice.cli.forked import Codec, Shards, Spool
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
_SEPARATOR = b"---\n"


@dataclass(frozen=True, slots=True)
class Text:
    """Where a workload's YAML is: `length` bytes at `offset` of `spool`, starting with `---\n` (no bytes at
    all when it has no objects)."""

    spool: Spool
    offset: int
    length: int


@dataclass(slots=True)
class RenderedFleet:
    """A compiled fleet whose workloads' YAML is already rendered: `texts[k]` holds the YAML of
    `result.services[k]`'s objects (`render.dump_yaml_stream`). Those objects are skeletons (see `skeleton`):
    write the output with `write_to` or `yaml_parts`, never by rendering `result.objects`."""

    result: FleetResult
    texts: list[Text]

    def yaml_parts(self) -> Iterator[bytes]:
        """`render.dump_yaml_stream(result.objects)` as UTF-8, in parts; failed workloads emit nothing."""
        first = True
        head = [*self.result.cluster_objects, *self.result.namespace_objects]
        if head:
            yield render.dump_yaml_stream(head).encode()
            first = False
        for outcome, text in zip(self.result.services, self.texts, strict=True):
            if outcome.ok and outcome.objects and text.length:
                data = text.spool.read(text.offset, text.length)
                yield data[len(_SEPARATOR):] if first else data
                first = False

    def write_to(self, stream: IO[bytes]) -> None:
        """Write `yaml_parts()` to `stream`: for a real file or pipe, the kernel copies the workloads' YAML from
        the spools (`os.sendfile`), in as few calls as there are runs of adjacent texts."""
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            for part in self.yaml_parts():
                stream.write(part)
            return
        stream.flush()
        head = [*self.result.cluster_objects, *self.result.namespace_objects]
        skip = 0 if head else len(_SEPARATOR)  # the first document has no separator before it
        if head:
            stream.write(render.dump_yaml_stream(head).encode())
            stream.flush()
        run: list[Any] = []  # [spool, offset, length] of the run of adjacent texts not yet written
        for outcome, text in zip(self.result.services, self.texts, strict=True):
            if not (outcome.ok and outcome.objects and text.length):
                continue
            if run and run[0] is text.spool and run[1] + run[2] == text.offset:
                run[2] += text.length
                continue
            if run:
                run[0].send_to(fd, run[1], run[2])
            run = [text.spool, text.offset + skip, text.length - skip]
            skip = 0
        if run:
            run[0].send_to(fd, run[1], run[2])


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
        outcomes, texts = compile_shards(ordered, context, count)
        result = finish_fleet(ordered, outcomes, context, errors)
        return RenderedFleet(result, [text for outcome, text in zip(outcomes, texts, strict=True)
                                      if outcome is not None])


_REST = tuple(f.name for f in dataclasses.fields(ServiceOutcome) if f.name not in ("source", "ref", "objects"))
"""The fields of an outcome besides its identity and objects (problems, the gates' report, whatever is added
later): they travel as they are, pickled together, and only when one of them is set."""

Entry = tuple[str, str, str, str | None, list[Obj], dict[str, Any] | None, int]
"""A compiled workload as it travels: source, kind, name, namespace, skeleton objects, its other fields (None
when every one is empty) and the length of its YAML."""
Shard = tuple[int, int, list[Entry | None]]
"""A shard's result: the number of the spool holding its YAML, where that starts, one entry per item (None for a
kind only validated)."""


def compile_shards(ordered: list[Sourced], context: CompileContext, workers: int
                   ) -> tuple[list[ServiceOutcome | None], list[Text]]:
    """`compile_workload` of every item, in order, and where its YAML is; in `workers` forked processes when
    that is 2 or more."""

    def work(start: int, stop: int, spool: Spool) -> Shard:
        entries: list[Entry | None] = []
        parts: list[bytes] = []
        for item in ordered[start:stop]:
            outcome = compile_workload(item, context)
            if outcome is None:
                entries.append(None)
                continue
            text = _SEPARATOR + render.dump_yaml_stream(outcome.objects).encode() if outcome.objects else b""
            parts.append(text)
            ref = outcome.ref
            rest = {name: getattr(outcome, name) for name in _REST}
            entries.append((outcome.source, ref.kind, ref.name, ref.namespace,
                            [skeleton(obj) for obj in outcome.objects], rest if any(rest.values()) else None,
                            len(text)))
        return spool.number, spool.append(b"".join(parts)), entries

    shards = Shards(work, len(ordered), workers=workers, codec=_SHARD_CODEC)
    outcomes: list[ServiceOutcome | None] = []
    texts: list[Text] = []
    for number, offset, entries in shards:
        spool = shards.spool(number)
        for entry in entries:
            if entry is None:
                outcomes.append(None)
                texts.append(Text(spool, offset, 0))
                continue
            source, kind, name, namespace, objects, rest, length = entry
            outcomes.append(ServiceOutcome(source, ObjectRef(kind, name, namespace), objects, **(rest or {})))
            texts.append(Text(spool, offset, length))
            offset += length
    return outcomes, texts


def _encode(shard: Shard) -> bytes:
    """Plain data by `marshal`; an outcome's other fields, rare and typed, by pickle (inside). What `marshal`
    cannot write raises, and the parent does that shard again itself."""
    number, offset, entries = shard
    return marshal.dumps((number, offset, [
        entry if entry is None else (*entry[:5], None if entry[5] is None else pickle.dumps(entry[5]), entry[6])
        for entry in entries]))


def _decode(data: bytes) -> Shard:
    number, offset, entries = marshal.loads(data)
    return number, offset, [
        entry if entry is None else (*entry[:5], None if entry[5] is None else pickle.loads(entry[5]), entry[6])
        for entry in entries]


_SHARD_CODEC = Codec(_encode, _decode)


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
