"""The fleet graph: who may call whom, decided by bilateral agreement.

An edge A -> B exists only when A declares B `outbound` (or `both`) and B declares A `inbound` (or `both`).
A declaration without its counterpart allows nothing and is reported, with the exact stanza the other side
needs. B may instead declare any caller (`{type: service, direction: inbound, id: "*"}`): with an
`AllowWildcard` permit (B among `wildcard_callees`) every workload of the graph that declares B outbound is
agreed; without one, `*` admits nobody (`wildcard_declarers` tells the gate who asked). Building the graph is
one pass over every workload's dependencies: linear in workloads plus edges; `GraphIndex` keeps the
declarations so that a change of one workload costs that workload's dependencies. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lattice.api.endpoints import Endpoint, parse_endpoint
from lattice.api.workload import ANY_CALLER, Dependency, ServicePort

Key = tuple[str, str]  # (namespace, name)


def show(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass(frozen=True, slots=True)
class Node:
    """A workload in the graph: its pods (by label), identity and the ports it serves."""

    key: Key
    kind: str
    pod_labels: Mapping[str, str]
    service_account: str
    ports: Mapping[str, ServicePort]
    dependencies: Mapping[str, Dependency]
    host_network: bool = False
    """Its pods run in their node's network namespace: no pod-level policy can select or admit them."""
    target_ports: tuple[tuple[int, str], ...] = field(init=False)
    """(container port, protocol) pairs: what a peer connects to after the Service's DNAT."""

    def __post_init__(self) -> None:
        ports = tuple(sorted({(p.container_port, p.protocol) for p in self.ports.values()}))
        object.__setattr__(self, "target_ports", ports)


@dataclass(frozen=True, slots=True)
class External:
    resource: str
    endpoint_name: str
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class OneSided:
    """A declaration whose counterpart is missing: `declared_by` said it, `missing` has not."""

    caller: Key
    callee: Key
    declared_by: Key

    @property
    def missing(self) -> Key:
        return self.callee if self.declared_by == self.caller else self.caller

    @property
    def missing_direction(self) -> str:
        return "inbound" if self.declared_by == self.caller else "outbound"

    def stanza(self) -> str:
        """The exact entry the missing side adds under `spec.workload.resources`."""
        other = self.declared_by
        namespace = f", namespace: {other[0]}" if other[0] != self.missing[0] else ""
        return f"{other[1]}: {{type: service, direction: {self.missing_direction}{namespace}}}"


@dataclass(slots=True)
class FleetGraph:
    nodes: dict[Key, Node] = field(default_factory=dict)
    callers: dict[Key, list[Key]] = field(default_factory=dict)
    callees: dict[Key, list[Key]] = field(default_factory=dict)
    one_sided: list[OneSided] = field(default_factory=list)
    externals: dict[Key, list[External]] = field(default_factory=dict)
    wildcard_declarers: dict[Key, tuple[str, ...]] = field(default_factory=dict)
    """Each workload declaring `id: "*"`, with the resources that declare it, permitted or not."""
    wildcard_edges: frozenset[tuple[Key, Key]] = frozenset()
    """The agreed (caller, callee) edges that only a permitted wildcard agrees to (the callee names no caller)."""

    @property
    def edges(self) -> list[tuple[Key, Key]]:
        return sorted((caller, callee) for callee, callers in self.callers.items() for caller in callers)

    def callers_of(self, key: Key) -> list[Key]:
        return self.callers.get(key, [])

    def callees_of(self, key: Key) -> list[Key]:
        return self.callees.get(key, [])

    def externals_of(self, key: Key) -> list[External]:
        return self.externals.get(key, [])

    def one_sided_of(self, key: Key) -> list[OneSided]:
        return [o for o in self.one_sided if key in (o.caller, o.callee)]

    def declares_wildcard(self, key: Key) -> bool:
        return key in self.wildcard_declarers


def target_of(node_namespace: str, resource: str, dep: Dependency) -> Key:
    """The workload a `service` dependency names: `id` overrides the name, `namespace` crosses namespaces."""
    return (dep.namespace or node_namespace, dep.id or resource)


def build_graph(nodes: Iterable[Node], wildcard_callees: frozenset[Key] = frozenset(), *,
                failed: frozenset[Key] = frozenset()) -> FleetGraph:
    """The graph of `nodes`. A node in `wildcard_callees` that declares `*` (its `AllowWildcard` permit) agrees
    to every caller in `nodes` that declares it outbound, except those in `failed` (workloads known to have
    failed or been refused keep no edge that only a wildcard would give them). The nodes are the workloads
    that passed the fleet's checks: refused ones, and with them the platform's reserved identities, never are."""
    index = GraphIndex()
    for node in nodes:
        index.put(node)
    return index.graph(wildcard_callees, failed=failed)


