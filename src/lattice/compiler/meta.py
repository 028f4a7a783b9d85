"""Object skeletons: apiVersion, kind and metadata the same way for every derived object."""

from __future__ import annotations

from typing import Any

from lattice.compiler import naming

Obj = dict[str, Any]


def new_object(api_version: str, kind: str, name: str, namespace: str | None, labels: dict[str, str]) -> Obj:
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def owned(api_version: str, kind: str, name: str, *, workload: str, namespace: str,
          user_labels: dict[str, str] | None = None) -> Obj:
    """An object derived from a workload: in its namespace, carrying its labels."""
    return new_object(api_version, kind, name, namespace, naming.labels(workload, user_labels))
