"""`check_images`: the image gate with the registry in the loop, for the CLI (`--resolve`, `--verify-images`)
and the controller (both, always). Without either flag it asks no registry anything."""

from __future__ import annotations

from collections.abc import Mapping, Set

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.gates.images import (
    CONTAINERS_PATH,
    SHA256_DIGEST,
    ImageCheck,
    ImageName,
    InvalidReference,
    Verification,
    decide_image,
    match_provider,
    parse_reference,
)
from lattice.registry.client import RegistryClient, RegistryError
from lattice.registry.signatures import VerificationCache, verify_image


def check_images(
    refs: Mapping[str, str],
    providers: Mapping[str, ImageProviderSpec],
    images: Images,
    *,
    resolve: bool,
    verify: bool,
    client: RegistryClient | None = None,
    cache: VerificationCache | None = None,
    skip_verification: Set[str] = frozenset(),
    containers_path: str = CONTAINERS_PATH,
) -> dict[str, ImageCheck]:
    """The gate's answer for each container (`refs`: container name -> image reference).

    `resolve` looks tags up and pins their digests. `verify` checks signatures where the matching provider
    enforces trust; a tag is then resolved too, since only a digest can be verified (and the digest verified is
    the one pinned). `skip_verification` names the containers a Cedar `SkipImageVerification` permit covers:
    their failed checks become notes. `containers_path` is where the kind keeps its containers, for the field
    paths of problems. With neither flag no network call is made and `client` is not used."""
    if not (resolve or verify):
        return {name: decide_image(container=name, reference=ref, providers=providers, images=images,
                                   skip_verification=name in skip_verification, containers_path=containers_path)
                for name, ref in refs.items()}
    owned = client is None
    registry = client or RegistryClient()
    try:
        session = _Session(registry, providers, cache)
        out = {}
        for name, ref in refs.items():
            digest, error, verification = session.ask(ref, verify=verify)
            out[name] = decide_image(
                container=name, reference=ref, providers=providers, images=images, resolved_digest=digest,
                resolve_error=str(error) if error is not None else None, verification=verification,
                skip_verification=name in skip_verification, containers_path=containers_path,
                resolve_hint=error.hint if error is not None else "")
        return out
    finally:
        if owned:
            registry.close()


class _Session:
    """What the registries said during one check, so an image used by several containers is asked once."""

    def __init__(self, client: RegistryClient, providers: Mapping[str, ImageProviderSpec],
                 cache: VerificationCache | None) -> None:
        self._client = client
        self._providers = providers
        self._cache = cache
        self._resolved: dict[str, tuple[str | None, RegistryError | None]] = {}
        self._verified: dict[tuple[str, str, str], Verification] = {}

    def ask(self, ref: str, *, verify: bool) -> tuple[str | None, RegistryError | None, Verification | None]:
        """The resolved digest (None when the reference has one), why resolving failed, and the verification."""
        try:
            image = parse_reference(ref)
        except InvalidReference:
            return None, None, None  # decide_image reports it
        resolved, error = self._resolve(image) if image.digest is None else (None, None)
        digest = image.digest or resolved
        if not verify or digest is None or not SHA256_DIGEST.fullmatch(digest):
            return resolved, error, None
        return resolved, error, self._verify(image, digest)

    def _resolve(self, image: ImageName) -> tuple[str | None, RegistryError | None]:
        if image.reference not in self._resolved:
            try:
                digest = self._client.resolve(image.registry, image.repository, image.tag_or_default)
                self._resolved[image.reference] = (digest, None)
            except RegistryError as failure:
                self._resolved[image.reference] = (None, failure)
        return self._resolved[image.reference]

    def _verify(self, image: ImageName, digest: str) -> Verification | None:
        provider_name = match_provider(image, self._providers)
        if provider_name is None or not self._providers[provider_name].trust.enforce:
            return None  # nothing to verify against: decide_image says why
        authorities = self._providers[provider_name].trust.authorities
        if not authorities:
            return Verification(digest)  # enforced without authorities: decide_image refuses it
        key = (provider_name, image.location, digest)
        if key not in self._verified:
            self._verified[key] = verify_image(self._client, image.registry, image.repository, digest, authorities,
                                               cache=self._cache)
        return self._verified[key]
