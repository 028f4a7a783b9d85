"""Autoscaling through a KEDA ScaledObject; the Deployment then carries no `replicas` so the two never fight."""

from __future__ import annotations

from lattice.api.service import Autoscaling
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned


def min_replicas(autoscaling: Autoscaling, replicas: int) -> int:
    return autoscaling.min if autoscaling.min is not None else replicas


def scaled_object(name: str, namespace: str, autoscaling: Autoscaling, replicas: int,
                  user_labels: dict[str, str]) -> Obj:
    obj = owned("keda.sh/v1alpha1", "ScaledObject", naming.scaled_object(name), workload=name,
                namespace=namespace, user_labels=user_labels)
    obj["spec"] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": naming.deployment(name)},
        "minReplicaCount": min_replicas(autoscaling, replicas),
        "maxReplicaCount": autoscaling.max,
        "triggers": [
            {"type": m.metric, "metricType": "Utilization", "metadata": {"value": str(m.target)}}
            for m in sorted(autoscaling.metrics, key=lambda m: m.metric)
        ],
    }
    return obj
