"""The safe YAML reader and the command line around it: bounded work on hostile files, exact values, paths
read once, `--out-dir` checked before anything is written, `validate` refusing what `compile` refuses.

The exact messages for single malformed files are in tests/test_errors.py; these tests cover what needs a
process of its own (a memory limit), several files, or the values read."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lattice.cli.loader import Document, LoadError, read_file
from lattice.cli.main import app
from lattice.errors import Problem, printable
from tests.support.gates import admitting

REPO = Path(__file__).resolve().parent.parent
INVALID = REPO / "tests" / "inputs" / "invalid"
runner = CliRunner()

SERVICE = """apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {{name: {name}, namespace: demo}}
spec:
  workload:
    containers:
      main: {{image: registry.example.com/{name}:1, resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}}}
    service: {{ports: {{http: {{port: 8080}}}}}}
"""


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _docs(path: Path) -> list[Document | LoadError]:
    return list(read_file(path))


def _limit_memory() -> None:
    limit = 768 << 20  # address space: the interpreter with Lattice imported needs ~300 MiB of it
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_billion_laughs_fails_fast_in_little_memory() -> None:
    """A 1 KB file of nested aliases took ~60 s and ~12 GiB; now it is refused before anything expands it,
    in a process capped at 768 MiB of address space (a MemoryError would show as a traceback)."""
    path = INVALID / "yaml-billion-laughs.yaml"
    assert path.stat().st_size < 1024
    proc = subprocess.run([sys.executable, "-c", "from lattice.cli.main import run; run()", "compile", str(path)],
                          capture_output=True, text=True, timeout=30, preexec_fn=_limit_memory, check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"error: {path}:12: spec.provider.vault.d: the document expands its aliases to more values than it "
        "writes out (more than 10,000 extra)\n  hint: write the values out, or use fewer nested aliases\n")
    assert "ClusterSecretStore" not in proc.stdout


def test_aliases_and_merge_keys_within_bounds_are_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("base: &base {cpu: 100m, memory: 64Mi}\n"
                    "limits: {<<: *base, memory: 128Mi}\n"
                    "again: *base\n")
    [doc] = _docs(path)
    assert isinstance(doc, Document)
    assert doc.data == {"base": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"},
                        "again": {"cpu": "100m", "memory": "64Mi"}}


@pytest.mark.parametrize(("text", "value"), [
    ("v: 2024-01-01", "2024-01-01"),  # timestamps stay text, as Kubernetes (go-yaml v2) reads them
    ("v: 2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("v: yes", True), ("v: off", False), ("v: ~", None), ("v: 0x1F", 31), ("v: 0o17", "0o17"), ("v: 017", 15),
    ("v: 1_000", 1000), ("v: -9223372036854775808", -(1 << 63)), ("v: 1.5e+3", 1500.0), ("v: !!str 12", "12"),
    ('"on": x', "x"),
])
def test_scalars_mean_what_yaml_1_1_and_kubernetes_say(tmp_path: Path, text: str, value: Any) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(text + "\n")
    [doc] = _docs(path)
    assert isinstance(doc, Document)
    assert list(doc.data.values()) == [value]


def test_an_integer_just_beyond_64_bits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("a:\n  b: 9223372036854775808\n")
    assert _docs(path) == [LoadError(str(path), 2, "the number 9223372036854775808 does not fit in 64 bits, as "
                                     "Kubernetes numbers must",
                                     "write a smaller number, or quote it if you meant text", "a.b")]


def test_a_refused_document_does_not_lose_the_others_in_its_file(tmp_path: Path) -> None:
    path = tmp_path / "three.yaml"
    path.write_text("a: 1\n---\nb: 1\nb: 2\n---\nc: 3\n")
    first, refused, last = _docs(path)
    assert isinstance(first, Document) and first.data == {"a": 1} and first.line == 1
    assert refused == LoadError(str(path), 4, "the key `b` is written twice (first at line 3); YAML readers "
                                "disagree on which one counts", "keep exactly one of them", "b")
    assert isinstance(last, Document) and last.data == {"c": 3} and last.line_of("c") == 6


def test_a_date_in_a_pass_through_block_reaches_the_output_as_the_text_written(tmp_path: Path) -> None:
    (tmp_path / "provider.yaml").write_text(
        "apiVersion: lattice.dev/v1alpha1\nkind: SecretProvider\nmetadata: {name: vault}\n"
        "spec: {provider: {vault: {server: 'https://vault:8200', path: 2024-01-01, version: v2}}}\n")
    result = runner.invoke(app, ["platform", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    store = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "ClusterSecretStore")
    assert store["spec"]["provider"]["vault"]["path"] == "2024-01-01"


def test_a_file_named_twice_or_inside_a_directory_given_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SERVICE.format(name="a"))
    alone = runner.invoke(app, ["compile", *admitting(str(tmp_path))])
    for args in ([str(tmp_path), str(tmp_path / "a.yaml")], [str(tmp_path / "a.yaml"), str(tmp_path / "a.yaml")],
                 [str(tmp_path / "a.yaml"), f"{tmp_path}/../{tmp_path.name}"]):
        again = runner.invoke(app, ["compile", *admitting(*args)])
        assert (again.exit_code, again.stderr, again.stdout) == (0, "", alone.stdout), args


def test_an_out_dir_that_is_a_file_is_a_usage_error_and_nothing_is_written(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("keep me\n")
    result = runner.invoke(app, ["compile", "examples", "--out-dir", str(target)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: --out-dir {target}: it exists and is not a directory\n"
                             "  hint: name a directory that exists or can be created\n")
    assert result.stdout == ""
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_out_dir_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "sub" / "out"
    result = runner.invoke(app, ["compile", "examples", "--out-dir", str(target)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: --out-dir {target}: {tmp_path / 'file'} is not a directory, so it cannot "
                             "be created\n  hint: name a directory that exists or can be created\n")
    assert result.stdout == ""


def test_out_dir_files_are_moved_in_whole_and_no_staging_directory_is_left(tmp_path: Path) -> None:
    (tmp_path / "commerce").mkdir()
    (tmp_path / "commerce" / "api.yaml").write_text("old\n")
    result = runner.invoke(app, ["compile", "examples", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lattice-")]
    assert "kind: Deployment" in (tmp_path / "commerce" / "api.yaml").read_text()


REFUSED_INPUTS = sorted(str(p.relative_to(REPO)) for folder in ("invalid", "conflicts", "reserved")
                        for p in (REPO / "tests" / "inputs" / folder).glob("*.yaml"))


@pytest.mark.parametrize("path", REFUSED_INPUTS)
def test_validate_refuses_exactly_what_compile_refuses(path: str) -> None:
    compiled = runner.invoke(app, ["compile", path])
    validated = runner.invoke(app, ["validate", path])
    assert validated.exit_code == compiled.exit_code == 1
    problems = validated.stderr.rsplit("\n", 2)[0] + "\n"  # without the closing count line
    assert problems == compiled.stderr


def test_control_characters_in_a_file_name_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b[31m\r.yaml"
    path.write_text("apiVersion: lattice.dev/v1alpha1\nkind: LatticeService\n")
    result = runner.invoke(app, ["compile", str(path)])
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert result.stderr.startswith(f"error: {tmp_path}/evil\\x1b[31m\\r.yaml:1: LatticeService ?: ")


def test_printable_escapes_controls_and_bidi_overrides_once() -> None:
    assert printable("a\x1b[2Jb\r\n\t\x7f\x85\u202e") == "a\\x1b[2Jb\\r\\n\\t\\x7f\\x85\\u202e"
    assert printable(printable("x\x00")) == "x\\x00"
    assert Problem("a\nb", "m\x1b", "h\x07") == Problem("a\\nb", "m\\x1b", "h\\x07")


def test_many_files_read_and_rendered_by_workers_give_exactly_the_serial_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the thresholds files are read, and YAML rendered, by forked workers: the same bytes, in order."""
    from lattice.cli import loader, workers

    for k in range(400):
        (tmp_path / f"svc-{k:03d}.yaml").write_text(SERVICE.format(name=f"svc-{k:03d}"))
    (tmp_path / "svc-150.yaml").write_text("a: 1\na: 2\n")  # one refused file in the middle
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the workers start only with two cores")
    parallel = runner.invoke(app, ["compile", *admitting(str(tmp_path))])
    assert workers.PARALLEL_MIN_WORKLOADS <= 399  # so the output was compiled and rendered by workers
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10**9)
    monkeypatch.setattr(workers, "PARALLEL_MIN_WORKLOADS", 10**9)
    serial = runner.invoke(app, ["compile", *admitting(str(tmp_path))])
    assert parallel.stdout.count("kind: Deployment") == 399
    assert (parallel.exit_code, parallel.stderr, parallel.stdout) == (serial.exit_code, serial.stderr, serial.stdout)
    assert parallel.stderr.startswith(f"error: {tmp_path}/svc-150.yaml:2: a: the key `a` is written twice")
