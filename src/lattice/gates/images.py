"""The image gate's decisions: which registry an image comes from, which ImageProvider vouches for it, whether
it is pinned by digest and whether its signature was verified.

Pure: no network. What the registry said (a resolved digest, signature outcomes) is passed in by the caller
(`lattice.registry.check_images`), so the same decisions serve the offline CLI, `--resolve`, `--verify-images`
and the controller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.errors import Problem, join_path

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DEFAULT_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_DEFAULT_TAG = "latest"

# distribution/reference (reference.go): name components, an optional `:tag`, an optional `@digest`. Upper case
# is allowed here only in the domain (Go's grammar allows it there); lattice.api.workload has already refused
# anything else an image reference cannot hold.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?"
)
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
CONTAINERS_PATH = "spec.workload.containers"


@dataclass(frozen=True, slots=True)
class ImageName:
    """A reference split the way the distribution API addresses it. `registry` and `repository` are
    normalised (`nginx` is `docker.io` + `library/nginx`); `name` keeps the user's spelling for the Deployment."""

    reference: str
    name: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def location(self) -> str:
        """`registry/repository`: what ImageProvider prefixes are matched against."""
        return f"{self.registry}/{self.repository}"

    @property
    def tag_or_default(self) -> str:
        """The tag a pull uses: the written one, else `latest` (what a reference without tag or digest means)."""
        return self.tag or _DEFAULT_TAG

    def pinned(self, digest: str) -> str:
        """The reference the Deployment carries: the written name and the digest (the digest decides the pull)."""
        return f"{self.name}@{digest}"


class InvalidReference(ValueError):
    """The text is not an image reference (lattice.api.workload refuses these first; kept for other callers)."""


def split_domain(name: str) -> tuple[str, str]:
    """The registry and the repository of a name, with Docker's defaults (distribution/reference
    normalize.go, splitDockerDomain): the first component is a registry only when it has a `.` or a `:`, is
    `localhost`, or has upper case; otherwise the registry is docker.io, where one-component names live under
    `library/`."""
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(reference: str) -> ImageName:
    match = _REFERENCE.fullmatch(reference)
    if not match:
        raise InvalidReference(f"`{reference}` is not an image reference")
    registry, repository = split_domain(match["name"])
    return ImageName(reference=reference, name=match["name"], registry=registry, repository=repository,
                     tag=match["tag"], digest=match["digest"])


def _normalise_prefix(prefix: str) -> str:
    """A provider's `registry` as a location prefix: `index.docker.io/x` and `docker.io/x` are the same."""
    domain, slash, rest = prefix.partition("/")
    if domain == _LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    return f"{domain}{slash}{rest}".rstrip("/")


def match_provider(image: ImageName, providers: Mapping[str, ImageProviderSpec]) -> str | None:
    """The name of the ImageProvider whose registry prefix covers the image: the longest prefix wins, and a
    prefix matches whole path segments only (`registry.example.com/team` covers `.../team/app`, not
    `.../teamx/app`). Ties (two providers with one prefix) go to the first name in order, so the answer is stable."""
    location = image.location
    best: tuple[int, str] | None = None
    for name in sorted(providers):
        prefix = _normalise_prefix(providers[name].registry)
        if (location == prefix or location.startswith(prefix + "/")) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), name)
    return best[1] if best else None


@dataclass(frozen=True, slots=True)
class AuthorityOutcome:
    """What one authority's key made of the signatures found for one digest."""

    authority: str
    verified: bool
    detail: str
    """How it verified (`bundle sha256:…`), or why it did not (every signature tried and what was wrong)."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The signature check of one image digest against one provider's authorities (made by lattice.registry)."""

    digest: str
    outcomes: tuple[AuthorityOutcome, ...] = ()
    error: str | None = None
    """Why the signatures could not be fetched at all (the registry is down, refused the credentials, ...)."""

    @property
    def verified_by(self) -> AuthorityOutcome | None:
        return next((o for o in self.outcomes if o.verified), None) if self.error is None else None


