"""The `registry` fixture: one real OCI registry (Debian's `docker-registry`) on 127.0.0.1 per test run.

Outside CI, without the binary, the tests that need it are skipped with one line saying how to install it; in
CI (CI=true) a missing binary is a failure, since `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.registry.oci import BINARY, INSTALL_HINT, Pusher, RegistryProcess

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_state: dict[str, str] = {}


def require_registry_binary() -> None:
    if shutil.which(BINARY) is None:
        reason = f"`{BINARY}` is not installed: {INSTALL_HINT}"
        _state["skipped"] = reason
        if IN_CI:
            pytest.fail(f"CI=true and {reason}; .ci/run must have failed to install it", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    require_registry_binary()
    with RegistryProcess(Path(tmp_path_factory.mktemp("registry"))) as process:
        yield process


@pytest.fixture
def pusher(registry: RegistryProcess) -> Pusher:
    return Pusher(registry.url)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "skipped" in _state and not IN_CI:
        terminalreporter.write_line(f"tests/registry skipped: {_state['skipped']}")
