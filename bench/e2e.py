"""End to end: `lattice compile DIR -o yaml > FILE` in a fresh process, beside helm's one-release render.

Usage::

    .venv/bin/python bench/e2e.py [--sizes 1000,10000] [--repeat 3] [--no-helm] [--seed 42] [--json PATH]

For each size, the synthetic fleet of `bench/compile.py` (`generate_fleet`) is written to files, one per
service under `<namespace>/<name>.yaml`, as a team's repository would hold it. Then, alternating so that both
see the same machine load, `--repeat` times each:

* lattice: `lattice compile DIR -o yaml > FILE` (the installed console script, a fresh process);
* helm: `helm template fleet bench/peer/chart -f all.yaml > FILE`, the one-release render of the same fleet
  with the values `bench/compile.py` builds (`helm_values`; its `--peer helm` checks the chart renders objects
  equal to ours).

Wall time is measured around the process; CPU time (user + system, the process and its workers) and peak RSS
(`ru_maxrss`) come from `wait4` in a small launcher process (`LAUNCH`: forked from this bench, the command's
peak would start at the bench's own size); on Linux that peak is the largest of the process and the workers it
forked (not their sum: forked workers share the parent's pages). The load
average before each run is printed: the machine is shared, so only side-by-side figures compare. A phase
breakdown (`--phases`) times the same steps in one fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from compile import (
    CHART_DIR,
    EXTERNALS,
    OUT_DIR,
    Goals,
    ensure_helm,
    fleet_facts,
    generate_fleet,
    helm_values,
    machine_info,
)
from lattice import render

GOAL_SECONDS_10K = 5.0
GOAL_VS_HELM = 2.0
GOAL_RSS_BYTES = 1 << 30
LATTICE = Path(sys.executable).with_name("lattice")


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system of the process and the workers it waited for
    max_rss: int
    load: float
    output_bytes: int
    exit_code: int


@dataclass
class SizeResult:
    size: int
    files: int
    input_bytes: int
    lattice: list[Run] = field(default_factory=list)
    helm: list[Run] = field(default_factory=list)
    before: list[Run] = field(default_factory=list)  # `--before SRC`: the same command from an older source tree
    documents: dict[str, int] = field(default_factory=dict)
    phases: dict[str, list[float]] = field(default_factory=dict)
    identical: bool | None = None  # with `--before`: the last outputs of both, byte for byte

    @staticmethod
    def median(runs: list[Run]) -> float | None:
        return statistics.median(r.seconds for r in runs) if runs else None


ADMIT = {"apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider", "metadata": {"name": "fleet-registry"},
         "spec": {"registry": "registry.example.com", "trust": {"enforce": False}}}
"""The registry every synthetic service pulls from (by digest), trust not enforced: without it the image gate
refuses the whole fleet, and the bench would time the error path. It adds no object to the output."""

POLICY = {"apiVersion": "lattice.dev/v1alpha1", "kind": "CedarPolicy", "metadata": {"name": "fleet-policy"},
          "spec": {"policies": (
              '@id("teams-read-their-own-secrets")\n'
              'permit(principal, action == Lattice::Action::"AccessSecret", resource)\n'
              "when { resource.namespace == principal.namespace };\n"
              '@id("approved-external-apis")\n'
              'permit(principal, action == Lattice::Action::"AccessExternalEndpoint", resource)\n'
              "when { " + " || ".join(f'resource.host == "{host}"' for _, host, _ in EXTERNALS.values()) + " };\n")}}
"""What a platform team writes for this fleet: each team reads its own secrets, everyone the approved external
APIs. Without it the authorization gate refuses every service with an external dependency."""


def write_fleet(n: int, seed: int, root: Path) -> tuple[int, int, list[dict[str, Any]]]:
    docs = generate_fleet(n, seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "_registry.yaml").write_text(render.dump_yaml(ADMIT))
    (root / "_policy.yaml").write_text(render.dump_yaml(POLICY))
    total = 0
    for doc in docs:
        path = root / doc["metadata"]["namespace"] / f"{doc['metadata']['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render.dump_yaml(doc)
        path.write_text(text)
        total += len(text)
    return len(docs), total, docs


LAUNCH = r"""
import json, os, sys, time
out, err, *cmd = sys.argv[1:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
    os.execvp(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024,
                  os.waitstatus_to_exitcode(status)]))
