"""Pictures of the fleet graph: a table, Mermaid, Graphviz dot, and SVG through Graphviz when installed.

Agreed edges are solid (labelled when only the callee's permitted `*` agrees); one-sided declarations are
dashed and labelled with the side that is missing, a `*` without its `AllowWildcard` permit is a dashed edge
from `*` that says so, and an agreed edge with a host-networked end is dashed too: no policy can admit it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from rich.table import Table

from lattice.api.workload import ANY_CALLER
from lattice.graph import FleetGraph, Key, show

WILDCARD_LABEL = "any caller (`*`)"
UNPERMITTED_LABEL = "admits nobody: `*` needs an AllowWildcard permit"
HOST_NETWORK_LABEL = "agreed, but no policy admits it"


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    agreed: bool
    label: str = ""


def edges(graph: FleetGraph, namespace: str | None = None) -> tuple[list[str], list[Edge]]:
    """The nodes and edges to draw, restricted to those touching `namespace` when given."""
    def keep(*keys: Key) -> bool:
        return namespace is None or any(k[0] == namespace for k in keys)

    out: list[Edge] = [_agreed(graph, a, b) for a, b in graph.edges if keep(a, b)]
    permitted = {callee for _, callee in graph.wildcard_edges}
    for callee in sorted(graph.wildcard_declarers):
        if keep(callee) and callee not in permitted:
            out.append(Edge(ANY_CALLER, show(callee), False, UNPERMITTED_LABEL))
    for one in graph.one_sided:
        if keep(one.caller, one.callee):
            side = f"{show(one.missing)} has not declared it {one.missing_direction}"
            out.append(Edge(show(one.caller), show(one.callee), False, f"missing: {side}"))
    for key, externals in sorted(graph.externals.items()):
        if keep(key):
            out.extend(Edge(show(key), f"{ext.endpoint.host}:{ext.endpoint.port}", True, "external")
                       for ext in externals)
    nodes = {show(k) for k in graph.nodes if keep(k)} | {e.source for e in out} | {e.target for e in out}
    return sorted(nodes), sorted(out, key=lambda e: (e.source, e.target, e.label))


def _agreed(graph: FleetGraph, caller: Key, callee: Key) -> Edge:
    """An agreed edge; one with a host-networked end is drawn as not admitted: no policy can name that end."""
    host = next((k for k in (caller, callee) if graph.nodes[k].host_network), None)
    if host is not None:
        return Edge(show(caller), show(callee), False, f"{HOST_NETWORK_LABEL}: {show(host)} runs with hostNetwork")
    return Edge(show(caller), show(callee), True, WILDCARD_LABEL if (caller, callee) in graph.wildcard_edges else "")


def table(graph: FleetGraph, namespace: str | None = None) -> Table:
    view = Table(title="Fleet graph", title_justify="left")
    for column in ("Caller", "Callee", "Status"):
        view.add_column(column)
    nodes, drawn = edges(graph, namespace)
    for edge in drawn:
        status = "[green]agreed[/]" if edge.agreed and not edge.label else (
            f"[green]agreed[/] ({edge.label})" if edge.label == WILDCARD_LABEL else
            "external" if edge.label == "external" else
            f"[yellow]not agreed[/] ({edge.label})" if edge.label == UNPERMITTED_LABEL else
            f"[yellow]not admitted[/] ({edge.label})" if edge.label.startswith(HOST_NETWORK_LABEL) else
            f"[yellow]one-sided[/] ({edge.label})")
        view.add_row(edge.source, edge.target, status)
    isolated = sorted(set(nodes) - {e.source for e in drawn} - {e.target for e in drawn})
    for node in isolated:
        view.add_row(node, "-", "declares nothing and is reached by nothing")
    return view


def _ident(name: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def mermaid(graph: FleetGraph, namespace: str | None = None) -> str:
    nodes, drawn = edges(graph, namespace)
    lines = ["flowchart LR"]
    lines += [f'    {_ident(n)}["{n}"]' for n in nodes]
    for e in drawn:
        arrow = "-->" if e.agreed else "-.->"
        label = f'|"{e.label}"|' if e.label else ""
        lines.append(f"    {_ident(e.source)} {arrow}{label} {_ident(e.target)}")
    return "\n".join(lines) + "\n"


def dot(graph: FleetGraph, namespace: str | None = None) -> str:
    nodes, drawn = edges(graph, namespace)
    lines = ["digraph fleet {", "    rankdir=LR;", '    node [shape=box, fontname="Helvetica"];']
    lines += [f'    "{n}";' for n in nodes]
    for e in drawn:
        attrs = [] if e.agreed else ["style=dashed", "color=orange"]
        if e.label:
            attrs.append(f'label="{e.label}"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'    "{e.source}" -> "{e.target}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizMissing(Exception):
    """`dot` is not on PATH."""


def svg(graph: FleetGraph, namespace: str | None = None) -> str:
    binary = shutil.which("dot")
    if binary is None:
        raise GraphvizMissing()
    done = subprocess.run([binary, "-Tsvg"], input=dot(graph, namespace), capture_output=True, text=True, check=True)
    return done.stdout
