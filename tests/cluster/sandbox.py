"""`make sandbox`: the tests' control plane in the foreground, for trying Lattice without a cluster.

The kubeconfig (certificates embedded, so it stays valid while the sandbox runs) is written to
.sandbox/kubeconfig in the repository, or $LATTICE_SANDBOX_KUBECONFIG. Ctrl-C stops every component and
removes it.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import yaml

from tests.cluster.controlplane import ROOT, ControlPlane, binaries_dir, missing_binaries


def _embedded(kubeconfig: Path) -> str:
    """The kubeconfig with its certificate files inlined as *-data fields."""
    config = yaml.safe_load(kubeconfig.read_text())
    for section, keys in (("clusters", ("certificate-authority",)), ("users", ("client-certificate", "client-key"))):
        for entry in config[section]:
            body = entry["cluster" if section == "clusters" else "user"]
            for key in keys:
                body[f"{key}-data"] = base64.b64encode(Path(body.pop(key)).read_bytes()).decode()
    return yaml.safe_dump(config, sort_keys=False)


def main() -> int:
    folder = binaries_dir()
    missing = missing_binaries(folder)
    if missing:
        print(f"error: {', '.join(missing)} not built in {folder}: run `make testenv`", file=sys.stderr)
        return 2
    target = Path(os.environ.get("LATTICE_SANDBOX_KUBECONFIG", ROOT / ".sandbox" / "kubeconfig"))
    plane = ControlPlane(folder)
    print("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok ...", flush=True)
    plane.start().close()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_embedded(plane.kubeconfig))
    target.chmod(0o600)
    nodes = ", ".join(f"{n.name} ({n.zone})" for n in plane.nodes)
    print(
        f"control plane up in {plane.timings['start']:.1f} s on {plane.server}; simulated nodes: {nodes}\n"
        f"  export KUBECONFIG={target}\n"
        f"  {folder / 'kubectl'} get nodes\n"
        f"component logs: {plane.workdir}/*.log — press Ctrl-C to stop",
        flush=True,
    )
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping:
            dead = [c.name for c in plane.components if c.process.poll() is not None]
            if dead:
                print(f"error: {', '.join(dead)} exited; log tails:\n{plane.log_tails()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        plane.stop()
        target.unlink(missing_ok=True)
        print(f"stopped in {plane.timings['stop']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
