"""One bad document never loses the others (issue 7, B.7).

An overflowing quantity once escaped pydantic as `decimal.Overflow` and `lattice compile` printed a traceback and
nothing at all. The root cause is fixed (quantities are parsed exactly and bounded), and whatever unexpected
exception remains is that one document's error: a clear message, no traceback, the others compiled.
"""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from lattice import fleet
from lattice.api import base
from lattice.api.quantity import parse_quantity
from lattice.cli.main import app
from tests.support.gates import admitting

FLEET = """\
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {name: big, namespace: demo}
spec:
  workload:
    containers:
      main:
        image: registry.example.com/shop:1.0
        resources: {limits: {cpu: "CPU", memory: 64Mi}}
    service: {ports: {http: {port: 8080}}}
---
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {name: good, namespace: demo}
spec:
  workload:
    containers:
      main:
        image: registry.example.com/shop:1.0
        resources: {limits: {cpu: 100m, memory: 64Mi}}
    service: {ports: {http: {port: 8080}}}
"""


def _run(tmp_path: Path, cpu: str) -> tuple[Result, str]:
    src = tmp_path / "fleet.yaml"
    src.write_text(FLEET.replace("CPU", cpu))
    return CliRunner().invoke(app, ["compile", *admitting(str(src))]), str(src)


def _workloads(stdout: str) -> set[str]:
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(stdout) if d is not None]
    return {d["metadata"]["labels"]["app.kubernetes.io/name"] for d in docs
            if d["metadata"]["labels"].get("app.kubernetes.io/part-of") != "lattice"}


@pytest.mark.parametrize("cpu", ["1e1000000", "1e400", "99999999999999999999", "9223372036854775808", "8Ei"])
def test_an_overflowing_quantity_is_an_error_and_the_others_compile(tmp_path: Path, cpu: str) -> None:
    result, path = _run(tmp_path, cpu)
    assert result.stderr == (
        f"error: {path}:9: LatticeService demo/big: spec.workload.containers.main.resources.limits.cpu: `{cpu}` is "
        "larger than any Kubernetes quantity (at most 2^63-1)\n"
        "  hint: write the amount you need, e.g. `500m` or `2` for CPU, `512Mi` or `1Gi` for memory\n")
    assert result.exit_code == 1
    assert _workloads(result.stdout) == {"good"}


@pytest.mark.parametrize(("text", "value"), [
    ("9223372036854775807", decimal.Decimal(2**63 - 1)), ("7Ei", decimal.Decimal(7 * 2**60)),
    ("1E", decimal.Decimal(10**18)), ("1e-1000000", decimal.Decimal("1e-100")), ("0e99999", decimal.Decimal(0)),
    ("1.5e1", decimal.Decimal(15)), ("500m", decimal.Decimal("0.5")),
])
def test_quantities_parse_exactly_at_the_edges(text: str, value: decimal.Decimal) -> None:
    """`1E` (exa) and `7Ei` once crashed (`int('')`, `int('i')`); 28-digit Decimal rounding made big values inexact."""
    assert parse_quantity(text) == value


def test_long_quantities_keep_every_digit() -> None:
    """Decimal's default 28 digits once rounded `1.0000000000000000000000000002` down to 1."""
    assert parse_quantity("1.0000000000000000000000000002") == decimal.Decimal("1.0000000000000000000000000002")
    assert parse_quantity("1234567890123456789.012345678901m") == decimal.Decimal("1234567890123456.789012345678901")


def test_requests_above_limits_are_compared_exactly(tmp_path: Path) -> None:
    src = tmp_path / "fleet.yaml"
    src.write_text(FLEET.replace('{cpu: "CPU", memory: 64Mi}', '{cpu: "1.0000000000000000000000000001", memory: 64Mi}, '
                                 'requests: {cpu: "1.0000000000000000000000000002"}'))
    result = CliRunner().invoke(app, ["compile", *admitting(str(src))])
    assert "the request (1.0000000000000000000000000002) is larger than the limit (1.0000000000000000000000000001)" \
        in result.stderr


def test_an_unexpected_exception_while_reading_is_that_document_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The old root cause, replayed: a check that raises something pydantic does not catch."""
    def overflowing(text: str) -> decimal.Decimal:
        if text == "2":
            raise decimal.Overflow("[<class 'decimal.Overflow'>]")
        return parse_quantity(text) or decimal.Decimal(0)

    monkeypatch.setattr(base, "parse_quantity", overflowing)
    result, path = _run(tmp_path, "2")
    assert result.stderr == (
        f"error: {path}:1: LatticeService demo/big: internal error while reading this LatticeService: Overflow: "
        "[<class 'decimal.Overflow'>]\n"
        "  hint: this is a bug in Lattice, not in the input; the other inputs were compiled. Please report it with "
        "this document\n")
    assert result.exit_code == 1
    assert _workloads(result.stdout) == {"good"}


def test_an_unexpected_exception_while_compiling_is_that_workload_error(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in one derivation (stood in for by a deriver that raises for `big`) fails `big` alone."""
    real = fleet.compile_service

    def buggy(svc: Any, context: Any) -> Any:
        if svc.name == "big":
            raise KeyError("http")
        return real(svc, context)

    monkeypatch.setattr(fleet, "compile_service", buggy)
    result, path = _run(tmp_path, "1")
    assert result.stderr == (
        f"error: {path}:1: LatticeService demo/big: internal error while compiling LatticeService demo/big: KeyError: "
        "'http'\n"
        "  hint: this is a bug in Lattice, not in the input; the other inputs were compiled. Please report it with "
        "this document\n")
    assert result.exit_code == 1
    assert _workloads(result.stdout) == {"good"}
