"""`lattice compile | validate | crds`: thin commands over the loader, the fleet compiler and the renderer."""

from __future__ import annotations

import gc
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lattice import __version__, render
from lattice.api.crd import all_crds
from lattice.cli import graph_view, policy
from lattice.cli.inputs import load_inputs
from lattice.cli.loader import Document
from lattice.cli.output import out_dir_problem, write_out_dir
from lattice.cli.report import emit, format_problem, summary_table
from lattice.cli.workers import RenderedFleet, compile_rendered
from lattice.collector import collector_paused
from lattice.compiler.meta import Obj
from lattice.errors import ObjectRef, Problem, printable
from lattice.fleet import FleetResult, Sourced, check_fleet, compile_fleet
from lattice.registry.auth_file import AuthFileError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Lattice: compile LatticeServices into the full, hardened set of Kubernetes resources.",
)
app.add_typer(policy.app, name="policy")


class OutputFormat(StrEnum):
    yaml = "yaml"
    json = "json"


PathsArg = Annotated[list[str], typer.Argument(help="Files or directories (searched recursively for *.yaml, *.yml).")]
ResolveOption = Annotated[bool, typer.Option(
    "--resolve", help="Look image tags up in their registries and pin the digests (network).")]
VerifyOption = Annotated[bool, typer.Option(
    "--verify-images", help="Verify image signatures against the ImageProviders' keys (network; implies --resolve).")]


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
    return _failed_inputs(result)


def _failed_inputs(result: FleetResult) -> int:
    """How many inputs failed: an object with several problems counts once."""
    refused = {(diag.source, diag.ref) for diag in result.errors}
    return len(refused) + sum(1 for outcome in result.services if not outcome.ok)


def _compile(paths: list[str], *, render_yaml: bool = False, resolve: bool = False, verify: bool = False
             ) -> tuple[FleetResult, int, int, RenderedFleet | None]:
    """The one path `compile` and `validate` share: load, compile the fleet, print every problem.
    Returns the result, how many inputs failed and how many parsed, so `validate` refuses exactly what
    `compile` refuses; with `render_yaml`, also each workload's YAML, compiled and rendered on every core
    (`lattice.cli.workers`; the result's objects are then skeletons)."""
    with collector_paused():  # loading, compiling and rendering allocate no cycles (see lattice.collector)
        unparsed: list[ObjectRef] = []
        items, docs, load_errors = load_inputs(paths, unparsed)
        facts = None
        if resolve or verify:  # the registry client loads only when asked: it is the CLI's only network use
            from lattice.cli.images import registry_facts
            try:
                facts = registry_facts(items, unparsed, resolve=resolve, verify=verify)
            except AuthFileError as error:  # nothing can be checked without the logins it holds
                for problem in error.problems:
                    emit(format_problem("error", str(error.path), None, None, problem))
                raise typer.Exit(2) from None
        rendered = compile_rendered(items, unparsed, image_checks=facts) if render_yaml else None
        result = rendered.result if rendered is not None else compile_fleet(items, unparsed, facts)
        return result, load_errors + _report(result, items, docs), len(items), rendered


@app.command("compile")
def compile_command(
    paths: PathsArg,
    output: Annotated[OutputFormat, typer.Option("-o", "--output", help="Manifest format.")] = OutputFormat.yaml,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write one file per service here.")] = None,
    summary: Annotated[bool, typer.Option("--summary", help="Print a table of what was generated, no manifests.")]
    = False,
    resolve: ResolveOption = False,
    verify_images: VerifyOption = False,
) -> None:
    """Compile every LatticeService found and print the generated manifests."""
    if out_dir is not None:
        problem = out_dir_problem(out_dir)
        if problem is not None:
            emit(f"error: --out-dir {printable(str(out_dir))}: {problem}\n"
                 "  hint: name a directory that exists or can be created")
            raise typer.Exit(2)
    yaml_out = not summary and out_dir is None and output is OutputFormat.yaml
    result, failed, _, rendered = _compile(paths, render_yaml=yaml_out, resolve=resolve, verify=verify_images)
    with collector_paused():
        if summary or out_dir is not None:
            if out_dir is not None:
                write_out_dir(_out_files(result, out_dir, output), out_dir)
            summary_table(result, Console(width=None if sys.stdout.isatty() else 160))
        elif output is OutputFormat.json:
            sys.stdout.write(render.dump_json_list(result.objects))
        else:
            assert rendered is not None
            sys.stdout.flush()
            rendered.write_to(sys.stdout.buffer)
            sys.stdout.buffer.flush()
    raise typer.Exit(1 if failed else 0)