class State(StrEnum):
    """How far an admitted image is trusted (a refused one also has problems)."""

    VERIFIED = "verified"
    """A trusted authority's signature over this digest was verified."""
    PINNED = "pinned"
    """Referenced by digest; signatures not verified (the offline CLI without --verify-images)."""
    NOT_VERIFIED = "not verified"
    """Neither pinned nor verified: a tag the platform accepts (`requireDigest: false`), or a waived check."""
    NOT_ENFORCED = "not enforced"
    """The provider sets `trust.enforce: false`, or the registry is unlisted and the platform allows that."""


@dataclass(frozen=True, slots=True)
class ImageCheck:
    """The gate's answer for one container's image."""

    container: str
    image: ImageName
    provider: str | None
    state: State
    pinned: str
    """The reference to put in the Deployment: `name@digest` when a digest is known, else as written."""
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    """What was not checked or was waived, for the summary (`signatures not verified`, `trust not enforced`)."""
    verified_by: str | None = None
    """`<provider>/<authority>` whose signature was verified."""

    @property
    def admitted(self) -> bool:
        return not self.problems


def image_path(container: str, containers_path: str = CONTAINERS_PATH) -> str:
    return join_path(containers_path, container, "image")


@dataclass(slots=True)
class _Decision:
    container: str
    image: ImageName
    path: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, message: str, hint: str) -> None:
        self.problems.append(Problem(self.path, message, hint))


def decide_image(
    *,
    container: str,
    reference: str,
    providers: Mapping[str, ImageProviderSpec],
    images: Images,
    resolved_digest: str | None = None,
    resolve_error: str | None = None,
    verification: Verification | None = None,
    skip_verification: bool = False,
    containers_path: str = CONTAINERS_PATH,
    resolve_hint: str = "",
) -> ImageCheck:
    """Decide one container's image from what is known: the reference, the providers, the platform's image
    rules, and what the registry said when it was asked (`resolved_digest`/`resolve_error` for `--resolve`, with
    `resolve_hint` when the registry's refusal says what to do, such as log in,
    `verification` for `--verify-images`). `skip_verification` is a Cedar `SkipImageVerification` permit: a
    failed or missing signature check is then a note, not a refusal. Problems are placed at
    `<containers_path>.<container>.image`."""
    path = image_path(container, containers_path)
    try:
        image = parse_reference(reference)
    except InvalidReference as error:
        problem = Problem(path, str(error), "write `registry/repository@sha256:<64 hex>`")
        return ImageCheck(container, ImageName(reference, reference, "", reference, None, None), None,
                          State.NOT_VERIFIED, reference, (problem,))
    decision = _Decision(container, image, path)
    digest = image.digest or resolved_digest
    provider_name = match_provider(image, providers)
    provider = providers[provider_name] if provider_name else None

    if provider is None and not images.allow_unlisted_registries:
        listed = sorted({p.registry for p in providers.values()})
        decision.refuse(
            f"image `{reference}` comes from `{image.location}`, which no ImageProvider lists",
            (f"use an image from a listed registry ({', '.join(f'`{r}`' for r in listed)}), " if listed else "")
            + f"add an ImageProvider with `registry: {image.registry}` and the keys that sign its images, or set "
            "`spec.images.allowUnlistedRegistries: true` in the LatticePlatform",
        )
    _decide_digest(decision, images, digest, resolve_error, resolve_hint)
    state = _decide_trust(decision, provider_name, provider, digest, verification, skip_verification,
                          images.allow_unlisted_registries)
    pinned = image.reference if image.digest or digest is None else image.pinned(digest)
    verified_by = None
    if state is State.VERIFIED and verification is not None and verification.verified_by is not None:
        verified_by = f"{provider_name}/{verification.verified_by.authority}"
    return ImageCheck(container, image, provider_name, state, pinned, tuple(decision.problems),
                      tuple(decision.notes), verified_by)


