"""Fetch an image's cosign signatures from its registry (both formats) and verify them against a provider's
authorities, with a cache of what verified.

The fetching is here; judging the bytes is lattice.gates.signatures (pure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
            self._entries.pop((digest, fingerprint), None)  # the controller's threads may race here
            return None
        return entry[1]

    def put(self, digest: str, fingerprint: str, outcome: AuthorityOutcome) -> None:
        self._entries[(digest, fingerprint)] = (self.clock() + self.ttl, outcome)


def tag_signatures(client: RegistryClient, registry: str, repository: str,
                   digest: str) -> list[signatures.Candidate]:
    """The simple-signing layers of the tag `sha256-<hex>.sig` (none when the tag does not exist). A layer whose
    payload is missing from the registry is unusable; an unreachable registry raises."""
    sig_tag = signatures.signature_tag(digest)
    found: list[signatures.Candidate] = []
    try:
        sig_manifest = client.manifest(registry, repository, sig_tag).json()
    except NotFound:
        return found
    for index, layer in enumerate(_dicts(sig_manifest.get("layers"))):
        if layer.get("mediaType") != signatures.SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        where = f"tag `{sig_tag}` layer {index}"
        try:
            blob = client.blob(registry, repository, str(layer.get("digest")))
        except NotFound:
            found.append(signatures.Unusable(where, f"its payload {layer.get('digest')} is missing from the registry"))
            continue
        found.append(signatures.simple_signing_candidate(where, layer, blob, digest))
    return found


def bundle_signatures(client: RegistryClient, registry: str, repository: str,
                      digest: str) -> list[signatures.Candidate]:
    """The sigstore bundles among the referrers of `digest` (the referrers API, else the `sha256-<hex>` tag
    index)."""
    found: list[signatures.Candidate] = []
    for descriptor in client.referrers(registry, repository, digest):
        if descriptor.get("artifactType") != signatures.BUNDLE_MEDIA_TYPE:
            continue
        where = f"bundle {descriptor.get('digest')}"
        try:
            manifest = client.manifest(registry, repository, str(descriptor.get("digest"))).json()
            layers = _dicts(manifest.get("layers"))
            blob = client.blob(registry, repository, str(layers[0].get("digest"))) if layers else b""
        except NotFound as missing:
            found.append(signatures.Unusable(where, f"it is listed but missing from the registry ({missing})"))
            continue
        found.extend(signatures.bundle_candidates(where, manifest, blob, digest))
    return found


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


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
    searched = (f"looked for tag `{signatures.signature_tag(digest)}` and for sigstore bundles among the referrers "
                f"of {digest}")
    try:
        # The tag format first: when a trusted key signed it, the referrers need not be asked (half the requests).
        candidates = tag_signatures(client, registry, repository, digest)
        outcomes = signatures.judge(candidates, keys, searched=searched)
        if not any(o.verified for o in outcomes):
            candidates += bundle_signatures(client, registry, repository, digest)
            outcomes = signatures.judge(candidates, keys, searched=searched)
    except RegistryError as error:
        return Verification(digest, (), error=str(error))
    if cache is not None:
        for key, outcome in zip(keys, outcomes, strict=True):
            if outcome.verified:
                cache.put(digest, key.fingerprint, outcome)
    return Verification(digest, outcomes)
