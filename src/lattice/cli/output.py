"""Writing what was compiled: the YAML stream (rendered on every core for large fleets) and `--out-dir`.

`--out-dir` is checked before anything is compiled (a file in its place, or a directory that cannot be
created, is a usage error), and its files are written into a fresh directory beside it first and then moved
in one by one with `os.replace`, so no file is ever half-written and a failure leaves nothing new behind.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lattice import render
from lattice.compiler.meta import Obj

PARALLEL_MIN_OBJECTS = 2_000
"""Below this many objects one process renders faster than starting workers."""

_OBJECTS: list[Obj] = []  # what forked render workers read (inherited, never sent through a pipe)


def yaml_stream(objects: list[Obj]) -> Iterator[bytes]:
    """`render.dump_yaml_stream(objects)` as UTF-8, in parts, byte-identical to rendering it in one go.

    Large outputs are rendered by one forked worker per core, each over a contiguous range of objects,
    returned in order: the objects are inherited by the fork, only the text comes back."""
    global _OBJECTS
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if workers < 2 or len(objects) < PARALLEL_MIN_OBJECTS or "fork" not in multiprocessing.get_all_start_methods():
        yield render.dump_yaml_stream(objects).encode()
        return
    parts = workers * 4
    step = -(-len(objects) // parts)
    ranges = [(k, min(k + step, len(objects))) for k in range(0, len(objects), step)]
    _OBJECTS = objects
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for k, text in enumerate(pool.imap(_render_range, ranges)):
                yield b"---\n" + text if k else text
    finally:
        _OBJECTS = []


def _render_range(bounds: tuple[int, int]) -> bytes:
    return render.dump_yaml_stream(_OBJECTS[bounds[0]:bounds[1]]).encode()


def out_dir_problem(out_dir: Path) -> str | None:
    """Why `--out-dir` cannot be used (checked before compiling), or None."""
    if out_dir.exists() and not out_dir.is_dir():
        return "it exists and is not a directory"
    existing = out_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory, so it cannot be created"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable" if existing == out_dir else \
            f"it cannot be created: {existing} is not writable"
    return None


def write_out_dir(files: dict[Path, str], out_dir: Path) -> None:
    """Write `files` (paths relative to `out_dir`) so that each appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lattice-", dir=out_dir))
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for relative in files:
            (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, out_dir / relative)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
