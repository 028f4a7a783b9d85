"""The Deployment: the pod template plus a rollout that never drops below the serving replicas."""

from __future__ import annotations

from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned


def deployment(name: str, namespace: str, *, pod_template: Obj, replicas: int | None,
               user_labels: dict[str, str], recreate: bool = False) -> Obj:
    """`replicas` is None when an autoscaler owns the count. `recreate` stops the old pod before starting the
    new one, for a pod whose claim only one node may attach (see `storage`)."""
    obj = owned("apps/v1", "Deployment", naming.deployment(name), workload=name, namespace=namespace,
                user_labels=user_labels)
    strategy: Obj = ({"type": "Recreate"} if recreate else
                     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}})
    spec: Obj = {
        "selector": {"matchLabels": naming.selector(name)},
        "revisionHistoryLimit": 5,
        "strategy": strategy,
        "template": pod_template,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    obj["spec"] = spec
    return obj
