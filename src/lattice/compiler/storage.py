"""Storage: a PersistentVolumeClaim for each `volume` dependency the workload owns (one with a `size`).

A volume with an `id` and no size refers to a claim someone else owns; nothing is created for it.
"""

from __future__ import annotations

from lattice.api.workload import Dependency
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned


def claims(name: str, namespace: str, resources: dict[str, Dependency], user_labels: dict[str, str]) -> list[Obj]:
    out = []
    for rname, dep in sorted(resources.items()):
        if dep.type != "volume" or dep.params.size is None:
            continue
        obj = owned("v1", "PersistentVolumeClaim", naming.claim(name, rname, dep.id), workload=name,
                    namespace=namespace, user_labels=user_labels)
        spec: Obj = {
            "accessModes": [dep.params.access_mode or "ReadWriteOnce"],
            "resources": {"requests": {"storage": dep.params.size}},
        }
        if dep.params.storage_class:
            spec["storageClassName"] = dep.params.storage_class
        obj["spec"] = spec
        out.append(obj)
    return out
