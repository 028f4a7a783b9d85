"""`lattice install`: print (`--dry-run`) or server-side apply what the controller needs (controller/install.py)."""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import Any

from lattice.compiler import naming
from lattice.compiler.meta import Obj
from lattice.controller.cluster import status_code
from lattice.controller.plan import KINDS

# The kinds `install_objects` adds to those the compiler writes: (plural, namespaced).
_OTHER_KINDS = {
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
    ("v1", "Namespace"): ("namespaces", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("lattice.dev/v1alpha1", "CedarPolicy"): ("cedarpolicies", False),
    ("kopf.dev/v1", "ClusterKopfPeering"): ("clusterkopfpeerings", False),
}


def _resource(obj: Obj) -> Any:
    return _resource_of(obj["apiVersion"], obj["kind"])


@cache  # lightkube registers each generic class once: a second `install` in one process must reuse them
def _resource_of(api_version: str, kind_name: str) -> Any:
    from lightkube.generic_resource import create_global_resource, create_namespaced_resource

    key = (api_version, kind_name)
    if key in KINDS:
        kind = KINDS[key]
        plural, namespaced = kind.plural, kind.namespaced
    else:
        plural, namespaced = _OTHER_KINDS[key]
    group, _, version = api_version.rpartition("/")
    make = create_namespaced_resource if namespaced else create_global_resource
    return make(group, version, kind_name, plural)


def apply_all(objects: list[Obj], kubeconfig: Path | None) -> list[str]:
    """Apply in order, the CRDs first (waiting until they are served); returns one line per failure."""
    from lightkube import Client, KubeConfig

    config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    client = Client(config, field_manager=naming.FIELD_MANAGER)
    failures = []
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    for obj in crds:
        client.apply(_resource(obj)(obj), force=True)
    _wait_established(client, crds)
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        try:
            client.apply(_resource(obj)(obj), force=True)
        except Exception as error:  # one kind not served (no Cilium in this cluster) must not hide the rest
            meta = obj["metadata"]
            where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
            reason = "its API is not served (install its CRDs)" if status_code(error) == 404 else str(error)
            failures.append(f"{obj['kind']} {where}: {reason}")
    client.close()
    return failures


def _wait_established(client: Any, crds: list[Obj], timeout: float = 60) -> None:
    resource = _resource(crds[0]) if crds else None
    deadline = time.monotonic() + timeout
    for crd in crds:
        while True:
            current = client.get(resource, crd["metadata"]["name"])
            conditions = (current.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {crd['metadata']['name']} was not established within {timeout:.0f} s")
            time.sleep(0.2)
