"""The CRDs are generated from the models: structural, with status and printer columns, and they accept
exactly the example inputs the models accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lattice.api import KINDS
from lattice.api.crd import all_crds, crd
from tests.support.schemas import assert_valid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _walk(schema: dict[str, Any], path: str) -> list[str]:
    """Violations of the structural-schema rules Kubernetes enforces (apiextensions v1)."""
    problems = []
    typed = "type" in schema or schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields")
    if not typed:
        problems.append(f"{path}: no type")
    for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "const", "$defs", "default"):
        if banned in schema:
            problems.append(f"{path}: has {banned}")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: properties and additionalProperties together")
    for name, sub in schema.get("properties", {}).items():
        problems.extend(_walk(sub, f"{path}.{name}"))
    if isinstance(schema.get("additionalProperties"), dict):
        problems.extend(_walk(schema["additionalProperties"], f"{path}.*"))
    if "items" in schema:
        problems.extend(_walk(schema["items"], f"{path}[]"))
    return problems


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_is_structural_with_status_and_columns(kind: str) -> None:
    definition = crd(KINDS[kind])
    version = definition["spec"]["versions"][0]
    assert _walk(version["schema"]["openAPIV3Schema"], "") == []
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Phase", "Resources", "Age"]
    assert definition["metadata"]["name"] == f"{KINDS[kind].PLURAL}.lattice.dev"
    assert definition["spec"]["scope"] == ("Namespaced" if KINDS[kind].NAMESPACED else "Cluster")


def test_crds_validate_as_apiextensions_v1_objects() -> None:
    assert_valid(all_crds())


def test_short_name_of_latticeservice_is_ls() -> None:
    by_kind = {c["spec"]["names"]["kind"]: c for c in all_crds()}
    assert by_kind["LatticeService"]["spec"]["names"]["shortNames"] == ["ls"]


def _as_jsonschema(schema: Any) -> Any:
    """Read the Kubernetes extensions the way the API server does, so jsonschema can check examples."""
    if isinstance(schema, dict):
        out = {k: _as_jsonschema(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
        if schema.get("x-kubernetes-int-or-string"):
            out["type"] = ["integer", "string"]
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False  # the API server prunes or rejects unknown fields
        return out
    if isinstance(schema, list):
        return [_as_jsonschema(v) for v in schema]
    return schema


def _example_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.relative_to(EXAMPLES)}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


@pytest.mark.parametrize(("where", "doc"), _example_documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_validates_against_its_generated_crd(where: str, doc: dict[str, Any]) -> None:
    schema = _as_jsonschema(crd(KINDS[doc["kind"]])["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator(schema).validate(doc)


def test_generated_schema_rejects_an_unknown_field() -> None:
    schema = _as_jsonschema(crd(KINDS["LatticeService"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    doc = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService", "metadata": {"name": "a"},
           "spec": {"replica": 2, "workload": {"containers": {}}}}
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
    assert any("replica" in e.message for e in errors)
