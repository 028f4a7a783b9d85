"""Benchmark the fleet graph and the policy derived from it, on synthetic fleets of 1,000 / 10,000 / 50,000 services.

Usage::

    .venv/bin/python bench/graph.py [--sizes 1000,10000,50000] [--repeat 3] [--seed 42] [--no-child]
                                    [--profile] [--json PATH]

Every service declares exactly five `service` dependencies (outbound / inbound / both; most agreed by both
sides, some one-sided, about a fifth across namespaces), serves `http` and `metrics`, and a few also declare an
`external-service`. Nodes are built directly (``lattice.graph.Node`` with pydantic-validated ``Dependency`` and
``ServicePort`` values, the shape ``fleet.service_node`` gives); building them is timed and reported separately.

Per fleet size, in one run, it measures (warm, this process, median of ``--repeat`` runs):

* build:  ``graph.build_graph(nodes)``;
* policy: ``pipeline._policies(context, node, labels, scraped=True)`` for every workload, the exact call
  ``compile_service`` makes (CiliumNetworkPolicy + AuthorizationPolicy + ServiceEntries), with a
  ``CompileContext`` holding the built graph; every result is kept alive, as ``compile_fleet`` does;
* build+policy: both in one timed span, on a graph built afresh, with the time CPython's cyclic garbage
  collector spent inside it (``gc.callbacks``) and how many full collections ran;
* the work done: Python function calls in one profiled build+policy (cProfile), a count free of timing noise;
* peak RSS and cold times of nodes → build → policy in a fresh child process (``--child SIZE``).

Linear growth is shown as time per service, per edge and per (services + edges), and as the ratio between
successive sizes of (time ratio ÷ size ratio), which is 1.00 for perfectly linear cost; the same ratio is
shown for the time excluding the GC and for the call count. When a goal fails (or with ``--profile``) the
cProfile of the largest size is printed.

``--child SIZE`` is internal: it prints one JSON line with the fresh-process figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import itertools
import json
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from compile import (
    EXTERNALS,
    OUT_DIR,
    REPO_DIR,
    WORDS,
    _mib,
    _s,
    current_rss_bytes,
    machine_info,
    max_rss_bytes,
    percentile,
)
from lattice.api.workload import Dependency, ServicePort
from lattice.collector import collector_paused
from lattice.compiler import naming, pipeline
from lattice.compiler.context import CompileContext
from lattice.graph import FleetGraph, Key, Node, build_graph

# What `compile_fleet` does: the cyclic collector is paused while a fleet compiles. `--collector on` measures
# the same work with it running (the baseline before the pause was introduced).
COLLECTOR = {"mode": "paused"}


def region() -> contextlib.AbstractContextManager[None]:
    return collector_paused() if COLLECTOR["mode"] == "paused" else contextlib.nullcontext()

GOAL_SECONDS_10K = 3.0
GOAL_LINEAR_FACTOR = 1.5
DEPS_PER_SERVICE = 5
ONE_SIDED_SHARE = 0.15  # of the matching links: replaced by one-sided declarations at both ends
BOTH_SHARE = 0.3  # of the agreed links: declared `both` on each side
EXTERNAL_SHARE = 0.05
# Endpoints as written; one is an address, so both `toFQDNs` and `toCIDR` egress are exercised.
ENDPOINTS = [spec for spec, _, _ in EXTERNALS.values()] + ["tcp://10.20.30.40:5432"]
KIND = "LatticeService"

# --------------------------------------------------------------------------- synthetic fleet


@dataclass
class Fleet:
    """A synthetic fleet: its nodes and what the generator intended, to check the graph against."""

    nodes: list[Node]
    labels: dict[Key, dict[str, str]]
    shape: dict[str, Any]
    expected_edges: int
    expected_one_sided: int


def _declarations(n: int, rng: random.Random) -> tuple[list[dict[int, str]], list[int], int, int]:
    """What each service declares: `decl[a][b] = direction` means a lists b among its resources.

    Services sit on a ring in random order; each is linked to its ring neighbours at distance 1 and 2 (four
    agreed links; the ring is later cut into namespace blocks, so these mostly stay inside a namespace), plus
    one link from a random perfect matching (mostly across namespaces). A share of the matching links is
    replaced by one-sided declarations: each end instead declares some service that does not declare it back.
    Every service ends with exactly five declarations. An agreed link is `outbound` on one side and `inbound`
    on the other (one edge), or `both` on each side (two edges).

    Returns (declarations, ring order, agreed edges, one-sided (caller, callee) pairs).
    """
    decl: list[dict[int, str]] = [{} for _ in range(n)]
    ring = list(range(n))
    rng.shuffle(ring)
    edges = 0

    def agree(a: int, b: int) -> None:
        nonlocal edges
        if rng.random() < BOTH_SHARE:
            decl[a][b] = decl[b][a] = "both"
            edges += 2
        else:
            if rng.random() < 0.5:
                a, b = b, a
            decl[a][b] = "outbound"
            decl[b][a] = "inbound"
            edges += 1

    for j, a in enumerate(ring):
        for step in (1, 2):
            agree(a, ring[(j + step) % n])
    pool = list(range(n))
    rng.shuffle(pool)
    lonely: list[int] = []
    k = 0
    while k + 1 < len(pool):
        a = pool[k]
        for _ in range(50):  # swap away a partner that is the same service or already linked
            if pool[k + 1] not in decl[a]:
                break
            j = rng.randrange(k + 1, len(pool))
            pool[k + 1], pool[j] = pool[j], pool[k + 1]
        b = pool[k + 1]
        if b in decl[a] or rng.random() < ONE_SIDED_SHARE:
            lonely += [a, b]
        else:
            agree(a, b)
        k += 2
    lonely += pool[k:]
    one_sided = 0
    for a in lonely:
        while True:
            c = rng.randrange(n)
            if c != a and c not in decl[a] and a not in decl[c]:
                break
        direction = rng.choice(("outbound", "outbound", "inbound", "both"))
        decl[a][c] = direction
        one_sided += 2 if direction == "both" else 1
    return decl, ring, edges, one_sided


def generate_fleet(n: int, seed: int = 42) -> Fleet:
    """`n` services as graph nodes, deterministic for (n, seed)."""
    if n < 2 * DEPS_PER_SERVICE:
        raise SystemExit(f"fleet size {n} is too small: at least {2 * DEPS_PER_SERVICE} services")
    rng = random.Random(f"lattice-graph-bench-{seed}-{n}")
    n_ns = max(5, min(50, n // 1000))
    width = len(str(n - 1))
    names = [f"{WORDS[i % len(WORDS)]}-{i:0{width}d}" for i in range(n)]
    decl, ring, edges, one_sided = _declarations(n, rng)
    ns_of = [""] * n
    for pos, i in enumerate(ring):  # namespaces are blocks of the ring: ring neighbours mostly share one
        ns_of[i] = f"team-{pos * n_ns // n:02d}"
    nodes: list[Node] = []
    labels: dict[Key, dict[str, str]] = {}
    directions: Counter[str] = Counter()
    cross = externals = 0
    for i in range(n):
        name, ns = names[i], ns_of[i]
        resources: dict[str, Dependency] = {}
        for j, direction in sorted(decl[i].items()):
            raw: dict[str, Any] = {"type": "service", "direction": direction}
            if ns_of[j] != ns:
                raw["namespace"] = ns_of[j]
                cross += 1
            resources[names[j]] = Dependency.model_validate(raw)
            directions[direction] += 1
        if rng.random() < EXTERNAL_SHARE:
            endpoints = {"api": rng.choice(ENDPOINTS)}
            if rng.random() < 0.3:
                endpoints["admin"] = rng.choice(ENDPOINTS)
            resources["ext-api"] = Dependency.model_validate({"type": "external-service",
                                                              "params": {"endpoints": endpoints}})
            externals += 1
        http: dict[str, Any] = {"port": rng.choice((8080, 8080, 3000, 80))}
        if http["port"] == 80:
            http["targetPort"] = 8080
        ports = {"http": ServicePort.model_validate(http), "metrics": ServicePort.model_validate({"port": 9090})}
        # The node `fleet.service_node` would make of the same LatticeService.
        nodes.append(Node((ns, name), KIND, naming.selector(name), naming.service_account(name), ports, resources))
        labels[(ns, name)] = {"team": ns}
    counts = [len(d) for d in decl]
    shape = {
        "namespaces": n_ns,
        "deps_min": min(counts), "deps_mean": statistics.fmean(counts), "deps_max": max(counts),
        "directions": dict(directions),
        "declarations": sum(directions.values()),
        "cross_namespace": cross,
        "with_external": externals,
    }
    return Fleet(nodes, labels, shape, edges, one_sided)


# --------------------------------------------------------------------------- measurement


class GcClock:
    """Time spent in CPython's cyclic garbage collector while active (via `gc.callbacks`), and how many full
    (generation 2) collections ran. Its own overhead is two calls per collection."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._t0 = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.full += info["generation"] == 2

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def edge_count(graph: FleetGraph) -> int:
    return sum(len(callers) for callers in graph.callers.values())


