"""Signed stand-ins for the examples' images, so the controller (which always resolves and verifies images)
can verify them without reaching registry.example.com.

Every image reference under an ImageProvider's registry gets one small image pushed at the same repository
path into a local registry (tests/registry/oci.py), signed in cosign's format with a key made for this run.
The documents are then rewritten: each such reference becomes `<local registry>/<repository>@<new digest>`,
and each ImageProvider's `registry` and trusted keys become the local registry's and that key. Nothing else in
the documents changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lattice.gates.images import InvalidReference, parse_reference
from tests.registry.oci import Pusher, Signer, push_tag_signature

IMAGE_PROVIDER = "ImageProvider"
TAG = "sandbox"


@dataclass(frozen=True)
class StandIns:
    """What was pushed: the old reference -> the new one, and the registry and key that now stand in."""

    host: str
    public_pem: str
    references: dict[str, str]

    def rewrite(self, documents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copies of `documents` with the references and ImageProviders switched to the local registry."""
        out = []
        for document in documents:
            rewritten = _map_strings(copy.deepcopy(document), lambda s: self.references.get(s, s))
            if rewritten.get("kind") == IMAGE_PROVIDER:
                self._trust_local(rewritten)
            out.append(rewritten)
        return out

    def _trust_local(self, provider: dict[str, Any]) -> None:
        """The provider's registry becomes the local one and each authority's key the sandbox's."""
        spec = provider.setdefault("spec", {})
        spec["registry"] = self.host
        for authority in (spec.get("trust") or {}).get("authorities") or []:
            authority["key"] = self.public_pem


def provider_registries(documents: Iterable[dict[str, Any]]) -> set[str]:
    """The registries the documents' ImageProviders name."""
    return {d["spec"]["registry"] for d in documents
            if d.get("kind") == IMAGE_PROVIDER and isinstance(d.get("spec"), dict) and "registry" in d["spec"]}


def image_references(documents: Iterable[dict[str, Any]], registries: set[str]) -> list[str]:
    """Every string in the documents that is an image reference by digest under one of `registries`."""
    found: list[str] = []

    def visit(value: str) -> str:
        if value.split("/", 1)[0] in registries and value not in found:
            try:
                image = parse_reference(value)
            except InvalidReference:
                return value
            if image.digest is not None:
                found.append(value)
        return value

    for document in documents:
        _map_strings(document, visit)
    return found


def push_stand_ins(pusher: Pusher, host: str, references: list[str]) -> StandIns:
    """One small image per reference, at its repository path (content naming the original, so the digests
    differ), each signed with a new key."""
    signer = Signer()
    mapped = {}
    for reference in references:
        repository = parse_reference(reference).repository
        digest = pusher.image(repository, TAG, content=f"lattice sandbox stand-in for {reference}\n".encode())
        push_tag_signature(pusher, repository, digest, signer)
        mapped[reference] = f"{host}/{repository}@{digest}"
    return StandIns(host, signer.public_pem, mapped)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with `change` applied to every string in it (mapping keys are left alone)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value
