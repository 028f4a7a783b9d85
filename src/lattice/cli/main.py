"""`lattice compile | validate | crds`: thin commands over the loader, the fleet compiler and the renderer."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lattice import __version__, render
from lattice.api import is_lattice_document, parse_resource
from lattice.api.crd import all_crds
from lattice.cli import graph_view
from lattice.cli.loader import Document, LoadError, UsageError, collect_files, read_documents
from lattice.cli.report import emit, format_problem, summary_table
from lattice.collector import collector_paused
from lattice.compiler.meta import Obj
from lattice.errors import LatticeError, ObjectRef, Problem
from lattice.fleet import FleetResult, Sourced, check_fleet, compile_fleet, one_sided_warning

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Lattice: compile LatticeServices into the full, hardened set of Kubernetes resources.",
)


class OutputFormat(StrEnum):
    yaml = "yaml"
    json = "json"


PathsArg = Annotated[list[str], typer.Argument(help="Files or directories (searched recursively for *.yaml, *.yml).")]


def _load(paths: list[str], failed: list[ObjectRef] | None = None) -> tuple[list[Sourced], list[Document], int]:
    """Parse every Lattice document; print each problem; return the resources and the error count.
    The objects that did not parse are added to `failed`, when given."""
    with collector_paused():
        return _load_documents(paths, [] if failed is None else failed)


def _load_documents(paths: list[str], failed: list[ObjectRef]) -> tuple[list[Sourced], list[Document], int]:
    try:
        files = collect_files(paths)
    except UsageError as exc:
        emit(f"error: {exc}\n  hint: check the path; directories are searched for *.yaml and *.yml")
        raise typer.Exit(2) from None
    items: list[Sourced] = []
    docs: list[Document] = []
    errors = 0
    for entry in read_documents(files):
        if isinstance(entry, LoadError):
            emit(format_problem("error", entry.source, entry.line, None, Problem("", entry.message, entry.hint)))
            errors += 1
            continue
        data = entry.data
        if isinstance(data, dict) and not is_lattice_document(data):
            what = f"{data.get('apiVersion')} {data.get('kind')}"
            emit(f"warning: {entry.source}:{entry.document_line}: skipped {what}: not a lattice.dev kind")
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


def _ref_of(data: object) -> ObjectRef | None:
    """The object as far as it can be named; invalid parts are shown as `?`."""
    if not isinstance(data, dict):
        return None
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    namespace = meta.get("namespace")
    return ObjectRef(str(data.get("kind") or "object"), str(meta.get("name", "?")),
                     namespace if isinstance(namespace, str) else None if namespace is None else "?")


class _Lines:
    """Prints a problem of a parsed object at the line of its field in the document it came from."""

    def __init__(self, items: list[Sourced], docs: list[Document]) -> None:
        self._docs = {item.ref: doc for item, doc in zip(items, docs, strict=True)}

    def emit(self, severity: str, source: str, ref: ObjectRef | None, problem: Problem) -> None:
        doc = self._docs.get(ref) if ref is not None else None
        emit(format_problem(severity, source, doc.line_of(problem.path) if doc else None, ref, problem))


def _report(result: FleetResult, items: list[Sourced], docs: list[Document]) -> int:
    """Print every fleet-level and per-service problem; return how many inputs failed."""
    lines = _Lines(items, docs)
    for diag in result.errors:
        lines.emit("error", diag.source, diag.ref, diag.problem)
    for outcome in result.services:
        for problem in outcome.errors:
            lines.emit("error", outcome.source, outcome.ref, problem)
        for problem in outcome.warnings:
            lines.emit("warning", outcome.source, outcome.ref, problem)
    return len(result.errors) + sum(1 for outcome in result.services if not outcome.ok)


@app.command("compile")
def compile_command(
    paths: PathsArg,
    output: Annotated[OutputFormat, typer.Option("-o", "--output", help="Manifest format.")] = OutputFormat.yaml,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write one file per service here.")] = None,
    summary: Annotated[bool, typer.Option("--summary", help="Print a table of what was generated, no manifests.")]
    = False,
) -> None:
    """Compile every LatticeService found and print the generated manifests."""
    with collector_paused():  # loading, compiling and rendering allocate no cycles (see lattice.collector)
        unparsed: list[ObjectRef] = []
        items, docs, load_errors = _load(paths, unparsed)
        result = compile_fleet(items, unparsed)
        failed = load_errors + _report(result, items, docs)
        if summary or out_dir is not None:
            if out_dir is not None:
                _write_out_dir(result, out_dir, output)
            summary_table(result, Console(width=None if sys.stdout.isatty() else 160))
        else:
            objects = result.objects
            text = render.dump_json_list(objects) if output is OutputFormat.json else render.dump_yaml_stream(objects)
            sys.stdout.write(text)
    raise typer.Exit(1 if failed else 0)


def _write_out_dir(result: FleetResult, out_dir: Path, output: OutputFormat) -> None:
    """`<ns>/<workload>.yaml` per compiled workload, `<ns>/_namespace.yaml` for a namespace's shared objects
    (its Gateway), `_cluster.yaml` for cluster-wide ones (`_` never starts a Kubernetes name, so no clash)."""
    suffix = "json" if output is OutputFormat.json else "yaml"
    files: dict[Path, list[Obj]] = {out_dir / f"_cluster.{suffix}": list(result.cluster_objects)}
    for obj in result.namespace_objects:
        files.setdefault(out_dir / obj["metadata"]["namespace"] / f"_namespace.{suffix}", []).append(obj)
    for outcome in result.services:
        if outcome.ok:
            files[out_dir / (outcome.ref.namespace or "") / f"{outcome.ref.name}.{suffix}"] = outcome.objects
    for target, objs in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render.dump_json_list(objs) if suffix == "json" else render.dump_yaml_stream(objs),
                          encoding="utf-8")


@app.command("validate")
def validate_command(paths: PathsArg) -> None:
    """Check inputs against the Lattice schema, and the fleet's agreements, without compiling them."""
    items, docs, load_errors = _load(paths)
    unique, context, fleet_errors = check_fleet(items)
    lines = _Lines(items, docs)
    for diag in fleet_errors:
        lines.emit("error", diag.source, diag.ref, diag.problem)
    workloads = {(item.ref.namespace or "", item.resource.name): item for item in unique
                 if item.resource.kind in ("LatticeService", "LatticeMeshMember")}
    for edge in context.graph.one_sided:  # the same warnings `compile` gives, for the side that must act
        item = workloads.get(edge.missing) or workloads.get(edge.declared_by)
        if item is not None:
            problem = one_sided_warning(edge, (item.ref.namespace or "", item.resource.name), context.graph)
            lines.emit("warning", item.source, item.ref, problem)
    refused = len({(diag.source, diag.ref) for diag in fleet_errors})  # an object may have several problems
    failed = load_errors + refused
    emit(f"{len(items) - refused} objects valid, {failed} invalid")
    raise typer.Exit(1 if failed else 0)