def derive_policies(graph: FleetGraph, labels: dict[Key, dict[str, str]],
                    per: list[float] | None = None) -> list[list[dict[str, Any]]]:
    """`pipeline._policies` for every workload, in `compile_fleet`'s order, keeping every result."""
    context = CompileContext(graph=graph)
    out: list[list[dict[str, Any]]] = []
    policies = pipeline._policies
    if per is None:
        for key in sorted(graph.nodes):
            out.append(policies(context, graph.nodes[key], labels[key], scraped=True))
        return out
    clock = time.perf_counter
    for key in sorted(graph.nodes):
        t0 = clock()
        out.append(policies(context, graph.nodes[key], labels[key], scraped=True))
        per.append(clock() - t0)
    return out


@dataclass
class SizeResult:
    size: int
    edges: int
    one_sided: int
    objects: int
    shape: dict[str, Any]
    generate_s: float  # building the Node objects (pydantic-validated dependencies and ports); not counted
    build_s: list[float]
    policy_s: list[float]
    both_s: list[float]
    both_gc_s: list[float]  # of both_s: time in the cyclic GC
    both_gc_full: list[int]  # full collections during build+policy
    policy_p50_s: float
    policy_p99_s: float
    calls: int  # Python function calls (cProfile) in one build+policy: the amount of work, free of timing noise
    child: dict[str, Any] | None = None

    @property
    def build(self) -> float:
        return statistics.median(self.build_s)

    @property
    def policy(self) -> float:
        return statistics.median(self.policy_s)

    @property
    def both(self) -> float:
        return statistics.median(self.both_s)

    @property
    def both_no_gc(self) -> float:
        return statistics.median(t - g for t, g in zip(self.both_s, self.both_gc_s, strict=True))


