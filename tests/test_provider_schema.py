"""A SecretProvider's `provider` block is checked against External Secrets' schema, from a copy shipped in
the package (the package never reads ../shared at runtime); the copy must equal a fresh trim of upstream."""

from __future__ import annotations

import pytest

from lattice.api.provider_schema import check_provider, provider_schema
from lattice.errors import Problem
from tests.support.provider_schema import render, trimmed_provider_schema


def test_the_shipped_schema_is_the_upstream_schema_trimmed() -> None:
    assert provider_schema() == trimmed_provider_schema()
    shipped = __import__("importlib.resources").resources.files("lattice.api") / "eso_provider_schema.json"
    assert shipped.read_text() == render(), "regenerate: python -m tests.support.provider_schema > ..."


@pytest.mark.parametrize(("provider", "problems"), [
    ({"vault": {"server": "https://v:8200", "path": "secret", "version": "v2"}}, []),
    ({"vault": {"server": "https://v:8200", "version": "v3"}},
     [Problem("vault.version", "`v3` is not allowed here", "write one of: v1, v2")]),
    ({"vault": {"server": 8200}}, [Problem("vault.server", "expected text, got a number `8200`", "write text here")]),
    ({"vaultt": {}}, [Problem("vaultt", "unknown field `vaultt`", "did you mean `vault`?")]),
    ({"aws": {"service": "SecretsManager", "region": "eu-west-1", "auth": {"jwt": {"serviceAccountRef": {}}}}},
     [Problem("aws.auth.jwt.serviceAccountRef.name", "required field `name` is missing",
              "add `name:` (External Secrets requires it)")]),
])
def test_provider_blocks_are_checked_field_by_field(provider: dict[str, object], problems: list[Problem]) -> None:
    assert check_provider(provider) == problems