class GraphFormat(StrEnum):
    table = "table"
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


@app.command("graph")
def graph_command(
    paths: PathsArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", help="table, mermaid, dot or svg (needs Graphviz).")]
    = GraphFormat.table,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Only edges touching this namespace.")]
    = None,
) -> None:
    """Show the service graph: agreed edges solid, one-sided declarations dashed with the missing side."""
    items, _, load_errors = _load(paths)
    _, context, fleet_errors = check_fleet(items)
    graph = context.graph
    if fmt is GraphFormat.table:
        Console(width=None if sys.stdout.isatty() else 160).print(graph_view.table(graph, namespace))
    elif fmt is GraphFormat.mermaid:
        sys.stdout.write(graph_view.mermaid(graph, namespace))
    elif fmt is GraphFormat.dot:
        sys.stdout.write(graph_view.dot(graph, namespace))
    else:
        try:
            sys.stdout.write(graph_view.svg(graph, namespace))
        except graph_view.GraphvizMissing:
            emit("error: --format svg needs Graphviz's `dot`, which is not installed\n"
                 "  hint: install it (Debian: `apt-get install graphviz`), or use `--format dot` and render elsewhere")
            raise typer.Exit(1) from None
    raise typer.Exit(1 if load_errors or fleet_errors else 0)


@app.command("platform")
def platform_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Inputs holding the LatticePlatform (optional).")] = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output", help="Manifest format.")] = OutputFormat.yaml,
) -> None:
    """Print what the whole cluster needs once: default deny, STRICT mTLS, mesh-wide allow-nothing and the secret
    stores (compiled with the workloads given, which decide the namespaces each store serves)."""
    items, _, load_errors = _load(paths) if paths else ([], [], 0)
    result = compile_fleet(items)
    fleet_errors = result.errors
    objects = result.cluster_objects
    text = render.dump_json_list(objects) if output is OutputFormat.json else render.dump_yaml_stream(objects)
    sys.stdout.write(text)
    raise typer.Exit(1 if load_errors or fleet_errors else 0)


@app.command("crds")
def crds_command() -> None:
    """Print the CustomResourceDefinitions of every Lattice kind, generated from the models."""
    sys.stdout.write(render.dump_yaml_stream(all_crds()))


@app.command("version")
def version_command() -> None:
    """Print the Lattice version."""
    sys.stdout.write(f"lattice {__version__}\n")


def run() -> None:
    app()