def run_size(n: int, seed: int, repeat: int, console: Console) -> tuple[SizeResult, tuple[cProfile.Profile, GcClock]]:
    console.print(f"[dim]size {n:,}: generating nodes…[/dim]")
    t0 = time.perf_counter()
    fleet = generate_fleet(n, seed)
    generate_s = time.perf_counter() - t0
    nodes, labels = fleet.nodes, fleet.labels
    build_s: list[float] = []
    policy_s: list[float] = []
    both_s: list[float] = []
    both_gc_s: list[float] = []
    both_gc_full: list[int] = []
    per: list[float] = []
    objects = edges = one_sided = 0
    clock = time.perf_counter
    for r in range(repeat):
        console.print(f"[dim]size {n:,}: run {r + 1}/{repeat}: build, policy, build+policy…[/dim]")
        gc.collect()
        with region():
            t0 = clock()
            graph = build_graph(nodes)
            build_s.append(clock() - t0)
        if r == 0:
            edges, one_sided = edge_count(graph), len(graph.one_sided)
            assert edges == fleet.expected_edges, (edges, fleet.expected_edges)
            assert one_sided == fleet.expected_one_sided, (one_sided, fleet.expected_one_sided)
        per = []
        with region():
            t0 = clock()
            outputs = derive_policies(graph, labels, per)
            policy_s.append(clock() - t0)
        objects = sum(len(o) for o in outputs)
        del graph, outputs
        gc.collect()
        with GcClock() as gc_clock, region():
            t0 = clock()
            graph = build_graph(nodes)
            outputs = derive_policies(graph, labels)
            both_s.append(clock() - t0)
        both_gc_s.append(gc_clock.seconds)
        both_gc_full.append(gc_clock.full)
        del graph, outputs
    console.print(f"[dim]size {n:,}: profiled build+policy (function-call count)…[/dim]")
    prof, gc_clock = profile_once(nodes, labels)
    ordered = sorted(per)
    result = SizeResult(
        size=n, edges=edges, one_sided=one_sided, objects=objects, shape=fleet.shape, generate_s=generate_s,
        build_s=build_s, policy_s=policy_s, both_s=both_s, both_gc_s=both_gc_s, both_gc_full=both_gc_full,
        policy_p50_s=percentile(ordered, 50), policy_p99_s=percentile(ordered, 99),
        calls=pstats.Stats(prof).total_calls,
    )
    del fleet, nodes, labels
    gc.collect()
    return result, (prof, gc_clock)


