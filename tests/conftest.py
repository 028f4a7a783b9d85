"""Shared fixtures. Nothing here is faked: inputs are read from disk and compiled by the real pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from lattice.api import parse_resource
from lattice.cli.loader import Document, collect_files, read_documents
from lattice.fleet import FleetResult, Sourced, compile_fleet

# The mutation driver (tests/mutation) runs every generated test on the same examples each time, so a
# mutant's result does not depend on luck, and keeps no example database between mutants.
settings.register_profile("mutation", derandomize=True, database=None, print_blob=False)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN_INPUTS = ROOT / "tests" / "inputs" / "golden"


class YamlSnapshot(SingleFileSnapshotExtension):
    """One reviewable .yaml file per snapshot (update with `pytest --snapshot-update`)."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


@pytest.fixture
def yaml_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(YamlSnapshot)


def load_fleet(*paths: Path) -> list[Sourced]:
    """Parse every document under `paths` the way the CLI does; a parse failure fails the test."""
    items = []
    for entry in read_documents(collect_files([str(p) for p in paths])):
        assert isinstance(entry, Document), entry
        items.append(Sourced(entry.source, parse_resource(entry.data)))
    return items


@pytest.fixture(scope="session")
def examples_fleet() -> FleetResult:
    return compile_fleet(load_fleet(EXAMPLES))
