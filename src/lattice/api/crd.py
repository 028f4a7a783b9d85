"""CustomResourceDefinitions generated from the pydantic models: the models are the one source of truth.

Pydantic emits JSON Schema (refs, anyOf for optionals, titles); Kubernetes wants a structural OpenAPI v3
schema (inline, every node typed, no additionalProperties beside properties). This module converts one to
the other and adds what Kubernetes conventions expect: status subresource, printer columns, short names.
"""

from __future__ import annotations

from typing import Any

from lattice.api.base import API_GROUP, API_VERSION, Resource
from lattice.api.parse import KINDS
from lattice.api.status import LatticeStatus

Schema = dict[str, Any]
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_KEEP = {"type", "description", "properties", "required", "items", "enum", "minimum", "maximum", "minLength",
         "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "pattern", "format"}


def _inline(schema: Any, defs: dict[str, Schema]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            target = defs[schema["$ref"].rsplit("/", 1)[-1]]
            merged = {**_inline(target, defs), **{k: v for k, v in schema.items() if k != "$ref"}}
            return _inline(merged, defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def structural(schema: Schema) -> Schema:
    """Convert one inlined pydantic schema node into a structural Kubernetes schema node."""
    description = schema.get("description")
    if "anyOf" in schema:
        members = [m for m in schema["anyOf"] if m.get("type") != "null"]
        types = {m.get("type") for m in members}
        if types == {"integer", "string"}:
            out: Schema = {"x-kubernetes-int-or-string": True}
        elif len(members) == 1:
            out = structural({**members[0], **({"description": description} if description else {})})
        else:
            raise ValueError(f"cannot express the union {schema['anyOf']} structurally")
        if description and "description" not in out:
            out["description"] = description
        return out
    if "const" in schema:
        schema = {**schema, "enum": [schema["const"]], "type": schema.get("type", "string")}
    out = {k: v for k, v in schema.items() if k in _KEEP}
    kind = schema.get("type")
    if kind == "integer" and (out.get("minimum") == _INT64_MIN or out.get("maximum") == _INT64_MAX):
        # The API server reads schema bounds as float64, where 2^63-1 rounds up past int64, and refuses them
        # ("Maximum boundary value must be of type integer"); `format: int64` states the same bounds exactly.
        int64_bounds = {("minimum", _INT64_MIN), ("maximum", _INT64_MAX)}
        out = {k: v for k, v in out.items() if (k, v) not in int64_bounds}
        out["format"] = "int64"
    if kind == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props:
            out["properties"] = {name: structural(sub) for name, sub in props.items()}
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = structural(extra)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = structural(schema.get("items", {"type": "string"}))
    elif kind is None and "enum" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "required" in out:
        out["required"] = sorted(out["required"])
    return out


def _model_schema(model: type[Any]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(_inline(raw, raw.get("$defs", {})))


def openapi_schema(kind: type[Resource]) -> Schema:
    """The openAPIV3Schema of one kind."""
    spec_model = kind.model_fields["spec"].annotation
    assert isinstance(spec_model, type)
    spec = _model_schema(spec_model)
    required = ["spec"] if kind.model_fields["spec"].is_required() else []
    schema: Schema = {
        "type": "object",
        "description": (kind.__doc__ or "").strip().splitlines()[0] if kind.__doc__ else kind.KIND,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": _model_schema(LatticeStatus),
        },
    }
    if required:
        schema["required"] = required
    return schema


def crd(kind: type[Resource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    names: dict[str, Any] = {
        "kind": kind.KIND,
        "listKind": f"{kind.KIND}List",
        "plural": kind.PLURAL,
        "singular": kind.KIND.lower(),
        "categories": ["lattice"],
    }
    if kind.SHORT_NAMES:
        names["shortNames"] = list(kind.SHORT_NAMES)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.PLURAL}.{API_GROUP}", "labels": {"app.kubernetes.io/part-of": "lattice"}},
        "spec": {
            "group": API_GROUP,
            "names": names,
            "scope": "Namespaced" if kind.NAMESPACED else "Cluster",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Resources", "type": "integer", "jsonPath": ".status.compiledResources.count"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(KINDS[name]) for name in sorted(KINDS)]
