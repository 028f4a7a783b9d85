"""`SecretProvider`: where secrets live; becomes an External Secrets ClusterSecretStore of the same name."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from lattice.api.base import Model, Resource
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
        return value


class SecretProvider(Resource):
    KIND: ClassVar[str] = "SecretProvider"
    PLURAL: ClassVar[str] = "secretproviders"
    NAMESPACED: ClassVar[bool] = False

    kind: Literal["SecretProvider"]
    spec: SecretProviderSpec
