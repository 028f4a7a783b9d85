"""The workload's identity: a ServiceAccount whose token is not mounted (the mesh identity needs none)."""

from __future__ import annotations

from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned


def service_account(name: str, namespace: str, user_labels: dict[str, str]) -> Obj:
    obj = owned("v1", "ServiceAccount", naming.service_account(name), workload=name, namespace=namespace,
                user_labels=user_labels)
    obj["automountServiceAccountToken"] = False
    return obj
