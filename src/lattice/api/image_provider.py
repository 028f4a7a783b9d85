"""`ImageProvider`: a registry the platform trusts, the keys that sign its images, and how to pull from it."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from lattice.api.base import DnsLabel, Model, Resource
from lattice.errors import invalid

_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_REGISTRY = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._/-]+)?")


class Authority(Model):
    name: DnsLabel
    key: str

    @field_validator("key")
    @classmethod
    def _pem(cls, value: str) -> str:
        if "BEGIN PUBLIC KEY" not in value:
            raise invalid("key is not a PEM public key",
                          "paste the output of `cosign public-key` (-----BEGIN PUBLIC KEY-----...)")
        return value


class Trust(Model):
    enforce: bool = True
    authorities: list[Authority] = Field(default_factory=list)


class Credentials(Model):
    """Where the registry's pull credentials live in a secret provider."""

    provider: DnsLabel
    path: str = Field(min_length=1)
    docker_config_json_key: str | None = None
    """The key at `path` that already holds a complete `.dockerconfigjson` (what `docker login` writes, or
    what `kubectl create secret docker-registry` stores); it is synced as it is. Without it, `path` holds
    `username` and `password`, and Lattice renders the `.dockerconfigjson` from them."""

    @field_validator("docker_config_json_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_KEY.fullmatch(value):
            raise invalid(f"`{value}` cannot be a key of a secret",
                          "use letters, digits, '-', '_' and '.', e.g. `.dockerconfigjson`")
        return value


class ImageProviderSpec(Model):
    registry: str
    trust: Trust = Field(default_factory=Trust)
    credentials: Credentials | None = None

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not _REGISTRY.fullmatch(value):
            raise invalid(f"registry `{value}` is not a registry host", "write e.g. `registry.example.com`")
        return value


class ImageProvider(Resource):
    KIND: ClassVar[str] = "ImageProvider"
    PLURAL: ClassVar[str] = "imageproviders"
    NAMESPACED: ClassVar[bool] = False

    kind: Literal["ImageProvider"]
    spec: ImageProviderSpec
