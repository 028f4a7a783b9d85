"""The `cluster` fixture: one real control plane per test run (tests/cluster/controlplane.py).

Outside CI, when the binaries are not built, every test that needs it is skipped and the run says why in one
line. In CI (CI=true) a missing binary is a failure: the control plane is part of what CI checks.
LATTICE_TEST_KUBECONFIG=path runs the same tests against an existing cluster instead (its current context;
the tests that need KWOK's simulated nodes are then skipped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.controlplane import ComponentFailed, ControlPlane, binaries_dir, missing_binaries
from tests.cluster.kube import ApiError, Kube

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Cluster:
    kube: Kube
    plane: ControlPlane | None  # None: an existing cluster from LATTICE_TEST_KUBECONFIG

    @property
    def kubeconfig(self) -> Path:
        if self.plane is not None:
            return self.plane.kubeconfig
        return Path(os.environ["LATTICE_TEST_KUBECONFIG"])

    def require_simulated_nodes(self) -> None:
        if self.plane is None:
            pytest.skip("needs the KWOK nodes of the test control plane (LATTICE_TEST_KUBECONFIG is set)")

    def ensure_namespace(self, name: str) -> None:
        try:
            self.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except ApiError as error:
            if error.status != 409:
                raise


_state: dict[str, Any] = {}


def require_control_plane() -> Path:
    """The folder of the built binaries; without them the test is skipped (and the run says why in one line),
    except in CI, where it fails."""
    folder = binaries_dir()
    missing = missing_binaries(folder)
    if missing:
        reason = f"control plane not built ({', '.join(missing)} missing in {folder}): run `make testenv`"
        _state["skipped"] = reason
        if IN_CI:
            pytest.fail(f"CI=true and the {reason}; the build step must have failed", pytrace=False)
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    external = os.environ.get("LATTICE_TEST_KUBECONFIG")
    if external:
        kube = Kube.from_kubeconfig(Path(external))
        yield Cluster(kube, None)
        kube.close()
        return
    folder = require_control_plane()
    plane = ControlPlane(folder)
    try:
        kube = plane.start()
    except ComponentFailed as error:
        if "address already in use" not in str(error):
            raise
        plane = ControlPlane(folder)  # another process took a free port between our pick and its bind
        kube = plane.start()
    _state["plane"] = plane
    yield Cluster(kube, plane)
    kube.close()
    plane.stop()
    _state["timings"] = dict(plane.timings)
    del _state["plane"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """A failing test that used the cluster gets the tail of every component's log in its report."""
    outcome: Any = yield
    report = outcome.get_result()
    plane = _state.get("plane")
    if report.failed and plane is not None and "cluster" in getattr(item, "fixturenames", ()):
        report.sections.append(("control plane log tails", plane.log_tails()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "skipped" in _state and not IN_CI:
        terminalreporter.write_line(f"tests/cluster skipped: {_state['skipped']}")
    if "timings" in _state:
        t = _state["timings"]
        parts = ", ".join(f"{name} {t[name]:.1f} s" for name in t if name not in ("start", "stop"))
        terminalreporter.write_line(
            f"control plane: started in {t['start']:.1f} s ({parts}), stopped in {t['stop']:.1f} s"
        )
