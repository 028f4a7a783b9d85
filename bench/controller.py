"""Benchmark the controller on the real control plane (issue 10): N services created at once until all are
Ready (their Deployments Available on KWOK nodes), the per-service compile time (gates and derivation, no API
call) p50/p99 from the controller's own histogram, the controller's peak memory; then one platform change until
every service is re-derived; then one service changed until it is Ready again. First, on a control plane of its
own, the floor: the same services' Deployments applied directly with no Lattice running, until all are
Available (on a small machine the control plane's own work, not Lattice, sets most of the all-Ready time).
It prints each process's CPU seconds and the API server's writes by resource.

Usage::

    .venv/bin/python bench/controller.py [--services 1000] [--nodes 12]

Needs the control plane binaries (`make testenv`). Goals: all Ready within 60 s, p99 compile ≤ 250 ms, peak
memory ≤ 500 MiB, a single change applied within 2 s.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lattice.api import parse_resource  # noqa: E402
from lattice.fleet import Sourced, compile_fleet  # noqa: E402
from tests.cluster.controlplane import ControlPlane, FakeNode, binaries_dir, free_port  # noqa: E402
from tests.cluster.foreign_crds import crds_for  # noqa: E402
from tests.cluster.kube import Kube, install_crds  # noqa: E402
from tests.conftest import EXAMPLES, load_fleet  # noqa: E402

LATTICE = "lattice.dev/v1alpha1"
NAMESPACE = "bench"
IMAGE = "registry.example.com/bench/app@sha256:" + "d" * 64


def service(i: int, replicas: int = 1) -> dict[str, Any]:
    peer = {f"svc-{i + 1:04d}": {"type": "service"}} if i % 2 == 0 else {}  # half call a neighbour (one-sided)
    return {"apiVersion": LATTICE, "kind": "LatticeService",
            "metadata": {"name": f"svc-{i:04d}", "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "workload": {
                "containers": {"app": {"image": IMAGE, "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}}}},
                "service": {"ports": {"http": {"port": 8080}}}, "resources": peer}}}


def phases(kube: Kube) -> list[str]:
    """Each service's phase, `-` while it has no status for its current generation."""
    out = []
    for svc in kube.list(LATTICE, "LatticeService", NAMESPACE):
        status = svc.get("status") or {}
        current = status.get("observedGeneration") == svc["metadata"]["generation"]
        out.append(status.get("phase", "-") if current else "-")
    return out


