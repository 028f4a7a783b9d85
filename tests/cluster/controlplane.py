"""A real Kubernetes control plane on 127.0.0.1 for the tests and `make sandbox`.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the upstream binaries built by
`testenv/build.sh`; nodes and the pod lifecycle are simulated by KWOK (no kubelet, no container runtime, no
CNI). Every component gets free ports and a folder under one temporary directory, and logs to a file there
so a failing test can print the tails. The flags follow what controller-runtime's envtest passes to
kube-apiserver (pkg/internal/testing/controlplane) plus what kubeadm gives the controller-manager
(--use-service-account-credentials: each controller acts as its own service account under RBAC).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cluster.kube import ApiError, Kube, wait_for
from tests.cluster.pki import CertificateAuthority, KeyPair, service_account_keys

ROOT = Path(__file__).resolve().parents[2]
STAGES = Path(__file__).with_name("kwok-stages.yaml")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
# ClusterIPs are only allocated, never routed (there is no kube-proxy); a /16 holds bench/controller.py's fleet.
SERVICE_CIDR = "10.0.0.0/16"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
POD_CIDR = "10.244.0.0/16"  # KWOK writes pod IPs from here into status; nothing listens on them
# kube-controller-manager's controllers for the workloads Lattice emits (names from
# cmd/kube-controller-manager/names). Left out: those that need a kubelet's heartbeat (node-lifecycle), a cloud
# (service-lb, route, node-ipam), a metrics API (horizontal-pod-autoscaler) or storage (persistentvolume-*).
CONTROLLERS = (
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "resourcequota-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "disruption-controller",
    "endpointslice-controller",
)
# Binds claims to PersistentVolumes someone created (no provisioning: no storage exists). `make sandbox` adds it
# and creates a volume per claim the examples make, so the pods that mount one can be scheduled.
VOLUME_BINDER = "persistentvolume-binder-controller"


@dataclass(frozen=True)
class FakeNode:
    name: str
    zone: str


NODES = (FakeNode("kwok-a", "zone-a"), FakeNode("kwok-b", "zone-b"), FakeNode("kwok-c", "zone-c"))


def binaries_dir() -> Path:
    """Where `testenv/build.sh` puts (or finds) the binaries of the pinned versions; $LATTICE_TESTENV_BIN wins."""
    if os.environ.get("LATTICE_TESTENV_BIN"):
        return Path(os.environ["LATTICE_TESTENV_BIN"])
    out = subprocess.run(
        ["bash", str(ROOT / "testenv" / "build.sh"), "--print-dir"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def missing_binaries(folder: Path) -> list[str]:
    return [name for name in BINARIES if not os.access(folder / name, os.X_OK)]


def _die_with_parent() -> None:
    """Linux: the component is killed if the Python process dies without stopping it (a killed test run must
    not leave an API server running on a shared machine). SIGKILL, not SIGTERM: all of them would get it at
    once, and an API server whose etcd is gone hangs in its graceful shutdown."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(line if len(line) <= 400 else line[:400] + " ..." for line in text[-lines:])


class ComponentFailed(RuntimeError):
    pass