def profile_once(nodes: list[Node], labels: dict[Key, dict[str, str]]) -> tuple[cProfile.Profile, GcClock]:
    """One build+policy under cProfile (and the GC clock, whose time cProfile charges to whatever allocated)."""
    gc.collect()
    prof = cProfile.Profile()
    with GcClock() as gc_clock, region():
        prof.enable()
        graph = build_graph(nodes)
        outputs = derive_policies(graph, labels)
        prof.disable()
    del graph, outputs
    gc.collect()
    return prof, gc_clock


def run_child(n: int, seed: int) -> dict[str, Any]:
    """Fresh process: generate nodes, build the graph, derive every policy (kept); report peak RSS."""
    rss_import = current_rss_bytes()
    clock = time.perf_counter
    t0 = clock()
    fleet = generate_fleet(n, seed)
    generate_s = clock() - t0
    rss_nodes = current_rss_bytes()
    with GcClock() as build_gc, region():
        t0 = clock()
        graph = build_graph(fleet.nodes)
        build_s = clock() - t0
    rss_graph = current_rss_bytes()
    with GcClock() as gc_clock, region():
        t0 = clock()
        outputs = derive_policies(graph, fleet.labels)
        policy_s = clock() - t0
    return {
        "size": n,
        "generate_s": generate_s,
        "build_s": build_s,
        "policy_s": policy_s,
        "both_s": build_s + policy_s,
        "gc_s": build_gc.seconds + gc_clock.seconds,
        "gc_full": build_gc.full + gc_clock.full,
        "objects": sum(len(o) for o in outputs),
        "rss_after_import": rss_import,
        "rss_after_nodes": rss_nodes,
        "rss_after_graph": rss_graph,
        "rss_end": current_rss_bytes(),
        "max_rss": max_rss_bytes(),
    }


def spawn_child(n: int, seed: int) -> dict[str, Any] | None:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--seed", str(seed),
         "--collector", COLLECTOR["mode"]],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- report


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f}"


def _x(factor: float) -> str:
    return f"{factor:.2f}"