def wait(what: str, probe: Any, timeout: float, interval: float) -> float:
    """Seconds until `probe()` holds, asked every `interval` s: a list of the whole fleet is asked once a
    second (each is megabytes the API server serialises, on the cores the measured work shares), one object
    ten times a second."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if probe():
            return time.perf_counter() - start
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def quantile(metrics: str, name: str, q: float) -> float:
    """The upper bound of the bucket holding quantile `q` of a Prometheus histogram."""
    buckets = [(float(le), float(v)) for le, v in re.findall(rf'{name}_bucket{{le="([^"]+)"}} ([0-9.e+]+)', metrics)
               if le != "+Inf"]
    total = float(re.search(rf"{name}_count ([0-9.e+]+)", metrics).group(1))  # type: ignore[union-attr]
    for le, count in buckets:
        if count >= q * total:
            return le
    return float("inf")


_REQUEST = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.M)
_WRITES = frozenset({"APPLY", "PATCH", "POST", "PUT", "DELETE", "CREATE", "UPDATE"})


def writes(kube: Kube) -> dict[tuple[str, str], float]:
    """The API server's own count of write requests so far, by (verb, resource[/subresource]): every client's
    (this script's creates, the controller's, the controller-manager's and KWOK's)."""
    out: dict[tuple[str, str], float] = {}
    for match in _REQUEST.finditer(kube.request("GET", "/metrics")):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("verb") in _WRITES:
            resource = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
            key = (labels["verb"], resource)
            out[key] = out.get(key, 0) + float(match["value"])
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


IMAGE_PROVIDER = {"apiVersion": LATTICE, "kind": "ImageProvider", "metadata": {"name": "bench"},
                  "spec": {"registry": "registry.example.com", "trust": {"enforce": False}}}


def available_count(kube: Kube) -> int:
    return sum(1 for d in kube.list("apps/v1", "Deployment", NAMESPACE)
               if (d.get("status") or {}).get("observedGeneration", 0) >= d["metadata"]["generation"]
               and (d.get("status") or {}).get("availableReplicas", 0) >= d["spec"].get("replicas", 1))


def floor(count: int, nodes: tuple[FakeNode, ...]) -> tuple[float, dict[str, float]]:
    """The cluster's own share: the same services' ServiceAccounts and Deployments (as Lattice compiles them)
    applied straight to a fresh control plane, no Lattice running, until every Deployment is Available; and the
    CPU seconds the control plane spent on it. What Lattice adds is the difference."""
    docs = [IMAGE_PROVIDER, *(service(i) for i in range(count))]
    compiled = compile_fleet([Sourced("bench", parse_resource(d)) for d in docs]).objects
    objects = [o for o in compiled if o["kind"] in ("ServiceAccount", "Deployment")]
    plane = ControlPlane(binaries_dir(), nodes=nodes)
    kube = plane.start()
    try:
        kube.request("POST", "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": NAMESPACE}})
        pids = {c.name: c.process.pid for c in plane.components}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        start = time.perf_counter()
        accounts = [o for o in objects if o["kind"] == "ServiceAccount"]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(kube.apply, accounts))
            list(pool.map(kube.apply, [o for o in objects if o["kind"] == "Deployment"]))
        seconds = time.perf_counter() - start
        seconds += wait("every Deployment Available", lambda: available_count(kube) == count, 900, 1.0)
        return seconds, {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    finally:
        kube.close()
        plane.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the Deployments alone first")
    args = parser.parse_args()
    nodes = tuple(FakeNode(f"kwok-{k}", f"zone-{'abc'[k % 3]}") for k in range(args.nodes))
    floor_seconds, floor_cpu = floor(args.services, nodes) if not args.skip_floor else (float("nan"), {})
    plane = ControlPlane(binaries_dir(), nodes=nodes)
    kube = plane.start()
    log = Path(tempfile.mkdtemp(prefix="lattice-bench-")) / "controller.log"
    controller = None
    try:
        examples = compile_fleet(load_fleet(EXAMPLES)).objects
        monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                   "metadata": {"name": "x", "namespace": "x"}}
        install_crds(kube, crds_for([o for o in [*examples, monitor] if not kube.serves(o["apiVersion"], o["kind"])]))
        for ns in {"istio-system", NAMESPACE, *(o["metadata"].get("namespace") for o in examples)} - {None}:
            kube.request("POST", "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                               "metadata": {"name": ns}})
        lattice = str(Path(sys.executable).with_name("lattice"))
        subprocess.run([lattice, "install", "--kubeconfig", str(plane.kubeconfig)], check=True,
                       capture_output=True)
        kube.forget_discovery()
        kube.apply(IMAGE_PROVIDER)
        port = free_port()
        with log.open("wb") as out:
            controller = subprocess.Popen([lattice, "controller", "--kubeconfig", str(plane.kubeconfig),
                                           "--standalone", "--metrics-port", str(port)], stdout=out,
                                          stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wait("the controller", lambda: _healthy(port), 30, 0.1)

        before = writes(kube)
        processes = {c.name: c.process.pid for c in plane.components} | {
            "lattice controller": controller.pid, "this script (creates, then polls)": os.getpid()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: kube.apply(service(i)), range(args.services)))
        created = time.perf_counter() - start
        reported: list[float] = []

        def all_ready_probe() -> bool:
            now = phases(kube)
            if not reported and now.count("-") == 0 and len(now) == args.services:
                reported.append(time.perf_counter() - start)
            return now.count("Ready") == args.services

        all_ready = created + wait("every service Ready", all_ready_probe, 900, 1.0)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        after = writes(kube)
        written = sorted(((n - before.get(k, 0), k) for k, n in after.items() if n > before.get(k, 0)), reverse=True)
        p50 = quantile(metrics, "lattice_compile_duration_seconds", 0.5)
        p99 = quantile(metrics, "lattice_compile_duration_seconds", 0.99)

        kube.apply({"apiVersion": LATTICE, "kind": "LatticePlatform", "metadata": {"name": "default"},
                    "spec": {"metrics": {"stack": "prometheus-operator"}}})
        rederived = wait("every service re-derived", lambda: len(kube.list(
            "monitoring.coreos.com/v1", "ServiceMonitor", NAMESPACE)) == args.services, 900, 1.0)

        changed = kube.apply(service(0, replicas=2))
        generation = changed["metadata"]["generation"]

        def single_ready() -> bool:
            status = kube.get(LATTICE, "LatticeService", "svc-0000", NAMESPACE).get("status") or {}
            return status.get("observedGeneration") == generation and status.get("phase") == "Ready"

        single = wait("the changed service Ready again", single_ready, 120, 0.1)
        rss = peak_rss_mib(controller.pid)
        print(f"controller on the real control plane: {args.services} services, {args.nodes} KWOK nodes, "
              f"{os.cpu_count()} cores")
        rows = [
            ("created (server-side apply, 16 threads)", f"{created:.1f} s", ""),
            ("all reported (images, gates, compile, apply, status)", f"{reported[0]:.1f} s", ""),
            ("all Ready (Deployments Available)", f"{all_ready:.1f} s", _verdict(all_ready <= 60)),
            ("  the same Deployments applied directly, no Lattice", f"{floor_seconds:.1f} s",
             ""),
            ("compile per service p50 / p99 (bucket bound)", f"{p50 * 1000:.1f} / {p99 * 1000:.1f} ms",
             _verdict(p99 <= 0.25)),
            ("controller peak RSS", f"{rss:.0f} MiB", _verdict(rss <= 500)),
            ("platform change until all re-derived", f"{rederived:.1f} s", ""),
            ("one service changed until Ready again", f"{single:.1f} s", _verdict(single <= 2)),
        ]
        for name, value, verdict in rows:
            print(f"  {name:<48} {value:>16}  {verdict}")
        print(f"writes the API server served until all were Ready ({sum(n for n, _ in written):.0f}; every "
              "client's):")
        for count, (verb, resource) in written[:14]:
            print(f"  {verb:<7} {resource:<40} {count:>8.0f}")
        print(f"CPU seconds each process used until all were Ready, on {os.cpu_count()} cores: with Lattice "
              f"({all_ready:.1f} s), and the same Deployments alone ({floor_seconds:.1f} s):")
        for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
            alone = f"{floor_cpu[name]:>8.1f} s" if name in floor_cpu else ""
            print(f"  {name:<48} {seconds:>8.1f} s  {alone}")
        print(f"  {'in all':<48} {sum(cpu.values()):>8.1f} s  {sum(floor_cpu.values()):>8.1f} s")
        return 0
    finally:
        if controller is not None:
            controller.terminate()
            controller.wait(10)
        kube.close()
        plane.stop()
        print(f"controller log: {log}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
