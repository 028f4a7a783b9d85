"""`SecretProvider`: where secrets live; becomes an External Secrets ClusterSecretStore of the same name."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from lattice.api.base import Model, Resource
from lattice.api.provider_schema import check_provider
from lattice.errors import invalid


class SecretProviderSpec(Model):
    provider: dict[str, Any]

    @field_validator("provider")
    @classmethod
    def _one_provider(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) != 1:
            raise invalid(
                f"provider must name exactly one backend, found {len(value)}",
                "write e.g. `provider: {vault: {server: https://vault:8200, path: secret, version: v2}}`",
            )
        problems = check_provider(value)
        if problems:  # the first; the rest often follow from it (a misspelt backend has no fields to check)
            first = problems[0]
            raise invalid(first.message, first.hint, tuple(_segments(first.path)))
        return value


def _segments(path: str) -> list[str | int]:
    """`vault.auth.tokenSecretRef` back into segments, so the error is placed at that field."""
    out: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]"):
            out.append(int(part[1:-1]))
        elif part:
            out.append(part)
    return out


class SecretProvider(Resource):
    KIND: ClassVar[str] = "SecretProvider"
    PLURAL: ClassVar[str] = "secretproviders"
    NAMESPACED: ClassVar[bool] = False

    kind: Literal["SecretProvider"]
    spec: SecretProviderSpec