def _out_files(result: FleetResult, out_dir: Path, output: OutputFormat) -> dict[Path, str]:
    """`<ns>/<workload>.yaml` per compiled workload, `<ns>/_namespace.yaml` for a namespace's shared objects
    (its Gateway), `_cluster.yaml` for cluster-wide ones (`_` never starts a Kubernetes name, so no clash)."""
    suffix = "json" if output is OutputFormat.json else "yaml"
    files: dict[Path, list[Obj]] = {Path(f"_cluster.{suffix}"): list(result.cluster_objects)}
    for obj in result.namespace_objects:
        files.setdefault(Path(obj["metadata"]["namespace"]) / f"_namespace.{suffix}", []).append(obj)
    for outcome in result.services:
        if outcome.ok:
            files[Path(outcome.ref.namespace or "") / f"{outcome.ref.name}.{suffix}"] = outcome.objects
    dump = render.dump_json_list if suffix == "json" else render.dump_yaml_stream
    return {target: dump(objs) for target, objs in files.items()}


@app.command("validate")
def validate_command(paths: PathsArg, resolve: ResolveOption = False, verify_images: VerifyOption = False) -> None:
    """Check inputs as `compile` does (every check it runs, the same errors and warnings), printing no manifests."""
    result, failed, parsed, _ = _compile(paths, resolve=resolve, verify=verify_images)
    emit(f"{parsed - _failed_inputs(result)} objects valid, {failed} invalid")
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
    items, _, load_errors = load_inputs(paths)
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
    items, _, load_errors = load_inputs(paths) if paths else ([], [], 0)
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


@app.command("controller")
def controller_command(
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig to use; in a pod, leave it out "
                                                    "to use the pod's ServiceAccount.")] = None,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Port of /metrics and /healthz.")] = 8080,
    standalone: Annotated[bool, typer.Option("--standalone", help="No leader election (one replica only).")]
    = False,
    priority: Annotated[int, typer.Option("--priority", help="Leader election: the highest priority writes.")] = 0,
    registry_auth: Annotated[Path | None, typer.Option(
        "--registry-auth", help="Registry logins (a docker config.json); read again when it changes, none while it "
        "is missing. Default: $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json.")] = None,
    image_recheck: Annotated[float, typer.Option(
        "--image-recheck", min=0.1, help="Seconds after an image gate refused a service before its images are "
        "checked again; each recheck that finds it still refused doubles the wait, up to 20 times this.")] = 30.0,
) -> None:
    """Run the controller: watch the Lattice kinds, compile, apply and report status continuously."""
    import asyncio

    from lattice.controller import operator  # the controller's dependencies load only for this command

    gc.enable()  # a long-running process: the collector must run
    operator.configure_logging()
    asyncio.run(operator.run(kubeconfig, metrics_port=metrics_port, standalone=standalone, priority=priority,
                             registry_auth=registry_auth, image_recheck=image_recheck))


@app.command("install")
def install_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the objects instead of applying them.")] = False,
    image: Annotated[str | None, typer.Option("--image", help="The controller image, by digest.")] = None,
    replicas: Annotated[int, typer.Option("--replicas", help="Controller replicas (one writes at a time).")] = 2,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig to apply with.")] = None,
) -> None:
    """Install Lattice: CRDs, namespace lattice-system, least-privilege RBAC and the controller, compiled by
    Lattice's own rules."""
    from lattice.controller.install import DEFAULT_IMAGE, install_objects

    objects = install_objects(image or DEFAULT_IMAGE, replicas)
    if dry_run:
        sys.stdout.write(render.dump_yaml_stream(objects))
        raise typer.Exit(0)
    from lattice.cli.install import apply_all

    failures = apply_all(objects, kubeconfig)
    for line in failures:
        emit(f"error: {line}")
    emit(f"applied {len(objects) - len(failures)} of {len(objects)} objects")
    raise typer.Exit(1 if failures else 0)


@app.command("version")
def version_command() -> None:
    """Print the Lattice version."""
    sys.stdout.write(f"lattice {__version__}\n")


def run() -> None:
    """The `lattice` entry point. The process exits without tearing down its heap: freeing millions of compiled
    objects one by one (and the collector's last pass over them) took ~2 s of a 10,000-service compile."""
    gc.disable()  # nothing here builds reference cycles that matter for a short-lived command
    try:
        app()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    except BrokenPipeError:  # `lattice compile ... | head`: the reader left; nothing more to say
        os._exit(1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        os._exit(1)
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    os._exit(code or 0)
