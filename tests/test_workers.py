"""Compiling in forked workers (`lattice.cli.workers`) gives exactly the serial answer: bytes, problems, order."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lattice import render
from lattice.api import is_lattice_document, parse_resource
from lattice.cli import loader, workers
from lattice.cli.loader import Document
from lattice.cli.main import app
from lattice.compiler import CompileContext
from lattice.errors import LatticeError
from lattice.fleet import FleetResult, ServiceOutcome, Sourced, compile_fleet
from tests.support.gates import admitting, open_gates

INPUTS = Path(__file__).parent / "inputs"
EXAMPLES = Path(__file__).parent.parent / "examples"
runner = CliRunner()

needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the workers start only with two cores")


def _items(paths: list[Path]) -> list[Sourced]:
    items = []
    for file in loader.collect_files([str(p) for p in paths]):
        for entry in loader.read_file(file):
            if isinstance(entry, Document) and isinstance(entry.data, dict) and is_lattice_document(entry.data):
                with contextlib.suppress(LatticeError):  # the invalid inputs: refused before any compiling
                    items.append(Sourced(entry.source, parse_resource(entry.data), entry.line))
    return open_gates(items)  # both sides compile the same, admitted fleet


def _facts(result: FleetResult) -> object:
    return ([(d.source, d.ref, d.problem) for d in result.errors], result.others,
            [(o.source, o.ref, o.ok, o.errors, o.warnings) for o in result.services],
            result.cluster_objects, result.namespace_objects)


FLEETS = {
    **{f"conflicts/{p.name}": [p] for p in sorted((INPUTS / "conflicts").glob("*.yaml"))},
    **{f"reserved/{p.name}": [p] for p in sorted((INPUTS / "reserved").glob("*.yaml"))},
    "invalid (parsed ones, one fleet)": [INPUTS / "invalid"],
    "golden (one fleet, with its duplicates)": [INPUTS / "golden"],
    "examples": [EXAMPLES],
    "everything": [INPUTS, EXAMPLES],
}


@needs_two_cores
@pytest.mark.parametrize("name", list(FLEETS))
def test_workers_compile_exactly_what_one_process_compiles(name: str) -> None:
    items = _items(FLEETS[name])
    serial = compile_fleet(items)
    parallel = workers.compile_rendered(items, workers=2)  # forked even for a small fleet
    assert b"".join(parallel.yaml_parts()) == render.dump_yaml_stream(serial.objects).encode()
    assert _facts(parallel.result) == _facts(serial)
    single = workers.compile_rendered(items, workers=1)
    assert b"".join(single.yaml_parts()) == render.dump_yaml_stream(serial.objects).encode()


def test_the_fleets_compared_hold_conflicts_failures_and_warnings() -> None:
    """So the comparison above covers workloads refused by the fleet-wide checks, not only clean ones."""
    results = [compile_fleet(_items(paths)) for paths in FLEETS.values()]
    outcomes = [o for result in results for o in result.services]
    assert any(result.errors for result in results)
    assert any(not o.ok and any("neither is compiled" in e.message for e in o.errors) for o in outcomes)
    assert any(not o.ok and o.gate is not None and o.gate.errors for o in outcomes)  # refused by a gate
    assert any(o.ok and o.warnings for o in outcomes)
    assert any(result.namespace_objects for result in results)  # gateways


SERVICE = """\
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {{name: {name}, namespace: ns-{ns}}}
spec:
  workload:
    containers:
      main: {{image: "registry.example.com/app:1.0"}}
    resources:
      peer: {{type: service, direction: outbound, id: {peer}}}
    service:
      ports:
        http: {{port: 80, targetPort: 8080}}
"""


@needs_two_cores
def test_the_command_compiles_a_large_fleet_in_workers_with_the_serial_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the threshold `lattice compile -o yaml` compiles and renders in workers: same stdout and stderr."""
    count = workers.PARALLEL_MIN_WORKLOADS + 50
    for k in range(count):
        ns = k % 3
        (tmp_path / f"svc-{k:03d}.yaml").write_text(SERVICE.format(name=f"svc-{k:03d}", ns=ns,
                                                                   peer=f"svc-{(k + 3) % count:03d}"))
    (tmp_path / "svc-007.yaml").write_text(SERVICE.format(name="svc-008", ns=8 % 3, peer="svc-001"))  # a duplicate
    (tmp_path / "svc-150.yaml").write_text("a: 1\na: 2\n")  # a refused file
    pids = tmp_path.parent / f"{tmp_path.name}-pids"
    real = workers.compile_workload

    def spy(item: Sourced, context: CompileContext) -> ServiceOutcome | None:
        with pids.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return real(item, context)

    monkeypatch.setattr(workers, "compile_workload", spy)
    parallel = runner.invoke(app, ["compile", *admitting(str(tmp_path))])
    ran_in = set(pids.read_text().split())
    assert len(ran_in) >= 2 and str(os.getpid()) not in ran_in  # compiled by workers, none in this process
    monkeypatch.setattr(workers, "compile_workload", real)
    monkeypatch.setattr(workers, "PARALLEL_MIN_WORKLOADS", 10**9)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10**9)
    serial = runner.invoke(app, ["compile", *admitting(str(tmp_path))])
    assert parallel.exit_code == 1
    assert "warning:" in parallel.stderr and "defined twice" in parallel.stderr
    assert (parallel.exit_code, parallel.stderr, parallel.stdout) == (serial.exit_code, serial.stderr, serial.stdout)


@needs_two_cores
def test_a_worker_that_dies_leaves_the_answer_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed worker (the kernel's out-of-memory killer) must neither hang the command nor change its output:
    the fleet is compiled again in this process."""
    items = _items(FLEETS["everything"])
    parent, real = os.getpid(), workers.compile_workload

    def dies_in_a_worker(item: Sourced, context: CompileContext) -> ServiceOutcome | None:
        if os.getpid() != parent:
            os._exit(9)
        return real(item, context)

    monkeypatch.setattr(workers, "compile_workload", dies_in_a_worker)
    parallel = workers.compile_rendered(items, workers=2)
    serial = compile_fleet(items)
    assert b"".join(parallel.yaml_parts()) == render.dump_yaml_stream(serial.objects).encode()
    assert _facts(parallel.result) == _facts(serial)
