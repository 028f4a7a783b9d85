"""Availability: a PodDisruptionBudget wherever more than one replica exists to protect.

Fixed replicas keep `replicas - 1` available during drains. An autoscaled workload's replica count moves,
so it allows one pod down at a time (`maxUnavailable: 1`), which at the minimum size is the same promise.
The promise covers Ready pods only: unready ones never hold a drain up.
"""

from __future__ import annotations

from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned


def disruption_budget(name: str, namespace: str, *, replicas: int, min_replicas: int | None,
                      user_labels: dict[str, str]) -> Obj | None:
    autoscaled = min_replicas is not None
    floor = min_replicas if min_replicas is not None else replicas
    if floor <= 1:
        return None
    obj = owned("policy/v1", "PodDisruptionBudget", naming.disruption_budget(name), workload=name,
                namespace=namespace, user_labels=user_labels)
    # AlwaysAllow: a pod that is Running but not Ready (crash-looping, misconfigured) may always be evicted, so a
    # broken rollout cannot block node drains; the budget still protects the Ready pods. Kubernetes recommends it
    # ("Specifying a Disruption Budget for your Application", Unhealthy Pod Eviction Policy; GA in 1.31, KEP-3017);
    # the default, IfHealthyBudget, evicts an unready pod only while the application is not already disrupted.
    spec: Obj = {"selector": {"matchLabels": naming.selector(name)}, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    if autoscaled:
        spec["maxUnavailable"] = 1
    else:
        spec["minAvailable"] = replicas - 1
    obj["spec"] = spec
    return obj
