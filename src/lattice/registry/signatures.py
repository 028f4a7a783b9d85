"""Fetch an image's cosign signatures from its registry (both formats) and verify them against a provider's
authorities, with a cache of what verified.

The fetching is here; judging the bytes is lattice.gates.signatures (pure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lattice.api.image_provider import Authority
from lattice.gates import signatures
from lattice.gates.images import AuthorityOutcome, Verification
from lattice.registry.client import NotFound, RegistryClient, RegistryError

DEFAULT_TTL = 300.0
"""Seconds a verified (digest, key) stays trusted without asking the registry again. A digest's content never
changes, but a signature can be deleted: the controller rechecks at least this often."""


@dataclass(slots=True)
class VerificationCache:
    """Verified (image digest, key fingerprint) pairs, each until its time-to-live runs out. Only successes are
    kept: a missing signature may be pushed a second later, and must then be found."""

    ttl: float = DEFAULT_TTL
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[float, AuthorityOutcome]] = field(default_factory=dict)

    def get(self, digest: str, fingerprint: str) -> AuthorityOutcome | None:
        entry = self._entries.get((digest, fingerprint))
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            del self._entries[(digest, fingerprint)]
            return None
        return entry[1]

    def put(self, digest: str, fingerprint: str, outcome: AuthorityOutcome) -> None:
        self._entries[(digest, fingerprint)] = (self.clock() + self.ttl, outcome)


def find_signatures(client: RegistryClient, registry: str, repository: str,
                    digest: str) -> tuple[list[signatures.Candidate], str]:
    """Every signature artifact for `digest`: the layers of the tag `sha256-<hex>.sig`, and the sigstore bundles
    among its referrers (the referrers API, else the `sha256-<hex>` tag index). Also says where it looked."""
    sig_tag = signatures.signature_tag(digest)
    searched = f"looked for tag `{sig_tag}` and for sigstore bundles among the referrers of {digest}"
    found: list[signatures.Candidate] = []
    try:
        sig_manifest = client.manifest(registry, repository, sig_tag).json()
    except NotFound:
        sig_manifest = {}
    layers = sig_manifest.get("layers")
    for index, layer in enumerate(layers if isinstance(layers, list) else []):
        if not isinstance(layer, dict) or layer.get("mediaType") != signatures.SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        where = f"tag `{sig_tag}` layer {index}"
        blob = client.blob(registry, repository, str(layer.get("digest")))
        found.append(signatures.simple_signing_candidate(where, layer, blob, digest))
    for descriptor in client.referrers(registry, repository, digest):
        if descriptor.get("artifactType") != signatures.BUNDLE_MEDIA_TYPE:
            continue
        where = f"bundle {descriptor.get('digest')}"
        manifest = client.manifest(registry, repository, str(descriptor.get("digest"))).json()
        layers = manifest.get("layers")
        first = layers[0] if isinstance(layers, list) and layers and isinstance(layers[0], dict) else {}
        blob = client.blob(registry, repository, str(first.get("digest"))) if first else b""
        found.extend(signatures.bundle_candidates(where, manifest, blob, digest))
    return found, searched


def verify_image(client: RegistryClient, registry: str, repository: str, digest: str,
                 authorities: Sequence[Authority], *, cache: VerificationCache | None = None) -> Verification:
    """Whether one of `authorities` signed `digest`, and otherwise why each did not. A registry that cannot be
    asked gives a Verification with `error`, never an exception."""
    keys = [signatures.load_authority(a) for a in authorities]
    if cache is not None:
        for key in keys:
            hit = cache.get(digest, key.fingerprint)
            if hit is not None:
                return Verification(digest, (hit,))
    try:
        candidates, searched = find_signatures(client, registry, repository, digest)
    except RegistryError as error:
        return Verification(digest, (), error=str(error))
    outcomes = signatures.judge(candidates, keys, searched=searched)
    if cache is not None:
        for key, outcome in zip(keys, outcomes, strict=True):
            if outcome.verified:
                cache.put(digest, key.fingerprint, outcome)
    return Verification(digest, outcomes)
