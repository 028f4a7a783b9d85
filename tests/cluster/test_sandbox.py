"""`make sandbox` as users run it: `python -m tests.cluster.sandbox` in a process of its own (its own control
plane, registry and controller), until it says it is up; then `kubectl get ls -A` against its kubeconfig, and
Ctrl-C (SIGINT), which must stop everything within 10 s with exit code 0.

One test only: it starts a second control plane beside the session's, on a 2-core machine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lattice.fleet import FleetResult
from tests.cluster.conftest import require_control_plane
from tests.cluster.controlplane import ROOT, binaries_dir
from tests.cluster.sandbox import UP
from tests.registry.conftest import require_registry_binary

STARTUP_TIMEOUT = 240.0  # the control plane, the loop and READY_TIMEOUT, with room for a loaded machine


@dataclass
class Sandbox:
    """The sandbox process, its output going to a file: no pipe to fill or to read from a thread, and what it
    printed survives whatever happens to the test."""

    process: subprocess.Popen[str]
    log: Path

    def wait_for_line(self, start: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith(start) for line in self.output.splitlines()):
                return
            if self.process.poll() is not None:
                pytest.fail(f"the sandbox exited ({self.process.returncode}) before {start!r}:\n{self.output}")
            time.sleep(0.2)
        pytest.fail(f"no line starting {start!r} within {timeout:.0f} s:\n{self.output}")

    @property
    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    require_control_plane()
    require_registry_binary()
    env = {**os.environ, "LATTICE_SANDBOX_KUBECONFIG": str(tmp_path / "kubeconfig"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "sandbox.out"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "tests.cluster.sandbox"], cwd=ROOT, env=env, text=True,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    yield Sandbox(process, log)
    if process.poll() is None:  # the test failed before its Ctrl-C
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _kubectl(kubeconfig: Path, *args: str) -> str:
    return subprocess.run([str(binaries_dir() / "kubectl"), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "KUBECONFIG": str(kubeconfig)}).stdout


def test_the_sandbox_runs_the_whole_loop_and_stops_on_ctrl_c(
        sandbox: Sandbox, examples_fleet: FleetResult, tmp_path: Path) -> None:
    sandbox.wait_for_line(UP, STARTUP_TIMEOUT)
    assert "every LatticeService Ready" in sandbox.output, sandbox.output
    assert "signed stand-ins in a local registry" in sandbox.output
    kubeconfig = tmp_path / "kubeconfig"

    rows = {tuple(line.split()[:2]): line.split()[2:] for line in _kubectl(kubeconfig, "get", "ls", "-A").splitlines()}
    payments = next(o for o in examples_fleet.services if o.ref.name == "payments")
    phase, resources, _age = rows[("commerce", "payments")]
    assert (phase, int(resources)) == ("Ready", len(payments.objects)), rows
    image = _kubectl(kubeconfig, "get", "deployment", "payments", "-n", "commerce",
                     "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image.startswith("127.0.0.1:") and "/payments@sha256:" in image  # the verified stand-in
    metrics = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", sandbox.output)
    assert metrics is not None, sandbox.output
    assert 'lattice_reconciles_total{result="ok"}' in httpx.get(metrics[1], timeout=5).text

    started = time.monotonic()
    sandbox.process.send_signal(signal.SIGINT)
    code = sandbox.process.wait(10)
    elapsed = time.monotonic() - started
    sandbox.wait_for_line("stopped in", 5)
    assert (code, elapsed < 10) == (0, True), (code, elapsed, sandbox.output)
    assert not kubeconfig.exists()
