"""`make sandbox`: Lattice's whole loop on the tests' control plane, in the foreground, for trying Lattice
without a cluster.

It starts the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes), installs
the CRDs of the foreign kinds the compiled objects use and the namespaces the examples need, runs `lattice
install` and then `lattice controller` with the token of the ServiceAccount install made, and applies the bundled
examples. Their images are signed stand-ins in a local registry (Debian's `docker-registry`) when it is
installed (see tests/cluster/stand_in_images.py); without it the examples stay Failed on ImagesVerified.

The kubeconfig (certificates embedded, so it stays valid while the sandbox runs) is written to
.sandbox/kubeconfig in the repository, or $LATTICE_SANDBOX_KUBECONFIG. Ctrl-C stops the controller, the registry
and every component, and removes it.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from lattice.cli.inputs import load_inputs
from lattice.controller import install
from lattice.fleet import Sourced, compile_fleet
from tests.cluster.controller_process import (
    RunningController,
    ensure_namespace,
    install_foreign_crds,
    lattice_install,
    service_account_kubeconfig,
)
from tests.cluster.controlplane import (
    CONTROLLERS,
    ROOT,
    VOLUME_BINDER,
    ComponentFailed,
    ControlPlane,
    binaries_dir,
    missing_binaries,
)
from tests.cluster.kube import ApiError, Kube, wait_for
from tests.cluster.stand_in_images import image_references, provider_registries, push_stand_ins
from tests.registry.oci import BINARY, Pusher, RegistryProcess

EXAMPLES = ROOT / "examples"
LATTICE = "lattice.dev/v1alpha1"
READY_TIMEOUT = 90.0
MANAGER = "lattice-sandbox"
UP = "sandbox up"  # the start of the line printed once everything is started (tests/cluster/test_sandbox.py)


class SandboxError(Exception):
    """A step failed for a reason the message explains: printed as one error line, no traceback."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop everything in order and exit 0."""


@dataclass
class Loop:
    """What runs beside the control plane; `stop` stops what was started, the controller first."""

    workdir: Path
    controller: RunningController | None = None
    registry: RegistryProcess | None = None
    services: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name) of every LatticeService

    def dead(self) -> list[str]:
        """What was started and has exited since."""
        out = []
        if self.controller is not None and self.controller.process.poll() is not None:
            out.append(f"lattice controller (log: {self.controller.log})")
        if self.registry is not None and not self.registry.running:
            out.append(f"docker-registry (log: {self.registry.log})")
        return out

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
        if self.registry is not None:
            self.registry.stop()


def say(text: str) -> None:
    print(text, flush=True)


def _embedded(kubeconfig: Path) -> str:
    """The kubeconfig with its certificate files inlined as *-data fields."""
    config = yaml.safe_load(kubeconfig.read_text())
    for section, keys in (("clusters", ("certificate-authority",)), ("users", ("client-certificate", "client-key"))):
        for entry in config[section]:
            body = entry["cluster" if section == "clusters" else "user"]
            for key in keys:
                body[f"{key}-data"] = base64.b64encode(Path(body.pop(key)).read_bytes()).decode()
    return yaml.safe_dump(config, sort_keys=False)


# --- the loop ---------------------------------------------------------------------------------------------


def read_examples() -> tuple[list[Sourced], list[dict[str, Any]]]:
    """The examples as the CLI reads them (multi-document files included): the parsed resources and their
    documents as written. A problem in them is printed at its file and line by the CLI's own reader."""
    items, documents, errors = load_inputs([str(EXAMPLES)])
    if errors:
        raise SandboxError(f"{errors} problem(s) in {EXAMPLES} (printed above)")
    return items, [document.data for document in documents]


def prepare_cluster(kube: Kube, admin_kubeconfig: Path, items: list[Sourced], documents: list[dict[str, Any]]
                    ) -> None:
    """What the compiled examples need before the controller can apply them: the CRDs of their foreign kinds,
    their namespaces, volumes for their claims, and `lattice install`."""
    fleet = compile_fleet(items)
    crds = install_foreign_crds(kube, fleet.objects)
    namespaces = {o["metadata"].get("namespace") for o in [*fleet.cluster_objects, *documents]} - {None}
    for namespace in sorted(namespaces):
        ensure_namespace(kube, namespace)
    groups = sorted({crd["spec"]["group"] for crd in crds})
    say(f"installed {len(crds)} CRDs of the kinds Lattice writes ({', '.join(groups)}) "
        f"and namespaces {', '.join(sorted(namespaces))}")
    provide_volumes(kube, [o for o in fleet.objects if o["kind"] == "PersistentVolumeClaim"])
    run_install(kube, admin_kubeconfig)


def provide_volumes(kube: Kube, claims: list[dict[str, Any]]) -> None:
    """A PersistentVolume for each claim, so kube-controller-manager's binder binds it and the pods that mount
    it can be scheduled."""
    for claim in claims:
        kube.apply(persistent_volume(claim), manager=MANAGER)
    if claims:
        say(f"{len(claims)} PersistentVolume(s) made for the claims the examples compile to (simulated storage: "
            "nothing is mounted)")


