"""Reading the inputs of a command: every file given, every Lattice document in them parsed, every problem
printed at its file and line. `compile`, `validate`, `graph`, `platform` and `policy` all read through here, so
they report a bad input the same way."""

from __future__ import annotations

from pathlib import Path

import typer

from lattice.api import is_lattice_document, parse_resource
from lattice.cli.documents import misspelt_group
from lattice.cli.loader import Document, LoadError, UsageError, collect_files, read_documents
from lattice.cli.report import emit, format_problem
from lattice.collector import collector_paused
from lattice.errors import LatticeError, ObjectRef, Problem, printable
from lattice.fleet import Sourced


def load_inputs(paths: list[str], failed: list[ObjectRef] | None = None, *, only: str | None = None
                ) -> tuple[list[Sourced], list[Document], int]:
    """Parse every Lattice document; print each problem; return the resources, their documents and the error
    count. The objects that did not parse are added to `failed`, when given. With `only` (a kind), every other
    document is passed over in silence (`lattice policy` reads the CedarPolicies of a fleet's files)."""
    with collector_paused():
        return _load_documents(paths, [] if failed is None else failed, only)


def _load_documents(paths: list[str], failed: list[ObjectRef], only: str | None
                    ) -> tuple[list[Sourced], list[Document], int]:
    files = _files(paths)
    items: list[Sourced] = []
    docs: list[Document] = []
    errors = 0
    for entry in read_documents(files):
        if isinstance(entry, LoadError):
            emit(format_problem("error", entry.source, entry.line, None,
                                Problem(entry.path, entry.message, entry.hint)))
            errors += 1
            continue
        data = entry.data
        if only is not None and not (isinstance(data, dict) and is_lattice_document(data) and data.get("kind") == only):
            continue
        if isinstance(data, dict) and not is_lattice_document(data):
            misspelt = misspelt_group(data)
            if misspelt is not None:
                emit(format_problem("error", entry.source, entry.line_of("apiVersion"), _ref_of(data), misspelt))
                errors += 1
                continue
            what = f"{data.get('apiVersion')} {data.get('kind')}"
            emit(f"warning: {entry.source}:{entry.document_line}: skipped {printable(what)}: not a lattice.dev kind")
            continue
        try:
            resource = parse_resource(data)
        except LatticeError as exc:
            ref = _ref_of(data)
            for problem in exc.problems:
                emit(format_problem("error", entry.source, entry.line_of(problem.path), ref, problem))
            errors += 1
            if ref is not None:
                failed.append(ref)
            continue
        items.append(Sourced(entry.source, resource, entry.document_line))
        docs.append(entry)
    return items, docs, errors


def _files(paths: list[str]) -> list[Path]:
    try:
        return collect_files(paths)
    except UsageError as exc:
        emit(f"error: {printable(str(exc))}\n  hint: check the path; directories are searched for *.yaml and *.yml")
        raise typer.Exit(2) from None


def _ref_of(data: object) -> ObjectRef | None:
    """The object as far as it can be named; invalid parts are shown as `?`."""
    if not isinstance(data, dict):
        return None
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    namespace = meta.get("namespace")
    return ObjectRef(str(data.get("kind") or "object"), str(meta.get("name", "?")),
                     namespace if isinstance(namespace, str) else None if namespace is None else "?")
