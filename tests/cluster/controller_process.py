"""The real `lattice controller` process next to a control plane, shared by `make sandbox` and the cluster tests:
the kinds it writes made servable (foreign CRDs, namespaces), `lattice install`, a kubeconfig holding only a
token of the ServiceAccount that install made, and the process itself, started with that kubeconfig so the
RBAC install granted is what the controller runs with."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from typer.testing import CliRunner

from lattice.cli.main import app
from lattice.controller import install
from lattice.fleet import FleetResult
from tests.cluster.controlplane import free_port
from tests.cluster.foreign_crds import crds_for
from tests.cluster.kube import ApiError, Kube, install_crds

if TYPE_CHECKING:
    from tests.cluster.conftest import Cluster

LATTICE = str(Path(sys.executable).with_name("lattice"))
# Namespaced, as its CRD is: the controller watches ServiceMonitors, which the examples only emit under the
# prometheus-operator metrics stack.
SERVICE_MONITOR = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                   "metadata": {"name": "x", "namespace": "x"}}


def install_foreign_crds(kube: Kube, objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """CRDs for the kinds among `objects` (and ServiceMonitor) that the server does not serve yet, so the
    controller can watch and apply them; returns the CRDs installed."""
    foreign = [o for o in [*objects, SERVICE_MONITOR] if not kube.serves(o["apiVersion"], o["kind"])]
    crds = crds_for(foreign)
    install_crds(kube, crds)
    kube.forget_discovery()
    return crds


def install_lattice_for_tests(cluster: Cluster, fleet: FleetResult, namespace: str) -> None:
    """What every controller test starts from: the foreign CRDs and the platform namespaces the examples' objects
    need (so that nothing else retries), `lattice install` (the CLI, in-process) and the test's namespace."""
    cluster.require_simulated_nodes()
    install_foreign_crds(cluster.kube, fleet.objects)
    for name in {o["metadata"].get("namespace") for o in fleet.cluster_objects} - {None}:
        cluster.ensure_namespace(name)
    installed = CliRunner().invoke(app, ["install", "--kubeconfig", str(cluster.kubeconfig)])
    assert installed.exit_code == 0, installed.stderr
    cluster.kube.forget_discovery()
    cluster.ensure_namespace(namespace)


def ensure_namespace(kube: Kube, name: str) -> None:
    """Create the namespace unless it exists (the controller applies into namespaces, it creates none)."""
    try:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except ApiError as error:
        if error.status != 409:
            raise


def lattice_install(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    """`lattice install --kubeconfig`, the real CLI in a process of its own, its output captured."""
    return subprocess.run([LATTICE, "install", "--kubeconfig", str(kubeconfig)], capture_output=True, text=True,
                          check=False)


def service_account_kubeconfig(kube: Kube, admin_kubeconfig: Path, folder: Path) -> Path:
    """A kubeconfig holding only a token of the controller's ServiceAccount (TokenRequest API), so the
    controller runs with exactly the RBAC `lattice install` granted. The cluster entry is the admin's."""
    answer = kube.request(
        "POST", f"/api/v1/namespaces/{install.NAMESPACE}/serviceaccounts/{install.NAME}/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c["context"] for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    authority = server["cluster"].get("certificate-authority")
    if authority:
        server["cluster"]["certificate-authority"] = str((admin_kubeconfig.parent / authority).resolve())
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [server],
              "users": [{"name": "controller", "user": {"token": answer["status"]["token"]}}],
              "contexts": [{"name": "controller", "context": {"cluster": server["name"], "user": "controller"}}],
              "current-context": "controller"}
    path = folder / "controller.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class RunningController:
    """`lattice controller` in a process of its own on a free metrics port, its output going to `log` (a new
    temporary file when not given). `own_session` keeps a terminal's Ctrl-C away from it, so whoever started
    it stops it in order."""

    def __init__(self, kubeconfig: Path, *args: str, log: Path | None = None, own_session: bool = False) -> None:
        self.port = free_port()
        if log is None:
            handle, name = tempfile.mkstemp(prefix="lattice-controller-", suffix=".log")
            os.close(handle)
            log = Path(name)
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [LATTICE, "controller", "--kubeconfig", str(kubeconfig), "--metrics-port", str(self.port), *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=own_session,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=5).text

    def healthy(self) -> bool | None:
        """True once /healthz answers 200; None (keep waiting) before, for `wait_for`."""
        return healthy(self.port)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> tuple[int, float]:
        """SIGTERM, as the kubelet sends it; the exit code and how long the shutdown took."""
        started = time.monotonic()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, time.monotonic() - started


def healthy(port: int) -> bool | None:
    """Whether the controller on `port` answers /healthz with 200 (None when not yet: `wait_for` polls on)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200 or None
    except httpx.HTTPError:
        return None