def _decide_digest(decision: _Decision, images: Images, digest: str | None, resolve_error: str | None,
                   resolve_hint: str = "") -> None:
    image = decision.image
    if resolve_error is not None:
        decision.refuse(
            f"image `{image.reference}`: tag `{image.tag_or_default}` could not be resolved to a digest: "
            f"{resolve_error}",
            resolve_hint or f"check that `{image.name}:{image.tag_or_default}` exists and the registry is "
            f"reachable, or pin the digest yourself: `{image.name}@sha256:<64 hex>`",
        )
        return
    if digest is None and images.require_digest:
        what = f"tag `{image.tag}`" if image.tag else "no tag or digest (which means `:latest`)"
        decision.refuse(
            f"image `{image.reference}` is referenced by {what}, not by digest; the platform requires digests "
            "(`spec.images.requireDigest`)",
            f"pin it: `{image.name}@sha256:<64 hex>` (`lattice compile --resolve` looks the digest up and pins it)",
        )
    elif digest is not None and not SHA256_DIGEST.fullmatch(digest):
        decision.refuse(
            f"image `{image.reference}` has digest `{digest}`; only `sha256:` digests of 64 lower-case hex digits "
            "can be verified and pinned",
            f"write `{image.name}@sha256:<64 hex>`",
        )


def _decide_trust(
    decision: _Decision,
    provider_name: str | None,
    provider: ImageProviderSpec | None,
    digest: str | None,
    verification: Verification | None,
    skip_verification: bool,
    unlisted_allowed: bool,
) -> State:
    image = decision.image
    if provider is None:
        if unlisted_allowed:
            decision.notes.append(f"registry `{image.registry}` is not listed by any ImageProvider; allowed by "
                                  "`images.allowUnlistedRegistries`, signatures not checked")
        return State.NOT_ENFORCED
    if not provider.trust.enforce:
        decision.notes.append(f"trust not enforced: ImageProvider `{provider_name}` sets `trust.enforce: false`")
        return State.NOT_ENFORCED
    if verification is None:
        decision.notes.append("signatures not verified (run with --verify-images)" if digest is not None else
                              "signatures not verified (no digest to verify)")
        return State.PINNED if digest is not None else State.NOT_VERIFIED
    if verification.digest != digest:  # a verification of another digest proves nothing about this one
        verification = Verification(digest or "", error=f"the signatures checked were those of "
                                    f"{verification.digest}, not of the digest pinned ({digest})")
    if verification.verified_by is not None:
        return State.VERIFIED
    failure = _signature_failure(image, provider_name or "", provider, verification)
    if skip_verification:
        decision.notes.append(f"signature check waived by a SkipImageVerification permit: {failure[0]}")
        return State.NOT_VERIFIED
    decision.refuse(*failure)
    return State.NOT_VERIFIED


def _signature_failure(image: ImageName, provider_name: str, provider: ImageProviderSpec,
                       verification: Verification) -> tuple[str, str]:
    """The refusal of an image no trusted authority signed: the image, the digest, and every authority tried
    with the reason it failed."""
    subject = f"image `{image.reference}` ({verification.digest})"
    keys = ", ".join(f"`{a.name}`" for a in provider.trust.authorities)
    if verification.error is not None:
        return (f"{subject}: its signatures could not be checked against ImageProvider `{provider_name}` "
                f"(authorities {keys or 'none'}): {verification.error}",
                "make the registry reachable and retry, or permit `SkipImageVerification` for this image in a "
                "CedarPolicy")
    if not provider.trust.authorities:
        return (f"{subject}: ImageProvider `{provider_name}` enforces trust but lists no authorities, so no "
                "signature can be trusted",
                f"add the signing public key to ImageProvider `{provider_name}` under `spec.trust.authorities`, "
                "or set `trust.enforce: false` there")
    tried = "; ".join(f"authority `{o.authority}`: {o.detail}" for o in verification.outcomes)
    return (f"{subject} has no valid signature from a trusted authority of ImageProvider `{provider_name}`: "
            f"{tried}",
            f"sign this digest with one of those keys: `cosign sign --key <key> {image.pinned(verification.digest)}`, "
            "or permit `SkipImageVerification` for this image in a CedarPolicy")