"""
"""Runs one command and reports its wall, CPU and peak RSS. It exists because a child's `ru_maxrss` starts at
the RSS of the process it was forked from (Linux keeps the old image's high-water mark across `exec`): forked
from this bench, which holds the fleet and helm's values, every command "peaked" at the bench's own size. The
launcher is a small process, so what it reports is the command's own peak."""


def timed(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> Run:
    load = os.getloadavg()[0]
    err = out.with_name(out.name + ".err")
    proc = subprocess.run([sys.executable, "-c", LAUNCH, str(out), str(err), *cmd], env=env, capture_output=True,
                          text=True, check=True)
    seconds, cpu, max_rss, code = json.loads(proc.stdout)
    if code != 0:
        sys.stderr.write(err.read_text()[-2000:])
    return Run(seconds, cpu, max_rss, load, out.stat().st_size, code)


def _same_bytes(a: Path, b: Path) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def count_documents(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.startswith(b"---")) + 1


PHASES = r"""
import gc, json, os, sys, time
gc.disable()
marks = []
def clock():
    t = os.times()  # CPU of this process and of the workers it waited for
    marks.append((time.perf_counter(), t.user + t.system + t.children_user + t.children_system))
    return len(marks) - 1
t0 = clock()
from lattice.api import parse_resource
from lattice.cli import loader, workers
from lattice.fleet import Sourced, admit, check_fleet, compile_order, finish_fleet
t1 = clock()
files = loader.collect_files([sys.argv[1]])
t2 = clock()
docs = list(loader.read_documents(files))
t3 = clock()
items = [Sourced(d.source, parse_resource(d.data), d.line) for d in docs]
t4 = clock()
checked, context, errors = check_fleet(items)
ordered = admit(compile_order(checked), context)
t5 = clock()
outcomes, texts = workers.compile_shards(ordered, context, workers.worker_count())
t6 = clock()
result = finish_fleet(ordered, outcomes, context, errors)
t7 = clock()
rendered = workers.RenderedFleet(result, [text for outcome, text in zip(outcomes, texts) if outcome is not None])
with open(os.devnull, "wb") as sink:
    rendered.write_to(sink)
t8 = clock()
names = ["imports", "collect files", "read YAML (workers)", "validate (pydantic)", "check_fleet, gates",
         "compile+render (workers)", "fleet-wide steps", "write output"]
print(json.dumps({name: [marks[k + 1][0] - marks[k][0], marks[k + 1][1] - marks[k][1]]
                  for k, name in enumerate(names)}))
"""


def phases(directory: Path) -> dict[str, list[float]]:
    """Each step's [wall, CPU] seconds in one fresh process (CPU includes the workers the step waited for)."""
    proc = subprocess.run([sys.executable, "-c", PHASES, str(directory)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def run_size(n: int, seed: int, repeat: int, helm: Path | None, with_phases: bool, console: Console,
             before: Path | None = None) -> SizeResult:
    with tempfile.TemporaryDirectory(prefix=f"lattice-e2e-{n}-") as tmp:
        root = Path(tmp) / "fleet"
        console.print(f"[dim]size {n:,}: writing the fleet…[/dim]")
        files, input_bytes, docs = write_fleet(n, seed, root)
        result = SizeResult(n, files, input_bytes)
        values_file = Path(tmp) / "all.yaml"
        if helm is not None:
            facts = fleet_facts(docs)
            values_file.write_text(yaml.dump({"services": [helm_values(d, facts) for d in docs]},
                                             Dumper=yaml.CSafeDumper, sort_keys=False))
        del docs
        ours, theirs = Path(tmp) / "lattice.yaml", Path(tmp) / "helm.yaml"
        for k in range(repeat):
            console.print(f"[dim]size {n:,}: run {k + 1}/{repeat}…[/dim]")
            command = [str(LATTICE), "compile", str(root), "-o", "yaml"]
            if before is not None:
                older = Path(tmp) / "before.yaml"
                result.before.append(timed(command, older, {**os.environ, "PYTHONPATH": str(before)}))
            result.lattice.append(timed(command, ours))
            if helm is not None:
                result.helm.append(timed([str(helm), "template", "fleet", str(CHART_DIR), "-f", str(values_file)],
                                         theirs))
        if before is not None:
            result.identical = _same_bytes(ours, Path(tmp) / "before.yaml")
        result.documents["lattice"] = count_documents(ours)
        if helm is not None:
            result.documents["helm"] = count_documents(theirs)
        if with_phases:
            result.phases = phases(root)
    return result


def _cpu(runs: list[Run]) -> str:
    """Median CPU seconds: less sensitive to a busy machine than wall time (on an idle 2-core machine the
    wall time is at least half of it)."""
    return f"{statistics.median(r.cpu_seconds for r in runs):.2f}" if runs else "—"


def report(results: list[SizeResult], info: dict[str, str], console: Console) -> bool:
    console.rule("[bold]Lattice end to end (fresh process) beside helm's one-release render")
    for key, value in info.items():
        console.print(f"  [bold]{key:>7}[/bold]  {value}")
    table = Table(title="Seconds per run (load average before the run); peak RSS MiB", title_justify="left")
    for col in ("services", "input MiB", "lattice runs", "lattice median", "lattice CPU s", "lattice peak RSS",
                "helm runs", "helm median", "helm CPU s", "helm peak RSS", "helm ÷ lattice",
                "documents lattice / helm"):
        table.add_column(col, justify="right")
    for r in results:
        lm, hm = SizeResult.median(r.lattice), SizeResult.median(r.helm)
        table.add_row(
            f"{r.size:,}", f"{r.input_bytes / 2**20:.1f}",
            " ".join(f"{x.seconds:.2f} ({x.load:.1f})" for x in r.lattice), f"{lm:.2f}" if lm else "—",
            _cpu(r.lattice), f"{max(x.max_rss for x in r.lattice) / 2**20:,.0f}" if r.lattice else "—",
            " ".join(f"{x.seconds:.2f} ({x.load:.1f})" for x in r.helm) or "—", f"{hm:.2f}" if hm else "—",
            _cpu(r.helm), f"{max(x.max_rss for x in r.helm) / 2**20:,.0f}" if r.helm else "—",
            f"{hm / lm:.2f}×" if lm and hm else "—",
            f"{r.documents.get('lattice', 0):,} / {r.documents.get('helm', 0):,}" if r.helm else
            f"{r.documents.get('lattice', 0):,}",
        )
    console.print(table)
    for r in results:
        if r.before:
            bm = SizeResult.median(r.before)
            lm = SizeResult.median(r.lattice)
            console.print(f"  before (--before, same run) at {r.size:,}: runs "
                          + " ".join(f"{x.seconds:.2f} ({x.load:.1f})" for x in r.before)
                          + f", median {bm:.2f} s, CPU {_cpu(r.before)} s, peak RSS "
                          f"{max(x.max_rss for x in r.before) / 2**20:,.0f} MiB; "
                          f"now {lm:.2f} s, CPU {_cpu(r.lattice)} s")
    for r in results:
        if r.phases:
            console.print(f"  phases at {r.size:,} (one fresh process; wall s, CPU s in brackets): "
                          + ", ".join(f"{k} {v[0]:.2f} ({v[1]:.2f})" for k, v in r.phases.items()))
    goals = Goals()
    big = next((r for r in results if r.size == 10_000), None)
    lm = SizeResult.median(big.lattice) if big else None
    hm = SizeResult.median(big.helm) if big else None
    rss = max(x.max_rss for x in big.lattice) if big and big.lattice else None
    exit_ok = all(x.exit_code == 0 for r in results for x in r.lattice + r.helm)
    goals.add(f"10,000 services end to end ≤ {GOAL_SECONDS_10K:g} s", f"{lm:.2f} s (median)" if lm else "n/a",
              lm <= GOAL_SECONDS_10K if lm else None)
    goals.add(f"≥ {GOAL_VS_HELM:g}× faster than helm's one-release render (same run)",
              f"{hm / lm:.2f}×" if lm and hm else "n/a", hm / lm >= GOAL_VS_HELM if lm and hm else None)
    goals.add("peak RSS ≤ 1 GiB at 10,000", f"{rss / 2**20:,.0f} MiB" if rss else "n/a",
              rss <= GOAL_RSS_BYTES if rss else None)
    goals.add("every run exits 0", "yes" if exit_ok else "no", exit_ok)
    compared = [r.identical for r in results if r.identical is not None]
    goals.add("output byte-identical to --before", ("yes" if all(compared) else "no") if compared else "n/a",
              all(compared) if compared else None)
    console.print(goals.table)
    return goals.passed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-helm", action="store_true", help="skip the helm peer")
    ap.add_argument("--phases", action="store_true", help="also time each step in one fresh process")
    ap.add_argument("--before", type=Path, help="also run `lattice compile` with PYTHONPATH=BEFORE (an older `src/`, "
                    "e.g. from `git archive`), alternating with the others")
    ap.add_argument("--json", type=Path, default=OUT_DIR / "e2e.json")
    args = ap.parse_args(argv)
    console = Console(width=max(150, shutil.get_terminal_size().columns), highlight=False)
    info = machine_info()
    helm = None if args.no_helm else ensure_helm(console)
    if helm is not None:
        info["helm"] = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True,
                                      check=False).stdout.strip()
    results = [run_size(n, args.seed, args.repeat, helm, args.phases, console, args.before) for n in args.sizes]
    ok = report(results, info, console)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": info, "sizes": [asdict(r) for r in results]}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
