"""compile(service, context) -> CompileResult: the whole derivation of one LatticeService, as pure functions.

Order: resolve placeholders and config -> derive each output family -> sort. Any problem means no objects
at all: a service is compiled whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.service import LatticeService
from lattice.compiler import (
    authorization,
    autoscaling,
    availability,
    budget,
    config,
    deployment,
    gpu,
    identity,
    ingress,
    naming,
    network_policy,
    network_service,
    nodes,
    observability,
    peers,
    secrets,
    security,
    service_entry,
    storage,
)
from lattice.compiler import pod as pods
from lattice.compiler.context import CompileContext
from lattice.compiler.meta import Obj
from lattice.compiler.resolve import Resolver
from lattice.errors import LatticeError, Problem
from lattice.graph import Node, build_graph

# Output order within a service: what others depend on first, so `kubectl apply -f` creates it in order.
KIND_ORDER = {
    kind: i
    for i, kind in enumerate((
        "ServiceAccount", "ClusterSecretStore", "ExternalSecret", "Secret", "ConfigMap", "PersistentVolumeClaim",
        "Service", "Deployment", "PodDisruptionBudget", "ScaledObject", "VMServiceScrape", "ServiceMonitor",
        "CiliumNetworkPolicy", "AuthorizationPolicy", "ServiceEntry", "Gateway", "HTTPRoute", "GRPCRoute",
        "Certificate",
    ))
}


@dataclass(slots=True)
class CompileResult:
    objects: list[Obj]
    warnings: list[Problem] = field(default_factory=list)


def sort_objects(objects: list[Obj]) -> list[Obj]:
    return sorted(objects, key=lambda o: (KIND_ORDER.get(o["kind"], len(KIND_ORDER)), o["kind"],
                                          o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def compile_service(svc: LatticeService, context: CompileContext) -> CompileResult:
    """Derive every object one service needs. Raises LatticeError (and produces nothing) on any problem."""
    name, namespace = svc.name, svc.namespace
    spec = svc.spec
    workload = spec.workload
    user_labels = dict(svc.metadata.labels)
    platform = context.platform
    resolver = Resolver(name=name, namespace=namespace, dependencies=workload.resources, context=context)

    cfg = config.derive_config(workload.containers, resolver, base_path="spec.workload.containers",
                               user_labels=user_labels)
    problems = secrets.metadata_problems(svc.metadata.labels, svc.metadata.annotations, workload.resources)
    problems += gpu.model_problems(workload.resources, platform.gpu)
    problems += security.problems(workload, routed=spec.ingress is not None)
    budget_errors, budget_warnings = budget.problems(workload.containers, platform.defaults.resources,
                                                     "spec.workload.containers")
    if cfg.problems or problems or budget_errors:
        raise LatticeError([*problems, *cfg.problems, *budget_errors])

    warnings: list[Problem] = [*cfg.warnings, *budget_warnings, *storage.warnings(workload)]
    min_replicas = autoscaling.min_replicas(spec.autoscaling, spec.replicas) if spec.autoscaling else None
    template = pods.pod_template(name=name, workload=workload, config=cfg, platform=platform,
                                 user_labels=user_labels,
                                 hash_input=config.config_data([*cfg.config_maps, *cfg.external_secrets]))
    objects: list[Obj | None] = [
        identity.service_account(name, namespace, user_labels),
        *cfg.config_maps,
        *cfg.external_secrets,
        *storage.claims(name, namespace, workload.resources, user_labels),
        network_service.service(name, namespace, workload.ports, user_labels),
        deployment.deployment(name, namespace, pod_template=template,
                              replicas=None if spec.autoscaling else spec.replicas, user_labels=user_labels,
                              recreate=bool(workload.single_attach_claims())),
        availability.disruption_budget(name, namespace, replicas=spec.replicas, min_replicas=min_replicas,
                                       user_labels=user_labels),
        autoscaling.scaled_object(name, namespace, spec.autoscaling, spec.replicas, user_labels)
        if spec.autoscaling else None,
    ]
    node_host_network = security.host_network(workload)
    scrape = observability.scrape_target(name, namespace, workload.ports, platform.metrics, user_labels,
                                         # no sidecar beside a host-networked pod: it serves plain text
                                         sidecar=platform.mesh.mode == "sidecar" and not node_host_network)
    if scrape is None:
        warnings.append(observability.no_scrape_target_warning(workload.ports))
    objects.append(scrape)
    objects.extend(ingress.routes(svc, platform, user_labels))
    node = context.graph.nodes.get((namespace, name)) or nodes.service_node(svc)
    warnings += security.warnings(workload)
    if node.key in context.graph.nodes:
        warnings += peers.host_network_warnings(node, context.graph)
    objects.extend(_policies(context, node, user_labels, scraped=scrape is not None,
                             routed_ports=ingress.routed_ports(svc), probe_ports=pods.probe_ports(workload)))
    return CompileResult(objects=sort_objects([o for o in objects if o is not None]), warnings=warnings)


def _policies(context: CompileContext, node: Node, labels: dict[str, str], *, scraped: bool,
              probe_ports: peers.PortList, routed_ports: peers.PortList = ()) -> list[Obj]:
    """Default-deny L4 and L7 policy admitting exactly the agreed peers, and the external endpoints.
    A workload missing from the context's graph (compiled on its own) is a graph of one: no peers."""
    graph, platform, key = context.graph, context.platform, node.key
    if node.host_network:
        return []  # no policy selects or admits host-networked pods (see `security.warnings`)
    if key not in graph.nodes:
        graph = build_graph([node])
    inbound = peers.ingress_peers(node, graph, platform, scraped=scraped, routed_ports=routed_ports)
    outbound = peers.egress_peers(node, graph, platform)
    externals = graph.externals_of(key)
    dns_names = [naming.service_host(callee[1], callee[0], platform.cluster_domain)
                 for callee in peers.reachable_callees(node, graph) if graph.nodes[callee].ports]
    dns_names += [ext.endpoint.host for ext in externals if not ext.endpoint.is_address]
    object_labels = naming.labels(key[1], labels)
    return [
        network_policy.cilium_policy(node, ingress=inbound, egress=outbound, externals=externals,
                                     dns_names=dns_names, platform=platform, labels=object_labels,
                                     probe_ports=probe_ports),
        authorization.authorization_policy(node, ingress=inbound, labels=object_labels),
        *service_entry.service_entries(key[1], key[0], externals, object_labels),
    ]


def compile_mesh_member(member: LatticeMeshMember, context: CompileContext) -> CompileResult:
    """A workload the platform did not compile gets the same policies as one it did. Its probes are not
    known, so (in ambient mode) the kubelet's are admitted on the TCP ports it declares."""
    labels = dict(member.metadata.labels)
    node = context.graph.nodes.get((member.namespace, member.name)) or nodes.mesh_member_node(member)
    return CompileResult(objects=sort_objects(_policies(context, node, labels, scraped=False,
                                                        probe_ports=tuple(p for p in node.target_ports
                                                                          if p[1] == "TCP"))))
