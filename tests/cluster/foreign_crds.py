"""Minimal CRDs for the other projects' kinds the compiler emits (Cilium, Istio, ESO, KEDA, VictoriaMetrics,
Gateway API, cert-manager ...), made from the schemas in ../shared/schemas so the real API server can check
Lattice's output against them.

Those files are each project's `openAPIV3Schema` converted to JSON Schema by openapi2jsonschema, which adds
`additionalProperties: false` beside every `properties`. apiextensions-apiserver refuses that pair in a
structural schema ("additionalProperties and properties are mutual exclusive"), and rejects unknown fields
on its own (strict field validation), so it is dropped; everything else (types, enums, patterns, CEL rules,
list types) is kept as the project wrote it. Names, scope and the served versions come from the objects.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tests.support.schemas import crd_schemas_dir


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def structural(schema: Any) -> Any:
    """The schema less openapi2jsonschema's boolean additionalProperties (see the module docstring)."""
    if isinstance(schema, dict):
        return {
            key: structural(value)
            for key, value in schema.items()
            if not (key == "additionalProperties" and isinstance(value, bool))
        }
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    return schema


def _approval(group: str) -> dict[str, str]:
    """Groups under k8s.io and kubernetes.io need an API-review annotation (KEP-1111); a value starting with
    "unapproved" is accepted and marked as such, which is what a test copy is."""
    if group.endswith((".k8s.io", ".kubernetes.io")):
        return {"api-approved.kubernetes.io": "unapproved, a minimal test CRD made by tests/cluster"}
    return {}


def crds_for(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CRD per (group, kind) of `objects` (custom resources the server does not serve yet), serving every
    version the objects use (the first, in sorted order, is stored)."""
    versions: dict[tuple[str, str], set[str]] = defaultdict(set)
    namespaced: dict[tuple[str, str], bool] = {}
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        versions[(group, obj["kind"])].add(version)
        namespaced[(group, obj["kind"])] = bool(obj["metadata"].get("namespace"))
    crds = []
    for (group, kind), served in sorted(versions.items()):
        plural = _plural(kind)
        crd_versions = []
        for index, version in enumerate(sorted(served)):
            path = crd_schemas_dir() / group / f"{kind.lower()}_{version}.json"
            schema = structural(json.loads(path.read_text()))
            crd_versions.append(
                {"name": version, "served": True, "storage": index == 0, "schema": {"openAPIV3Schema": schema}}
            )
        crds.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.{group}", "annotations": _approval(group)},
                "spec": {
                    "group": group,
                    "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                    "scope": "Namespaced" if namespaced[(group, kind)] else "Cluster",
                    "versions": crd_versions,
                },
            }
        )
    return crds