@dataclass
class ControlPlane:
    """Start with `start()`, stop with `stop()`; `kubeconfig` is an admin (system:masters) kubeconfig."""

    bin_dir: Path
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lattice-controlplane-")))
    nodes: tuple[FakeNode, ...] = NODES
    components: list[Component] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    keep_workdir: bool = False
    controllers: tuple[str, ...] = CONTROLLERS

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    # --- start --------------------------------------------------------------------------------------------

    def start(self) -> Kube:
        """Start every component, wait until each is healthy, and return an admin client."""
        begin = time.monotonic()
        try:
            self._pki()
            self._etcd()
            kube = self._apiserver()
            self._controller_manager()
            self._scheduler()
            self._kwok()
            self._register_nodes(kube)
            self._wait_healthy(kube)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - begin
        return kube

    def _pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        self.serving_ca = CertificateAuthority(pki, "serving-ca")
        self.client_ca = CertificateAuthority(pki, "client-ca")
        # The aggregation layer's front proxy (kubeadm's front-proxy-ca): unused here, but without it every
        # component logs the missing requestheader CA bundle many times a second.
        self.front_proxy_ca = CertificateAuthority(pki, "front-proxy-ca")
        self.serving = self.serving_ca.issue(
            "apiserver",
            "kube-apiserver",
            ips=("127.0.0.1", "10.0.0.1"),
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        )
        self.service_account = service_account_keys(pki)
        self.apiserver_port = free_port()
        self.server = f"https://127.0.0.1:{self.apiserver_port}"
        identities = {
            "admin": ("lattice-admin", ("system:masters",)),
            "controller-manager": ("system:kube-controller-manager", ()),
            "scheduler": ("system:kube-scheduler", ()),
            # KWOK plays every kubelet: it is simulation machinery, not under test, so it gets admin rights.
            "kwok": ("kwok-controller", ("system:masters",)),
        }
        for user, (common_name, groups) in identities.items():
            pair = self.client_ca.issue(f"{user}-client", common_name, groups=groups)
            self._write_kubeconfig(self.workdir / f"{user}.kubeconfig", user, pair)

    def _write_kubeconfig(self, path: Path, user: str, pair: KeyPair) -> None:
        cluster = {"server": self.server, "certificate-authority": str(self.serving_ca.pair.cert)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "lattice-test", "cluster": cluster}],
            "users": [{"name": user, "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)}}],
            "contexts": [{"name": "lattice-test", "context": {"cluster": "lattice-test", "user": user}}],
            "current-context": "lattice-test",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    def _spawn(self, name: str, args: list[str]) -> Component:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [str(self.bin_dir / args[0]), *args[1:]],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,  # Ctrl-C in `make sandbox` reaches Python, which stops them in order
            preexec_fn=_die_with_parent,
        )
        handle.close()
        component = Component(name, process, log)
        self.components.append(component)
        return component

    def _wait(self, component: Component, what: str, probe: Callable[[], Any], timeout: float = 60) -> None:
        """Wait for `probe`, failing early with the log tail when the component exits."""

        def alive_probe() -> Any:
            if component.process.poll() is not None:
                raise ComponentFailed(
                    f"{component.name} exited with {component.process.returncode}; log tail:\n{component.tail(30)}"
                )
            return probe()

        begin = time.monotonic()
        try:
            wait_for(what, alive_probe, timeout=timeout, interval=0.1)
        except TimeoutError as error:
            raise ComponentFailed(f"{error}; {component.name} log tail:\n{component.tail(30)}") from None
        self.timings[component.name] = time.monotonic() - begin

    def _etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._spawn(
            "etcd",
            [
                "etcd",
                "--name=lattice-test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=lattice-test=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # a test cluster's data need not survive a power cut
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            try:
                return bool(httpx.get(f"{self.etcd_url}/health", timeout=1).json().get("health") == "true")
            except (httpx.HTTPError, ValueError):
                return False

        self._wait(etcd, "etcd /health", healthy)

    def _apiserver(self) -> Kube:
        cert_dir = self.workdir / "apiserver"
        cert_dir.mkdir(exist_ok=True)
        apiserver = self._spawn(
            "kube-apiserver",
            [
                "kube-apiserver",
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={cert_dir}",
                f"--tls-cert-file={self.serving.cert}",
                f"--tls-private-key-file={self.serving.key}",
                f"--client-ca-file={self.client_ca.pair.cert}",
                f"--requestheader-client-ca-file={self.front_proxy_ca.pair.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--secure-port={self.apiserver_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={self.service_account.cert}",
                f"--service-account-signing-key-file={self.service_account.key}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # This plugin taints every new Node not-ready until the node-lifecycle controller sees its
                # kubelet report Ready; KWOK's nodes are Ready from their first status, and no kubelet
                # heartbeat is simulated for that controller to watch, so neither runs.
                "--disable-admission-plugins=TaintNodesByCondition",
                # One client at a time in tests: no need for priority and fairness's queues (as kwokctl does).
                "--enable-priority-and-fairness=false",
                "--profiling=false",
            ],
        )
        context = ssl.create_default_context(cafile=str(self.serving_ca.pair.cert))
        admin = self.client_ca.issue("admin-python-client", "lattice-admin", groups=("system:masters",))
        context.load_cert_chain(str(admin.cert), str(admin.key))
        kube = Kube(self.server, context)

        def ready() -> bool:
            try:
                return bool(kube.request("GET", "/readyz") == "ok")
            except (ApiError, httpx.HTTPError, ssl.SSLError):
                return False

        self._wait(apiserver, "kube-apiserver /readyz", ready, timeout=90)
        return kube

    def _controller_manager(self) -> None:
        port = free_port()
        kubeconfig = self.workdir / "controller-manager.kubeconfig"
        self.controller_manager_port = port
        self._spawn(
            "kube-controller-manager",
            [
                "kube-controller-manager",
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'controller-manager'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.service_account.key}",
                f"--root-ca-file={self.serving_ca.pair.cert}",
                f"--controllers={','.join(self.controllers)}",
                # The defaults (20 requests/s, 5 Deployments and ReplicaSets synced at once) take minutes to roll
                # out the 1,000 Deployments of bench/controller.py; a real cluster is sized for its fleet too.
                "--kube-api-qps=300", "--kube-api-burst=600",
                "--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20",
            ],
        )

    def _scheduler(self) -> None:
        port = free_port()
        kubeconfig = self.workdir / "scheduler.kubeconfig"
        self.scheduler_port = port
        self._spawn(
            "kube-scheduler",
            [
                "kube-scheduler",
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'scheduler'}",
                "--leader-elect=false",
            ],
        )

    def _kwok(self) -> None:
        self.kwok_port = free_port()
        self._spawn(
            "kwok",
            [
                "kwok",
                f"--kubeconfig={self.workdir / 'kwok.kubeconfig'}",
                f"--config={STAGES}",
                "--manage-all-nodes=true",
                f"--server-address=127.0.0.1:{self.kwok_port}",
                "--node-ip=127.0.0.1",
                f"--cidr={POD_CIDR}",
            ],
        )

    def _register_nodes(self, kube: Kube) -> None:
        """Node objects as a kubelet would register them; KWOK then reports them Ready."""
        for node in self.nodes:
            resources = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": node.name,
                        "labels": {
                            "kubernetes.io/hostname": node.name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "topology.kubernetes.io/region": "test",
                            "topology.kubernetes.io/zone": node.zone,
                            "type": "kwok",
                        },
                        "annotations": {"kwok.x-k8s.io/node": "fake"},
                    },
                    "status": {"capacity": resources, "allocatable": resources},
                }
            )

    def _wait_healthy(self, kube: Kube) -> None:
        by_name = {c.name: c for c in self.components}

        def secure_healthz(port: int) -> Callable[[], bool]:
            def probe() -> bool:
                try:
                    return httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=1).text == "ok"
                except httpx.HTTPError:
                    return False

            return probe

        def kwok_healthz() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.kwok_port}/healthz", timeout=1).is_success
            except httpx.HTTPError:
                return False

        self._wait(by_name["kube-controller-manager"], "kube-controller-manager /healthz",
                   secure_healthz(self.controller_manager_port))
        self._wait(by_name["kube-scheduler"], "kube-scheduler /healthz", secure_healthz(self.scheduler_port))
        self._wait(by_name["kwok"], "kwok /healthz", kwok_healthz)

        def nodes_ready() -> bool:
            for node in kube.list("v1", "Node"):
                conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
                if conditions.get("Ready") != "True":
                    return False
            return True

        self._wait(by_name["kwok"], "the KWOK nodes to be Ready", nodes_ready)
        # The serviceaccount controller creates `default` in every namespace: the controller-manager works.
        self._wait(by_name["kube-controller-manager"], "the default ServiceAccount",
                   lambda: kube.get("v1", "ServiceAccount", "default", "default"))

    # --- stop ---------------------------------------------------------------------------------------------

    def stop(self, grace: float = 4) -> None:
        """Stop in reverse dependency order: the API server's clients together, then the API server (it drains
        its requests: about a second), then etcd. SIGTERM each group, SIGKILL what is left when `grace` is up."""
        begin = time.monotonic()
        deadline = begin + grace
        servers = ("kube-apiserver", "etcd")
        groups = [[c for c in self.components if c.name not in servers]]
        groups += [[c for c in self.components if c.name == name] for name in servers]
        for group in groups:
            for component in group:
                if component.process.poll() is None:
                    component.process.send_signal(signal.SIGTERM)
            for component in group:
                try:
                    component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    component.process.kill()
                    component.process.wait()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.timings["stop"] = time.monotonic() - begin

    def log_tails(self, lines: int = 25) -> str:
        return "\n\n".join(f"--- {c.name} ({c.log}) ---\n{c.tail(lines)}" for c in self.components)
