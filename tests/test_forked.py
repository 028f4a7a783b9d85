"""`lattice.cli.forked`: work over shards in forked children gives the serial answer, in order, whatever a
child does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lattice.cli import forked

needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="forking needs two cores to matter")


@needs_two_cores
def test_results_come_back_in_order_from_children_that_see_this_process_state() -> None:
    parent = os.getpid()
    state = {"offset": 1000}  # reached through the closure, never sent: the children inherit it

    def fn(item: int) -> tuple[int, bool]:
        return item + state["offset"], os.getpid() != parent

    results = forked.map_items(fn, list(range(500)), workers=2)
    assert [value for value, _ in results] == [k + 1000 for k in range(500)]
    assert all(in_child for _, in_child in results)


def test_one_worker_runs_in_this_process() -> None:
    parent = os.getpid()
    assert forked.map_items(lambda item: (item, os.getpid()), [1, 2, 3], workers=1) == [(1, parent), (2, parent),
                                                                                        (3, parent)]


@needs_two_cores
def test_a_child_that_dies_has_its_shards_done_again_here() -> None:
    parent = os.getpid()

    def fn(item: int) -> int:
        if item == 37 and os.getpid() != parent:
            os._exit(9)  # as the kernel's out-of-memory killer would
        return item * 2

    assert forked.map_items(fn, list(range(200)), workers=2) == [k * 2 for k in range(200)]


@needs_two_cores
def test_an_exception_in_a_child_is_raised_here() -> None:
    def fn(item: int) -> int:
        if item == 120:
            raise ValueError("item 120 is bad")
        return item

    with pytest.raises(ValueError, match="item 120 is bad"):
        forked.map_items(fn, list(range(200)), workers=2)


@needs_two_cores
def test_bytes_a_child_appends_to_its_spool_reach_a_file_unchanged(tmp_path: Path) -> None:
    texts = [f"document {k}\n".encode() * (k % 7 + 1) for k in range(300)]

    def work(start: int, stop: int, spool: forked.Spool) -> tuple[int, int, int]:
        data = b"".join(texts[start:stop])
        return spool.number, spool.append(data), len(data)

    shards = forked.Shards(work, len(texts), workers=2, codec=forked.MARSHAL)
    out = tmp_path / "out"
    with out.open("wb") as sink:
        for number, offset, length in shards:
            shards.spool(number).send_to(sink.fileno(), offset, length)
    assert out.read_bytes() == b"".join(texts)
    with (tmp_path / "appended").open("ab") as sink:  # sendfile refuses O_APPEND: copied instead
        shards.spool(0).send_to(sink.fileno(), 0, 5)
    assert (tmp_path / "appended").read_bytes() == b"".join(texts)[:5]


@needs_two_cores
def test_every_field_of_an_outcome_comes_back_from_the_compile_workers() -> None:
    """Not only what tests/test_workers.py compares: the gates' report and any field added to ServiceOutcome."""
    import dataclasses

    from lattice.cli import workers
    from lattice.fleet import compile_fleet
    from test_workers import FLEETS, _items

    items = _items(FLEETS["everything"])
    serial = compile_fleet(items).services
    parallel = workers.compile_rendered(items, workers=2).result.services
    assert any(outcome.gate is not None for outcome in serial)
    rest = [f.name for f in dataclasses.fields(serial[0]) if f.name != "objects"]  # objects become skeletons
    assert [[getattr(o, name) for name in rest] for o in parallel] == [[getattr(o, name) for name in rest]
                                                                       for o in serial]
