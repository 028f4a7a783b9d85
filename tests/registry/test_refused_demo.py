"""The documented demo of the three refusals (README, `make refused`) keeps working: the secret and the quota
refusals offline, the unsigned image against a real registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.registry.conftest import require_registry_binary

ROOT = Path(__file__).resolve().parents[2]


def test_the_unsigned_image_is_refused_and_the_signed_one_compiles() -> None:
    require_registry_binary()
    run = subprocess.run([sys.executable, "-m", "refused.unsigned_image"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 1, run.stderr
    assert "LatticeService shop/unsigned: spec.workload.containers.main.image:" in run.stderr
    assert "has no valid signature from a trusted authority of ImageProvider `local`" in run.stderr
    assert "shop/signed:" not in run.stderr.replace("LatticeService shop/signed: spec.workload.service.ports", "")
    assert "1 workloads compiled, 1 failed" in run.stdout


def test_the_secret_and_the_quota_refusals() -> None:
    lattice = Path(sys.executable).with_name("lattice")
    run = subprocess.run([str(lattice), "compile", "examples", "refused", "--summary"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1
    assert 'AccessSecret on Lattice::SecretPath::"vault:storefront/customers" is denied' in run.stderr
    assert "quota commerce/team-budget: memory limit 32Gi" in run.stderr
    assert "7 workloads compiled, 2 failed" in run.stdout