def report(results: list[SizeResult], info: dict[str, str], repeat: int, console: Console) -> tuple[bool, bool]:
    """Print every table; returns (every goal passed, some goal failed) — a goal not measured is neither."""
    console.rule("[bold]Lattice fleet graph + policy benchmark")
    for key, value in info.items():
        console.print(f"  [bold]{key:>7}[/bold]  {value}")

    shape = Table(title="Synthetic fleets (seeded, deterministic)", title_justify="left")
    for col in ("services", "namespaces", "svc deps min/mean/max", "declared out/in/both", "cross-ns decl",
                "agreed edges", "one-sided", "with external", "policy objects"):
        shape.add_column(col, justify="right")
    for r in results:
        s, d = r.shape, r.shape["directions"]
        shape.add_row(f"{r.size:,}", str(s["namespaces"]), f"{s['deps_min']}/{s['deps_mean']:.2f}/{s['deps_max']}",
                      f"{d.get('outbound', 0):,}/{d.get('inbound', 0):,}/{d.get('both', 0):,}",
                      f"{s['cross_namespace']:,} ({s['cross_namespace'] / s['declarations']:.0%})",
                      f"{r.edges:,}", f"{r.one_sided:,}", f"{s['with_external']:,}", f"{r.objects:,}")
    console.print(shape)

    totals = Table(title=f"Whole fleet, seconds (this process, warm; median of {repeat})", title_justify="left")
    for col in ("services", "edges", "nodes (not counted)", "build", "policy", "build+policy",
                "build+policy min–max", "of which GC (full colls)", "policy/workload p50 / p99 µs"):
        totals.add_column(col, justify="right")
    for r in results:
        totals.add_row(f"{r.size:,}", f"{r.edges:,}", _s(r.generate_s), _s(r.build), _s(r.policy), _s(r.both),
                       f"{_s(min(r.both_s))}–{_s(max(r.both_s))}",
                       f"{_s(statistics.median(r.both_gc_s))} ({statistics.median(r.both_gc_full):g})",
                       f"{_us(r.policy_p50_s)} / {_us(r.policy_p99_s)}")
    console.print(totals)

    unit = Table(title="Unit cost, µs (this process, warm; median); total = build+policy; last column is a count",
                 title_justify="left")
    for col in ("services", "build /svc", "build /edge", "build /(svc+edge)", "policy /svc", "policy /edge",
                "total /svc", "total /edge", "total /(svc+edge)", "total excl. GC /svc", "fn calls /svc"):
        unit.add_column(col, justify="right")
    for r in results:
        se = r.size + r.edges
        unit.add_row(f"{r.size:,}", _us(r.build / r.size), _us(r.build / r.edges), _us(r.build / se),
                     _us(r.policy / r.size), _us(r.policy / r.edges), _us(r.both / r.size), _us(r.both / r.edges),
                     _us(r.both / se), _us(r.both_no_gc / r.size), f"{r.calls / r.size:.1f}")
    console.print(unit)

    linear = Table(title="Linearity: (time ratio) ÷ (size ratio) between successive sizes; 1.00 = linear",
                   title_justify="left")
    for col in ("sizes", "services ×", "svc+edges ×", "build", "policy", "build+policy", "build+policy per svc+edge",
                "build+policy excl. GC", "fresh process build+policy", "function calls"):
        linear.add_column(col, justify="right")
    pairs = list(itertools.pairwise(results))
    if len(results) > 2:
        pairs.append((results[0], results[-1]))
    for k, (a, b) in enumerate(pairs):
        n_x = b.size / a.size
        se_x = (b.size + b.edges) / (a.size + a.edges)
        fresh = "n/a"
        if a.child and b.child:
            fresh = _x(b.child["both_s"] / a.child["both_s"] / n_x)
        label = f"{a.size:,} → {b.size:,}"
        linear.add_row(f"[bold]{label}[/bold]" if k == len(results) - 1 else label, _x(n_x), _x(se_x),
                       _x(b.build / a.build / n_x), _x(b.policy / a.policy / n_x), _x(b.both / a.both / n_x),
                       _x(b.both / a.both / se_x), _x(b.both_no_gc / a.both_no_gc / n_x), fresh,
                       _x(b.calls / a.calls / n_x))
    console.print(linear)

    fresh_t = Table(title="Fresh child process per size: nodes → build → policy (cold; results kept)",
                    title_justify="left")
    for col in ("services", "nodes s", "build s", "policy s", "build+policy s", "of which GC (full colls)",
                "build+policy µs/svc", "RSS after imports MiB", "RSS after nodes MiB", "RSS after graph MiB",
                "peak RSS MiB"):
        fresh_t.add_column(col, justify="right")
    for r in results:
        c = r.child
        if not c:
            fresh_t.add_row(f"{r.size:,}", *(["n/a"] * 10))
            continue
        fresh_t.add_row(f"{r.size:,}", _s(c["generate_s"]), _s(c["build_s"]), _s(c["policy_s"]), _s(c["both_s"]),
                        f"{_s(c['gc_s'])} ({c['gc_full']})", _us(c["both_s"] / r.size), _mib(c["rss_after_import"]),
                        _mib(c["rss_after_nodes"]),
                        _mib(c["rss_after_graph"]), _mib(c["max_rss"]))
    if any(r.child for r in results):
        console.print(fresh_t)

    goals = Table(title="Goals", title_justify="left")
    for col in ("goal", "measured", "verdict"):
        goals.add_column(col)
    all_pass, any_fail = True, False

    def verdict(ok: bool | None) -> str:
        nonlocal all_pass, any_fail
        if ok is None:
            all_pass = False
            return "[yellow]NOT MEASURED[/yellow]"
        all_pass &= ok
        any_fail |= not ok
        return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"

    big = next((r for r in results if r.size == 10_000), None)
    if big is None:
        goals.add_row(f"10,000 services graph+policy ≤ {GOAL_SECONDS_10K:g} s", "(size 10,000 not run)",
                      verdict(None))
    else:
        fresh = (big.child or {}).get("both_s")
        worst = max(big.both, fresh or 0.0)
        goals.add_row(f"10,000 services graph+policy ≤ {GOAL_SECONDS_10K:g} s",
                      f"{_s(big.both)} s in this process (median), {_s(fresh) if fresh else 'n/a'} s in a fresh "
                      "one (worst counts)", verdict(worst <= GOAL_SECONDS_10K))
    if len(results) < 2:
        goals.add_row(f"linear: per-service cost at the largest size ≤ {GOAL_LINEAR_FACTOR:g}× the smallest's",
                      "(needs two sizes)", verdict(None))
    else:
        a, b = results[0], results[-1]
        factor = (b.both / b.size) / (a.both / a.size)
        goals.add_row(f"linear: build+policy per service at {b.size:,} ≤ {GOAL_LINEAR_FACTOR:g}× that at {a.size:,}",
                      f"{_us(b.both / b.size)} µs vs {_us(a.both / a.size)} µs = {factor:.2f}×",
                      verdict(factor <= GOAL_LINEAR_FACTOR))
    console.print(goals)
    return all_pass, any_fail