@dataclass(slots=True)
class _Declared:
    """What one node declares: the pairs it adds to the fleet's outbound and inbound declarations."""

    outbound: frozenset[tuple[Key, Key]]
    inbound: frozenset[tuple[Key, Key]]
    wildcard_resources: tuple[str, ...]
    externals: tuple[External, ...]

    def names(self) -> set[Key]:
        """The workloads it names (either end of a pair that is not itself)."""
        return {b for _, b in self.outbound} | {a for a, _ in self.inbound}


@dataclass(slots=True)
class GraphIndex:
    """The fleet's declarations, kept one node at a time, so that the controller updates the graph as
    workloads change instead of walking every workload's dependencies again: `put` and `remove` cost that
    node's dependencies; `graph` joins the kept declarations (set operations over the declared pairs, no
    node re-read); `naming` answers who names a workload from a reverse index."""

    nodes: dict[Key, Node] = field(default_factory=dict)
    _declared: dict[Key, _Declared] = field(default_factory=dict)
    _outbound: set[tuple[Key, Key]] = field(default_factory=set)
    _inbound: set[tuple[Key, Key]] = field(default_factory=set)
    _named_by: dict[Key, set[Key]] = field(default_factory=lambda: defaultdict(set))

    def put(self, node: Node) -> None:
        """Add `node`, or replace the node of its key."""
        if self.nodes.get(node.key) is node:
            return
        self.remove(node.key)
        declared = _declarations(node)
        self.nodes[node.key] = node
        self._declared[node.key] = declared
        self._outbound |= declared.outbound
        self._inbound |= declared.inbound
        for target in declared.names():
            self._named_by[target].add(node.key)

    def remove(self, key: Key) -> None:
        declared = self._declared.pop(key, None)
        if declared is None:
            return
        del self.nodes[key]
        self._outbound -= declared.outbound
        self._inbound -= declared.inbound
        for target in declared.names():
            naming = self._named_by[target]
            naming.discard(key)
            if not naming:
                del self._named_by[target]

    def naming(self, key: Key) -> frozenset[Key]:
        """The nodes whose dependencies name `key` (as a callee or as a caller)."""
        return frozenset(self._named_by.get(key, ()))

    def graph(self, wildcard_callees: frozenset[Key] = frozenset(), *,
              failed: frozenset[Key] = frozenset()) -> FleetGraph:
        """The graph of the nodes held now (see `build_graph` for `wildcard_callees` and `failed`)."""
        outbound, inbound = self._outbound, self._inbound
        declarers = {key: d.wildcard_resources for key, d in self._declared.items() if d.wildcard_resources}
        admitting = wildcard_callees & declarers.keys()
        wildcard: set[tuple[Key, Key]] = set()
        if admitting:
            wildcard = {(caller, callee) for callee in admitting for caller in self._named_by.get(callee, ())
                        if (caller, callee) in outbound} - inbound
            # A failed caller gets no edge, and no "has not agreed" either: the callee did agree, by `*`.
            outbound = outbound - {(caller, callee) for caller, callee in wildcard if caller in failed}
            wildcard = {(caller, callee) for caller, callee in wildcard if caller not in failed}
            inbound = inbound | wildcard
        callers: dict[Key, list[Key]] = defaultdict(list)
        callees: dict[Key, list[Key]] = defaultdict(list)
        for caller, callee in outbound & inbound:
            callers[callee].append(caller)
            callees[caller].append(callee)
        graph = FleetGraph(nodes=dict(self.nodes))
        # Each node's peers are sorted (policies list them in order); the maps themselves need no order.
        graph.callers = {k: sorted(v) for k, v in callers.items()}
        graph.callees = {k: sorted(v) for k, v in callees.items()}
        graph.one_sided = sorted(
            [OneSided(a, b, a) for a, b in outbound - inbound] + [OneSided(a, b, b) for a, b in inbound - outbound],
            key=lambda o: (o.caller, o.callee, o.declared_by),
        )
        graph.externals = {key: list(d.externals) for key, d in self._declared.items() if d.externals}
        graph.wildcard_declarers = {key: tuple(sorted(names)) for key, names in declarers.items()}
        graph.wildcard_edges = frozenset(wildcard)
        return graph


def _declarations(node: Node) -> _Declared:
    outbound: set[tuple[Key, Key]] = set()
    inbound: set[tuple[Key, Key]] = set()
    wildcard: list[str] = []
    externals: list[External] = []
    for resource, dep in node.dependencies.items():
        if dep.type == "external-service":
            for ep_name, url in sorted((dep.params.endpoints or {}).items()):
                externals.append(External(resource, ep_name, parse_endpoint(url)))
            continue
        if dep.type != "service":
            continue
        if dep.id == ANY_CALLER:  # always inbound (the model refuses any other direction)
            wildcard.append(resource)
            continue
        target = target_of(node.key[0], resource, dep)
        direction = dep.effective_direction
        if direction in ("outbound", "both"):
            outbound.add((node.key, target))
        if direction in ("inbound", "both"):
            inbound.add((target, node.key))
    return _Declared(frozenset(outbound), frozenset(inbound), tuple(wildcard), tuple(externals))