def run_install(kube: Kube, admin_kubeconfig: Path) -> None:
    """`lattice install`, the real CLI; its own summary line is relayed, its errors end the sandbox."""
    installed = lattice_install(admin_kubeconfig)
    said = (installed.stderr + installed.stdout).strip()
    if installed.returncode != 0:
        raise SandboxError(f"`lattice install` failed ({installed.returncode}):\n{said}")
    kube.forget_discovery()
    say(f"$ lattice install --kubeconfig ...: {said.splitlines()[-1] if said else 'done'} (the Lattice CRDs, "
        "namespace lattice-system, RBAC, the controller's ServiceAccount and Deployment, whose pods are KWOK's: "
        "the controller that acts is the process below)")


def persistent_volume(claim: dict[str, Any]) -> dict[str, Any]:
    """A volume pre-bound to `claim` with its class, access modes and size, as a storage admin would make for
    it: the sandbox has no provisioner, and kube-controller-manager's binder only binds what exists."""
    meta, spec = claim["metadata"], claim["spec"]
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"sandbox-{meta['namespace']}-{meta['name']}"},
            "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                     "accessModes": spec["accessModes"],
                     "storageClassName": spec.get("storageClassName", ""),
                     "claimRef": {"namespace": meta["namespace"], "name": meta["name"]},
                     # KWOK runs no kubelet, so nothing mounts it: any source will do.
                     "hostPath": {"path": f"/var/lib/lattice-sandbox/{meta['namespace']}/{meta['name']}"}}}


def start_controller(loop: Loop, kube: Kube, admin_kubeconfig: Path) -> None:
    """`lattice controller` as its ServiceAccount (only the rights `lattice install` granted), logging into the
    work folder."""
    kubeconfig = service_account_kubeconfig(kube, admin_kubeconfig, loop.workdir)
    loop.controller = RunningController(kubeconfig, "--standalone", log=loop.workdir / "controller.log",
                                        own_session=True)
    say(f"lattice controller started as system:serviceaccount:{install.NAMESPACE}:{install.NAME} "
        f"(pid {loop.controller.process.pid}); metrics: {loop.controller.metrics_url}; log: {loop.controller.log}")


