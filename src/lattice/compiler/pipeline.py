"""compile(service, context) -> CompileResult: the whole derivation of one LatticeService, as pure functions.

Order: resolve placeholders and config -> derive each output family -> sort. Any problem means no objects
at all: a service is compiled whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lattice.api.service import LatticeService
from lattice.compiler import (
    autoscaling,
    availability,
    config,
    deployment,
    identity,
    network_service,
    observability,
    storage,
)
from lattice.compiler import pod as pods
from lattice.compiler.context import CompileContext
from lattice.compiler.meta import Obj
from lattice.compiler.resolve import Resolver
from lattice.errors import LatticeError, Problem

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
    if cfg.problems:
        raise LatticeError(cfg.problems)

    warnings: list[Problem] = []
    min_replicas = autoscaling.min_replicas(spec.autoscaling, spec.replicas) if spec.autoscaling else None
    template = pods.pod_template(name=name, workload=workload, config=cfg, platform=platform,
                                 user_labels=user_labels, hash_input=config.config_data(cfg.config_maps))
    objects: list[Obj | None] = [
        identity.service_account(name, namespace, user_labels),
        *cfg.config_maps,
        *storage.claims(name, namespace, workload.resources, user_labels),
        network_service.service(name, namespace, workload.ports, user_labels),
        deployment.deployment(name, namespace, pod_template=template,
                              replicas=None if spec.autoscaling else spec.replicas, user_labels=user_labels),
        availability.disruption_budget(name, namespace, replicas=spec.replicas, min_replicas=min_replicas,
                                       user_labels=user_labels),
        autoscaling.scaled_object(name, namespace, spec.autoscaling, spec.replicas, user_labels)
        if spec.autoscaling else None,
    ]
    scrape = observability.scrape_target(name, namespace, workload.ports, platform.metrics, user_labels)
    if scrape is None:
        warnings.append(Problem(
            "spec.workload.service.ports",
            "no ports are declared, so the service has no metrics scrape target",
            "declare a `metrics` port (e.g. `metrics: {port: 9090}`) so the platform can observe it",
        ))
    objects.append(scrape)
    return CompileResult(objects=sort_objects([o for o in objects if o is not None]), warnings=warnings)
