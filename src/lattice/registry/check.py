"""`check_images`: the image gate with the registry in the loop, for the CLI (`--resolve`, `--verify-images`)
and the controller (both, always). Without either flag it asks no registry anything."""

from __future__ import annotations

from collections.abc import Mapping, Set

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.gates.images import (
    ImageCheck,
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
) -> dict[str, ImageCheck]:
    """The gate's answer for each container (`refs`: container name -> image reference).

    `resolve` looks tags up and pins their digests. `verify` checks signatures where the matching provider
    enforces trust; a tag is then resolved too, since only a digest can be verified (and the digest verified is
    the one pinned). `skip_verification` names the containers a Cedar `SkipImageVerification` permit covers:
    their failed checks become notes. With neither flag, no network call is made and `client` is not needed."""
    if not (resolve or verify):
        return {name: decide_image(container=name, reference=ref, providers=providers, images=images,
                                   skip_verification=name in skip_verification) for name, ref in refs.items()}
    owned = client is None
    registry = client or RegistryClient()
    try:
        return _check_online(refs, providers, images, verify=verify, client=registry, cache=cache,
                             skip_verification=skip_verification)
    finally:
        if owned:
            registry.close()


def _check_online(refs: Mapping[str, str], providers: Mapping[str, ImageProviderSpec], images: Images, *,
                  verify: bool, client: RegistryClient, cache: VerificationCache | None,
                  skip_verification: Set[str]) -> dict[str, ImageCheck]:
    resolved: dict[str, tuple[str | None, str | None]] = {}
    verified: dict[tuple[str, str, str], Verification] = {}
    out: dict[str, ImageCheck] = {}
    for name, ref in refs.items():
        try:
            image = parse_reference(ref)
        except InvalidReference:
            out[name] = decide_image(container=name, reference=ref, providers=providers, images=images)
            continue
        digest, error = image.digest, None
        if digest is None:
            if ref not in resolved:
                try:
                    resolved[ref] = (client.resolve(image.registry, image.repository, image.tag_or_default), None)
                except RegistryError as failure:
                    resolved[ref] = (None, str(failure))
            digest, error = resolved[ref]
        verification = None
        provider_name = match_provider(image, providers)
        provider = providers[provider_name] if provider_name else None
        if verify and digest is not None and provider is not None and provider.trust.enforce \
                and provider.trust.authorities:
            key = (provider_name or "", image.location, digest)
            if key not in verified:
                verified[key] = verify_image(client, image.registry, image.repository, digest,
                                             provider.trust.authorities, cache=cache)
            verification = verified[key]
        elif verify and digest is not None and provider is not None and provider.trust.enforce:
            verification = Verification(digest)  # enforced with no authority: decide_image says so
        out[name] = decide_image(
            container=name, reference=ref, providers=providers, images=images,
            resolved_digest=None if image.digest else digest, resolve_error=error,
            verification=verification, skip_verification=name in skip_verification)
    return out
