"""A hang fails its test instead of stalling CI: pytest-timeout is on, with a default for every test."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest


def test_every_test_has_a_timeout(request: pytest.FixtureRequest) -> None:
    assert 0 < float(request.config.getini("timeout")) <= 300


def test_a_hanging_test_fails_fast(tmp_path: Path) -> None:
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_hang():\n    time.sleep(60)\n")
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=1",
                          str(tmp_path / "test_hang.py")], capture_output=True, text=True, cwd=tmp_path, timeout=50)
    assert run.returncode == 1, run.stdout
    assert "Timeout" in run.stdout + run.stderr
    assert time.monotonic() - started < 40