# --------------------------------------------------------------------------- profile


def print_profile(n: int, prof: cProfile.Profile, gc_clock: GcClock, console: Console, top: int = 25) -> None:
    """The top functions of one profiled build+policy by own time and by cumulative time."""
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        console.rule(f"cProfile of build+policy, {n:,} services, by {order} (profiler overhead included)")
        console.print(buf.getvalue(), markup=False, highlight=False)
    console.print(f"  of the profiled run, {_s(gc_clock.seconds)} s was the cyclic GC ({gc_clock.full} full "
                  "collections); cProfile charges it to whichever function was allocating when it ran")


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=_sizes, default=[1000, 10000, 50000],
                    help="fleet sizes (default 1000,10000,50000)")
    ap.add_argument("--repeat", type=int, default=3, help="in-process runs per size; medians are reported")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-child", action="store_true", help="skip the fresh-process measurement")
    ap.add_argument("--profile", action="store_true",
                    help="print the cProfile of build+policy at the largest size (printed anyway when a goal fails)")
    ap.add_argument("--json", type=Path, default=OUT_DIR / "graph.json", help="where to write raw results")
    ap.add_argument("--collector", choices=["paused", "on"], default="paused",
                    help="paused: as compile_fleet runs (default); on: the cyclic GC running, for comparison")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    COLLECTOR["mode"] = args.collector

    if args.child is not None:
        print(json.dumps(run_child(args.child, args.seed)))
        return 0

    console = Console(width=max(150, shutil.get_terminal_size().columns), highlight=False)
    info = machine_info()
    # Warm-up: imports, lazily built validators, endpoint parsing.
    warm = generate_fleet(200, args.seed + 1)
    derive_policies(build_graph(warm.nodes), warm.labels)
    del warm

    sizes = sorted(set(args.sizes))
    results = []
    profiled: tuple[cProfile.Profile, GcClock] | None = None
    for n in sizes:
        r, profiled = run_size(n, args.seed, max(1, args.repeat), console)
        if not args.no_child:
            console.print(f"[dim]size {n:,}: fresh child process for peak RSS…[/dim]")
            r.child = spawn_child(n, args.seed)
        results.append(r)

    ok, failed = report(results, info, max(1, args.repeat), console)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "sizes": [asdict(r) for r in results]}, indent=2))
        shown = args.json.relative_to(REPO_DIR) if args.json.is_relative_to(REPO_DIR) else args.json
        console.print(f"  raw results: {shown}")
    if (args.profile or failed) and profiled is not None:
        print_profile(max(sizes), *profiled, console)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