def stand_in_images(loop: Loop, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents with their images served, signed, by a local registry; unchanged (with one line saying
    why and what follows) when `docker-registry` is not installed."""
    if shutil.which(BINARY) is None:
        say(f"note: `{BINARY}` is not on PATH, so the examples' images cannot be verified and their services "
            "will stay Failed on ImagesVerified; install it with `apt-get install docker-registry` for the "
            "whole loop")
        return documents
    loop.registry = RegistryProcess(loop.workdir / "registry")
    try:
        loop.registry.start()
    except RuntimeError as error:
        raise SandboxError(str(error)) from None
    references = image_references(documents, provider_registries(documents))
    stand_ins = push_stand_ins(Pusher(loop.registry.url), loop.registry.host, references)
    say(f"images: {len(references)} signed stand-ins in a local registry ({BINARY} on {loop.registry.host}, "
        f"signed with a key made for this sandbox); the examples are applied with their image references and "
        f"ImageProvider switched to it, nothing else changed")
    return stand_ins.rewrite(documents)


def apply_examples(loop: Loop, kube: Kube, documents: list[dict[str, Any]]) -> None:
    """Server-side apply every document; a refused one is printed and the rest still applied."""
    applied = 0
    for document in documents:
        meta = document["metadata"]
        try:
            kube.apply(document, manager=MANAGER)
            applied += 1
        except ApiError as error:
            say(f"warning: the API server refused {document['kind']} {meta.get('namespace', '')}/{meta['name']}: "
                f"{error.message}")
        if document["kind"] == "LatticeService":
            loop.services.append((meta.get("namespace", "default"), meta["name"]))
    say(f"applied {applied} documents from {EXAMPLES.relative_to(ROOT)}/ ({len(loop.services)} LatticeServices)")


def start_loop(loop: Loop, kube: Kube, admin_kubeconfig: Path) -> None:
    """Everything of the loop after the control plane: CRDs, namespaces, install, the controller, the images
    and the examples. What it starts is recorded in `loop`, for `loop.stop()`."""
    items, documents = read_examples()
    prepare_cluster(kube, admin_kubeconfig, items, documents)
    start_controller(loop, kube, admin_kubeconfig)
    documents = stand_in_images(loop, documents)
    controller = loop.controller
    assert controller is not None
    try:
        wait_for("the controller's /healthz", controller.healthy, timeout=60)
    except TimeoutError:
        raise SandboxError(f"the controller did not become healthy; its log ends:\n{controller.tail(20)}") from None
    apply_examples(loop, kube, documents)


# --- waiting and reporting ---------------------------------------------------------------------------------


Status = dict[str, Any]
Waiting = dict[tuple[str, str], Status]


def not_ready(kube: Kube, services: list[tuple[str, str]]) -> Waiting:
    """The status of each service that is not Ready (empty when it has none yet)."""
    statuses = {(o["metadata"]["namespace"], o["metadata"]["name"]): o.get("status") or {}
                for o in kube.list(LATTICE, "LatticeService")}
    return {key: statuses.get(key, {}) for key in services if statuses.get(key, {}).get("phase") != "Ready"}


def failed_on_images(status: Status) -> bool:
    """Failed with ImagesVerified False: where a service ends when its images cannot be verified."""
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return status.get("phase") == "Failed" and conditions.get("ImagesVerified") == "False"


def wait_ready(kube: Kube, services: list[tuple[str, str]], timeout: float = READY_TIMEOUT,
               expected: Callable[[Status], bool] = lambda status: False) -> Waiting:
    """Poll until every service is Ready, or is where it is `expected` to end, or `timeout`; one progress line
    (rewritten in place on a terminal). Returns what is not Ready."""
    started = time.monotonic()
    last = ""
    while True:
        waiting = not_ready(kube, services)
        line = f"waiting for the LatticeServices to be Ready: {len(services) - len(waiting)}/{len(services)}"
        if sys.stdout.isatty():
            print(f"\r{line} ({time.monotonic() - started:.0f} s)", end="", flush=True)
        elif line != last:
            say(line)
        last = line
        if all(expected(status) for status in waiting.values()) or time.monotonic() - started > timeout:
            if sys.stdout.isatty():
                print(flush=True)
            return waiting
        time.sleep(0.5)


def kubectl(folder: Path, kubeconfig: Path, *args: str) -> str:
    """kubectl's output (or its error) with the sandbox's kubeconfig."""
    answer = subprocess.run([str(folder / "kubectl"), *args], capture_output=True, text=True, check=False,
                            env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    return answer.stdout if answer.returncode == 0 else answer.stderr


def report(waiting: Waiting, began: float, folder: Path, target: Path) -> None:
    """Whether everything is Ready (or what is not, and why), `kubectl get ls -A`, and how to look."""
    elapsed = time.monotonic() - began
    if waiting:
        say(f"not Ready {elapsed:.1f} s after start (the sandbox keeps running, so you can look):")
        for (namespace, name), status in sorted(waiting.items()):
            say(f"  {namespace}/{name}: {status.get('phase', 'no status yet')}: "
                f"{status.get('message') or '(no message)'}")
    else:
        say(f"every LatticeService Ready {elapsed:.1f} s after start")
    say(f"$ kubectl get ls -A\n{kubectl(folder, target, 'get', 'ls', '-A').rstrip()}")
    say(f"try it:\n  export KUBECONFIG={target}\n  export PATH={folder}:$PATH\n"
        "  kubectl get ls -A\n  kubectl describe ls payments -n commerce\n"
        "  kubectl get lattice -A        # every Lattice kind, each with its status")


# --- the foreground ----------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def watch(plane: ControlPlane, loop: Loop) -> None:
    """Run until interrupted; a component that exits ends the sandbox with its log tails."""
    while True:
        dead = [c.name for c in plane.components if c.process.poll() is not None] + loop.dead()
        if dead:
            raise SandboxError(f"{', '.join(dead)} exited; log tails:\n{plane.log_tails()}")
        time.sleep(0.5)


def run(plane: ControlPlane, folder: Path, target: Path, began: float) -> None:
    """Start the control plane and the loop, report, and watch until Ctrl-C; stop everything on the way out."""
    say("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok ...")
    kube = plane.start()
    loop = Loop(plane.workdir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_embedded(plane.kubeconfig))
        target.chmod(0o600)
        nodes = ", ".join(f"{n.name} ({n.zone})" for n in plane.nodes)
        say(f"control plane up in {plane.timings['start']:.1f} s on {plane.server}; simulated nodes: {nodes}")
        start_loop(loop, kube, plane.kubeconfig)
        # Without the registry the services end Failed on ImagesVerified: no use waiting longer for them.
        expected = failed_on_images if loop.registry is None else (lambda status: False)
        report(wait_ready(kube, loop.services, expected=expected), began, folder, target)
        say(f"{UP}: component logs in {plane.workdir} (removed on exit); press Ctrl-C to stop")
        watch(plane, loop)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        loop.stop()
        kube.close()
        plane.stop()
        target.unlink(missing_ok=True)
        say(f"stopped in {plane.timings['stop']:.1f} s")


def main() -> int:
    began = time.monotonic()
    folder = binaries_dir()
    missing = missing_binaries(folder)
    if missing:
        print(f"error: {', '.join(missing)} not built in {folder}: run `make testenv`", file=sys.stderr)
        return 2
    target = Path(os.environ.get("LATTICE_SANDBOX_KUBECONFIG", ROOT / ".sandbox" / "kubeconfig"))
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run(ControlPlane(folder, controllers=(*CONTROLLERS, VOLUME_BINDER)), folder, target, began)
    except Interrupted:
        return 0
    except (SandboxError, ComponentFailed, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
