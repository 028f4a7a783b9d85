"""`make mutation`: mutate the security-critical modules and see which changes the tests catch.

    .venv/bin/python -m tests.mutation [--module pod ...] [--jobs N] [--report FILE]

One pytest session collects the tests once; each mutant runs in a forked child that swaps the mutated code
in (tests/mutation/apply.py) and runs the tests selected for its module (SELECTION), fastest first, stopping
at the first failure. The golden snapshots are not in the kill set: a mutant that only a golden catches is
counted apart ("golden only"), since one careless `--snapshot-update` would accept it. A child that runs
past its module's time limit (a loop the mutant made endless) counts as killed.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import json
import os
import select
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.mutation.apply import apply_source, clear_caches
from tests.mutation.mutants import Mutant, enumerate_mutants, mutated_source

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "lattice"
GOLDEN = ["tests/test_golden.py"]

# Module (under src/lattice) -> the test files whose properties pin it. Goldens are run apart.
SELECTION: dict[str, list[str]] = {
    "compiler/network_policy": ["tests/test_network_policy.py", "tests/test_external_endpoints.py",
                                "tests/test_endpoint_reachability.py",
                                "tests/test_policy_checker.py", "tests/test_policy_guarantee.py",
                                "tests/test_cluster_semantics.py", "tests/test_outputs_valid.py"],
    "compiler/authorization": ["tests/test_policy_checker.py", "tests/test_policy_guarantee.py",
                               "tests/test_cluster_semantics.py", "tests/test_outputs_valid.py"],
    "compiler/peers": ["tests/test_policy_guarantee.py", "tests/test_security_overrides.py", "tests/test_any_caller.py",
                       "tests/test_outputs_valid.py"],
    "compiler/security": ["tests/test_security_overrides.py", "tests/test_pod_security.py"],
    "graph": ["tests/test_graph.py", "tests/test_any_caller.py", "tests/test_external_endpoints.py",
              "tests/test_endpoint_reachability.py",
              "tests/test_policy_guarantee.py", "tests/test_outputs_valid.py"],
    "compiler/secrets": ["tests/test_secrets.py", "tests/test_secret_properties.py", "tests/test_secret_stores.py",
                         "tests/test_outputs_valid.py"],
    "compiler/template": ["tests/test_template.py", "tests/test_placeholders.py", "tests/test_secrets.py",
                          "tests/test_property.py"],
    "compiler/pod": ["tests/test_pod_security.py", "tests/test_security_overrides.py", "tests/test_pod_defaults.py",
                     "tests/test_cluster_semantics.py",
                     "tests/test_score_compat.py", "tests/test_property.py", "tests/test_secrets.py",
                     "tests/test_outputs_valid.py"],
    "compiler/availability": ["tests/test_availability.py", "tests/test_outputs_valid.py"],
}


@dataclass(slots=True)
class Outcome:
    mutant: Mutant
    status: str  # killed | timeout | golden-only | survived | not-applied
    by: str = ""
    seconds: float = 0.0


@dataclass(slots=True)
class _Running:
    mutant: Mutant
    pid: int
    read_fd: int
    started: float
    limit: float
    golden: bool = False
    chunks: list[bytes] = field(default_factory=list)


def _module_of(name: str) -> Any:
    return importlib.import_module("lattice." + name.replace("/", "."))


def _lattice_modules() -> list[Any]:
    return [m for n, m in sorted(sys.modules.items()) if n == "lattice" or n.startswith("lattice.")]


def cap_examples(items: list[pytest.Item], cap: int) -> None:
    """Fewer generated examples per property test: a mutant that breaks a property usually breaks it on the
    first few examples, and the full counts run in `make test`. (Hypothesis keeps a test's settings on the
    wrapped function; replacing them is the one internal this driver relies on.)"""
    from hypothesis import settings

    for item in items:
        fn = getattr(item, "obj", None)
        current = getattr(fn, "_hypothesis_internal_use_settings", None)
        if current is not None and current.max_examples > cap:
            fn._hypothesis_internal_use_settings = settings(current, max_examples=cap)  # type: ignore[union-attr]


def _child(items: list[pytest.Item], source: str | None, module: Any, write_fd: int) -> None:
    """In the forked child: swap the mutant in, run the items, report the first failure; never returns."""
    from _pytest.runner import runtestprotocol

    code = 0
    message = ""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        if source is not None:
            try:
                apply_source(module, source)
            except Exception as exc:  # the mutant cannot be put in place (e.g. a closure changed)
                os.write(write_fd, json.dumps({"not_applied": repr(exc)}).encode())
                os._exit(3)
        clear_caches(_lattice_modules())
        durations = {}
        for i, item in enumerate(items):
            start = time.perf_counter()
            reports = runtestprotocol(item, nextitem=items[i + 1] if i + 1 < len(items) else None, log=False)
            durations[item.nodeid] = time.perf_counter() - start
            if any(r.failed for r in reports):
                code, message = 1, item.nodeid
                break
        os.write(write_fd, json.dumps({"failed": message, "durations": durations}).encode())
    except BaseException as exc:  # anything the mutant breaks is a kill
        code, message = 1, f"crash: {exc!r}"
        os.write(write_fd, json.dumps({"failed": message}).encode())
    os._exit(code)


def _spawn(items: list[pytest.Item], source: str | None, module: Any) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(items, source, module, write_fd)
    os.close(write_fd)
    return pid, read_fd


def _collect(running: _Running) -> dict[str, Any]:
    data = b"".join(running.chunks)
    while True:
        chunk = os.read(running.read_fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(running.read_fd)
    return json.loads(data) if data else {}


class MutationPlugin:
    def __init__(self, modules: list[str], jobs: int, report: Path | None, examples: int,
                 only: set[int] | None = None) -> None:
        self.examples = examples
        self.only = only
        self.modules = modules
        self.jobs = jobs
        self.report = report
        self.items: list[pytest.Item] = []
        self.outcomes: list[Outcome] = []
        self.timings: dict[str, float] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.items = list(items)
        cap_examples(self.items, self.examples)

    def _select(self, files: list[str]) -> list[pytest.Item]:
        return [i for i in self.items if i.nodeid.split("::")[0] in files]

    def _baseline(self, items: list[pytest.Item], module: Any) -> dict[str, float]:
        pid, fd = _spawn(items, None, module)
        result = _collect(_Running(Mutant("", 0, 0, ""), pid, fd, time.monotonic(), 0))
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"the unmutated code fails {result.get('failed')}: fix the suite first")
        return dict(result["durations"])

    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        golden_items = self._select(GOLDEN)
        for name in self.modules:
            started = time.monotonic()
            module = _module_of(name)
            items = self._select(SELECTION[name])
            durations = self._baseline(items, module)
            items.sort(key=lambda i: durations.get(i.nodeid, 0.0))
            golden_time = sum(self._baseline(golden_items, module).values())
            limit = 3 * sum(durations.values()) + 15
            source = (SRC / f"{name}.py").read_text()
            mutants = [m for m in enumerate_mutants(name, source) if self.only is None or m.index in self.only]
            print(f"\n{name}: {len(mutants)} mutants, {len(items)} tests ({sum(durations.values()):.1f} s), "
                  f"limit {limit:.0f} s", flush=True)
            self._run(mutants, source, module, items, golden_items, limit, 3 * golden_time + 15)
            self.timings[name] = time.monotonic() - started
            self._print_module(name)
        self._print_summary()
        return True

    def _run(self, mutants: list[Mutant], source: str, module: Any, items: list[pytest.Item],
             golden_items: list[pytest.Item], limit: float, golden_limit: float) -> None:
        queue: list[tuple[Mutant, bool]] = [(m, False) for m in mutants]
        running: dict[int, _Running] = {}
        while queue or running:
            while queue and len(running) < self.jobs:
                mutant, golden = queue.pop(0)
                text = mutated_source(source, mutant.index)
                pid, fd = _spawn(golden_items if golden else items, text, module)
                running[fd] = _Running(mutant, pid, fd, time.monotonic(), golden_limit if golden else limit, golden)
            ready, _, _ = select.select(list(running), [], [], 0.5)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    running[fd].chunks.append(chunk)
                    continue
                job = running.pop(fd)
                result = _collect(job)
                _, status = os.waitpid(job.pid, 0)
                code = os.waitstatus_to_exitcode(status)
                seconds = time.monotonic() - job.started
                done = sum(1 for o in self.outcomes if o.mutant.module == job.mutant.module)
                if done % 25 == 0:
                    print(f"  ... {done} done, {time.strftime('%H:%M:%S')}", flush=True)
                if "not_applied" in result:
                    self.outcomes.append(Outcome(job.mutant, "not-applied", result["not_applied"], seconds))
                elif code != 0:
                    status_name = "golden-only" if job.golden else "killed"
                    self.outcomes.append(Outcome(job.mutant, status_name, result.get("failed", f"exit {code}"),
                                                 seconds))
                elif job.golden:
                    self.outcomes.append(Outcome(job.mutant, "survived", "", seconds))
                else:
                    queue.insert(0, (job.mutant, True))
            now = time.monotonic()
            for fd, job in list(running.items()):
                if now - job.started > job.limit:
                    os.kill(job.pid, signal.SIGKILL)
                    os.waitpid(job.pid, 0)
                    os.close(fd)
                    del running[fd]
                    self.outcomes.append(Outcome(job.mutant, "timeout", f"> {job.limit:.0f} s", now - job.started))

    def _print_module(self, name: str) -> None:
        mine = [o for o in self.outcomes if o.mutant.module == name]
        counts = Counter(o.status for o in mine)
        print(f"{name}: {dict(sorted(counts.items()))} in {self.timings[name]:.0f} s", flush=True)
        for o in sorted(mine, key=lambda o: o.mutant.index):
            if o.status in ("survived", "golden-only", "not-applied"):
                print(f"  {o.status:12} {o.mutant.ident}: {o.mutant.description}  {o.by}", flush=True)

    def _print_summary(self) -> None:
        counts = Counter(o.status for o in self.outcomes)
        applied = len(self.outcomes) - counts["not-applied"]
        killed = counts["killed"] + counts["timeout"]
        print("\nmodule                      mutants  killed  golden-only  survived  seconds")
        for name in self.modules:
            c = Counter(o.status for o in self.outcomes if o.mutant.module == name)
            total = sum(c.values()) - c["not-applied"]
            print(f"{name:27} {total:7} {c['killed'] + c['timeout']:7} {c['golden-only']:12} {c['survived']:9} "
                  f"{self.timings[name]:8.0f}")
        score = 100 * killed / applied if applied else 0.0
        with_golden = 100 * (killed + counts["golden-only"]) / applied if applied else 0.0
        print(f"\nmutation score (goldens excluded): {killed}/{applied} = {score:.1f} %; "
              f"with goldens {with_golden:.1f} %; golden-only {counts['golden-only']}, "
              f"survived {counts['survived']}, not applied {counts['not-applied']}; "
              f"{sum(self.timings.values()):.0f} s", flush=True)
        if self.report is not None:
            self.report.write_text(json.dumps([
                {"mutant": o.mutant.ident, "line": o.mutant.line, "change": o.mutant.description,
                 "status": o.status, "by": o.by, "seconds": round(o.seconds, 2)}
                for o in self.outcomes], indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", choices=sorted(SELECTION),
                        help="mutate only this module (repeatable); default: all")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--report", type=Path, help="write every outcome as JSON here")
    parser.add_argument("--examples", type=int, default=10,
                        help="at most this many generated examples per property test (default 10)")
    parser.add_argument("--show", metavar="MODULE:INDEX", help="print one mutant as a diff and exit")
    parser.add_argument("--only", metavar="N,N", help="run only these mutants (indices, with one --module)")
    args = parser.parse_args()
    if args.show:
        name, index = args.show.rsplit(":", 1)
        source = (SRC / f"{name}.py").read_text()
        original = ast.unparse(ast.parse(source)).splitlines(keepends=True)
        mutated = mutated_source(source, int(index.lstrip("#").split("#")[-1])).splitlines(keepends=True)
        sys.stdout.writelines(difflib.unified_diff(original, mutated, name, f"{name} mutant {index}"))
        return 0
    modules = args.module or list(SELECTION)
    files = sorted({f for m in modules for f in SELECTION[m]} | set(GOLDEN))
    only = {int(n) for n in args.only.split(",")} if args.only else None
    plugin = MutationPlugin(modules, args.jobs, args.report, args.examples, only)
    os.chdir(ROOT)
    code = pytest.main([*[f for f in files if (ROOT / f).exists()], "-q", "-p", "no:cacheprovider",
                        "--hypothesis-profile=mutation", "-o", "addopts="],
                       plugins=[plugin])
    return 0 if code in (0, 5) else int(code)  # 5: pytest ran no test itself (the children did)


if __name__ == "__main__":
    sys.exit(main())
