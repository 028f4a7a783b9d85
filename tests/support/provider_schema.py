"""The trimmed ESO provider schema shipped in the package, regenerated from the upstream CRD schema.

`lattice.api.provider_schema` validates a SecretProvider's `provider` block at runtime, so it cannot read
`../shared/schemas`: the package ships the structural part of External Secrets' ClusterSecretStore
`spec.provider` schema (external-secrets/external-secrets, Apache-2.0): types, fields, required fields,
patterns and bounds, no descriptions. `tests/test_provider_schema.py` checks the shipped copy equals this
trim of the upstream file, so it cannot drift. Regenerate with:

    .venv/bin/python -m tests.support.provider_schema > src/lattice/api/eso_provider_schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.support.schemas import crd_schemas_dir

KEEP = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "maxProperties",
                  "minProperties", "minimum", "maximum", "minLength", "maxLength", "pattern"})
SOURCE = "external-secrets.io/clustersecretstore_v1.json"


def _trim(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _trim(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _trim(value)
        elif key in KEEP:
            out[key] = value
    return out


def trimmed_provider_schema() -> dict[str, Any]:
    upstream = json.loads((crd_schemas_dir() / SOURCE).read_text())
    provider = _trim(upstream["properties"]["spec"]["properties"]["provider"])
    return {"$comment": "Trimmed from External Secrets' ClusterSecretStore v1 CRD (spec.provider), "
                        "external-secrets/external-secrets, Apache-2.0; see tests/support/provider_schema.py",
            **provider}


def render() -> str:
    return json.dumps(trimmed_provider_schema(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
