"""Pausing CPython's cyclic garbage collector while a fleet compiles.

Compiling allocates millions of small dicts and lists that form no reference cycles; the cyclic collector
would still rescan the whole growing live set on every full collection. At 10,000 services that was 60% of
graph-and-policy time (bench/graph.py), and parsing 10,000 services took 3x longer with it on
(bench/compile.py). Reference counting frees everything that matters; the collector is restored after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; re-enable it only if it was enabled before (nesting is safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
