"""The image gate's pure decisions: reference parsing (distribution/reference's grammar and Docker's defaults),
provider matching by registry prefix, and every refusal and note, checked word for word."""

from __future__ import annotations

from typing import Any

import pytest

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.gates.images import (
    AuthorityOutcome,
    ImageName,
    InvalidReference,
    State,
    Verification,
    decide_image,
    match_provider,
    parse_reference,
)
from lattice.registry.check import check_images

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
KEY = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"

# (reference, registry, repository, tag, digest)
REFERENCES: list[tuple[str, str, str, str | None, str | None]] = [
    ("nginx", "docker.io", "library/nginx", None, None),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
    ("team/app:v1", "docker.io", "team/app", "v1", None),
    ("docker.io/nginx", "docker.io", "library/nginx", None, None),
    ("index.docker.io/library/nginx:1", "docker.io", "library/nginx", "1", None),
    ("localhost/app", "localhost", "app", None, None),
    ("localhost:5000/app:v2", "localhost:5000", "app", "v2", None),
    ("127.0.0.1:5000/team/app@" + DIGEST, "127.0.0.1:5000", "team/app", None, DIGEST),
    ("registry.example.com/team/app:v1@" + DIGEST, "registry.example.com", "team/app", "v1", DIGEST),
    ("ghcr.io/org/sub/app", "ghcr.io", "org/sub/app", None, None),
    ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
    ("quay.io:443/app", "quay.io:443", "app", None, None),
    ("my_team/app", "docker.io", "my_team/app", None, None),
]


@pytest.mark.parametrize(("reference", "registry", "repository", "tag", "digest"), REFERENCES)
def test_parse_reference(reference: str, registry: str, repository: str, tag: str | None,
                         digest: str | None) -> None:
    image = parse_reference(reference)
    assert (image.registry, image.repository, image.tag, image.digest) == (registry, repository, tag, digest)
    assert reference.startswith(image.name)


@pytest.mark.parametrize("reference", ["", "App", "UPPER/App", "app:", "app@sha256:12", "a b", "-app", "-x.io/app",
                                       "app/", "x.io:port/app"])
def test_parse_reference_refuses_what_is_not_a_reference(reference: str) -> None:
    with pytest.raises(InvalidReference, match="is not an image reference"):
        parse_reference(reference)


def test_pinned_reference_keeps_the_written_name() -> None:
    assert parse_reference("nginx:1.25").pinned(DIGEST) == f"nginx@{DIGEST}"
    assert parse_reference("localhost:5000/app:v2").pinned(DIGEST) == f"localhost:5000/app@{DIGEST}"


def _providers(**registries: str | dict[str, Any]) -> dict[str, ImageProviderSpec]:
    out = {}
    for name, value in registries.items():
        spec = {"registry": value} if isinstance(value, str) else value
        out[name] = ImageProviderSpec.model_validate(spec)
    return out


@pytest.mark.parametrize(("reference", "expected"), [
    ("registry.example.com/team/app", "team"),
    ("registry.example.com/team/sub/app", "team"),
    ("registry.example.com/teamx/app", "host"),
    ("registry.example.com/other", "host"),
    ("registry.example.com.evil.io/team/app", None),
    ("registry.example.com:5000/team/app", None),
    ("nginx", "hub"),
    ("index.docker.io/library/nginx", "hub"),
    ("docker.io/bitnami/redis", "legacy"),
])
def test_match_provider_longest_prefix_on_segments(reference: str, expected: str | None) -> None:
    providers = _providers(host="registry.example.com", team="registry.example.com/team",
                           hub="docker.io/library", legacy="index.docker.io")
    assert match_provider(parse_reference(reference), providers) == expected


def test_match_provider_tie_goes_to_the_first_name() -> None:
    providers = _providers(b="registry.example.com", a="registry.example.com")
    assert match_provider(parse_reference("registry.example.com/app"), providers) == "a"


PROVIDERS = _providers(
    internal={"registry": "registry.example.com", "trust": {"authorities": [
        {"name": "release", "key": KEY}, {"name": "backup", "key": KEY}]}},
    lab={"registry": "lab.example.com", "trust": {"enforce": False}},
    empty={"registry": "empty.example.com"},
)
PATH = "spec.workload.containers.api.image"


def _decide(reference: str, images: Images | None = None, **kwargs: Any) -> Any:
    return decide_image(container="api", reference=reference, providers=PROVIDERS, images=images or Images(),
                        **kwargs)


def test_pinned_image_from_a_listed_registry_is_admitted_with_a_note() -> None:
    check = _decide(f"registry.example.com/app@{DIGEST}")
    assert check.admitted and check.state is State.PINNED and check.provider == "internal"
    assert check.pinned == f"registry.example.com/app@{DIGEST}"
    assert check.notes == ("signatures not verified (run with --verify-images)",)


def test_unlisted_registry_is_refused() -> None:
    check = _decide(f"quay.io/app@{DIGEST}")
    assert [p.render() for p in check.problems] == [
        f"{PATH}: image `quay.io/app@{DIGEST}` comes from `quay.io/app`, which no ImageProvider lists (hint: use an "
        "image from a listed registry (`empty.example.com`, `lab.example.com`, `registry.example.com`), add an "
        "ImageProvider with `registry: quay.io` and the keys that sign its images, or set "
        "`spec.images.allowUnlistedRegistries: true` in the LatticePlatform)"]
    assert check.notes == ()


def test_unlisted_registry_is_admitted_when_the_platform_allows_it() -> None:
    check = _decide(f"quay.io/app@{DIGEST}", Images(allow_unlisted_registries=True))
    assert check.admitted and check.state is State.NOT_ENFORCED and check.provider is None
    assert check.notes == ("registry `quay.io` is not listed by any ImageProvider; allowed by "
                           "`images.allowUnlistedRegistries`, signatures not checked",)


def test_tag_without_digest_is_refused() -> None:
    check = _decide("registry.example.com/app:v1")
    assert [p.render() for p in check.problems] == [
        f"{PATH}: image `registry.example.com/app:v1` is referenced by tag `v1`, not by digest; the platform requires "
        "digests (`spec.images.requireDigest`) (hint: pin it: `registry.example.com/app@sha256:<64 hex>` "
        "(`lattice compile --resolve` looks the digest up and pins it))"]
    assert check.pinned == "registry.example.com/app:v1"


def test_no_tag_means_latest_and_is_refused_too() -> None:
    check = _decide("registry.example.com/app")
    assert check.problems[0].message == (
        "image `registry.example.com/app` is referenced by no tag or digest (which means `:latest`), not by digest; "
        "the platform requires digests (`spec.images.requireDigest`)")


def test_resolved_tag_is_pinned() -> None:
    check = _decide("registry.example.com/app:v1", resolved_digest=DIGEST)
    assert check.admitted and check.state is State.PINNED
    assert check.pinned == f"registry.example.com/app@{DIGEST}"


def test_tag_is_admitted_unpinned_when_digests_are_not_required() -> None:
    check = _decide("registry.example.com/app:v1", Images(require_digest=False))
    assert check.admitted and check.state is State.NOT_VERIFIED and check.pinned == "registry.example.com/app:v1"
    assert check.notes == ("signatures not verified (no digest to verify)",)


def test_resolution_failure_is_refused_with_the_registry_error() -> None:
    check = _decide("registry.example.com/app:v1", resolve_error="registry `registry.example.com` is unreachable")
    assert [p.render() for p in check.problems] == [
        f"{PATH}: image `registry.example.com/app:v1`: tag `v1` could not be resolved to a digest: registry "
        "`registry.example.com` is unreachable (hint: check that `registry.example.com/app:v1` exists and the "
        "registry is reachable, or pin the digest yourself: `registry.example.com/app@sha256:<64 hex>`)"]


def test_non_sha256_digest_is_refused() -> None:
    digest = "sha512:" + "ab" * 64
    check = _decide(f"registry.example.com/app@{digest}")
    assert check.problems[0].message == (
        f"image `registry.example.com/app@{digest}` has digest `{digest}`; only `sha256:` digests of 64 lower-case "
        "hex digits can be verified and pinned")


def test_enforce_false_is_an_explicit_exception_not_an_error() -> None:
    check = _decide(f"lab.example.com/app@{DIGEST}")
    assert check.admitted and check.state is State.NOT_ENFORCED
    assert check.notes == ("trust not enforced: ImageProvider `lab` sets `trust.enforce: false`",)


def test_verified_image() -> None:
    verification = Verification(DIGEST, (AuthorityOutcome("release", False, "not signed by this key"),
                                         AuthorityOutcome("backup", True, "verified bundle sha256:1")))
    check = _decide(f"registry.example.com/app@{DIGEST}", verification=verification)
    assert check.admitted and check.state is State.VERIFIED and check.verified_by == "internal/backup"
    assert check.notes == ()


def test_signature_failure_names_image_digest_and_every_authority() -> None:
    verification = Verification(DIGEST, (
        AuthorityOutcome("release", False, "tag `x.sig` layer 0: not signed by this key"),
        AuthorityOutcome("backup", False, "tag `x.sig` layer 0: it signs sha256:cd, not this image")))
    check = _decide("registry.example.com/app:v1", resolved_digest=DIGEST, verification=verification)
    assert [p.render() for p in check.problems] == [
        f"{PATH}: image `registry.example.com/app:v1` ({DIGEST}) has no valid signature from a trusted authority of "
        "ImageProvider `internal`: authority `release`: tag `x.sig` layer 0: not signed by this key; authority "
        "`backup`: tag `x.sig` layer 0: it signs sha256:cd, not this image (hint: sign this digest with one of "
        f"those keys: `cosign sign --key <key> registry.example.com/app@{DIGEST}`, or permit "
        "`SkipImageVerification` for this image in a CedarPolicy)"]


def test_signature_fetch_error_is_a_refusal() -> None:
    verification = Verification(DIGEST, error="registry `registry.example.com` is unreachable")
    check = _decide(f"registry.example.com/app@{DIGEST}", verification=verification)
    assert check.problems[0].message == (
        f"image `registry.example.com/app@{DIGEST}` ({DIGEST}): its signatures could not be checked against "
        "ImageProvider `internal` (authorities `release`, `backup`): registry `registry.example.com` is unreachable")


def test_enforced_provider_without_authorities() -> None:
    check = _decide(f"empty.example.com/app@{DIGEST}", verification=Verification(DIGEST))
    assert [p.render() for p in check.problems] == [
        f"{PATH}: image `empty.example.com/app@{DIGEST}` ({DIGEST}): ImageProvider `empty` enforces trust but lists "
        "no authorities, so no signature can be trusted (hint: add the signing public key to ImageProvider `empty` "
        "under `spec.trust.authorities`, or set `trust.enforce: false` there)"]


def test_skip_verification_permit_waives_a_failed_check() -> None:
    verification = Verification(DIGEST, (AuthorityOutcome("release", False, "no signature found (looked)"),))
    check = _decide(f"registry.example.com/app@{DIGEST}", verification=verification, skip_verification=True)
    assert check.admitted and check.state is State.NOT_VERIFIED
    assert check.notes[0].startswith("signature check waived by a SkipImageVerification permit: image ")


def test_every_reason_is_reported_at_once() -> None:
    check = _decide("quay.io/app:v1")
    assert [p.message.split(";")[0].split(",")[0] for p in check.problems] == [
        "image `quay.io/app:v1` comes from `quay.io/app`", "image `quay.io/app:v1` is referenced by tag `v1`"]


def test_invalid_reference_is_a_problem_not_a_crash() -> None:
    check = _decide("Team/App")
    assert [p.render() for p in check.problems] == [
        f"{PATH}: `Team/App` is not an image reference (hint: write `registry/repository@sha256:<64 hex>`)"]
    assert isinstance(check.image, ImageName)


def test_check_images_without_flags_makes_no_network_call() -> None:
    """No client is given, so any registry call would have to create one: the result must come without it,
    and pure decisions are returned for every container."""
    import httpx

    from lattice.registry.client import RegistryClient

    calls: list[httpx.Request] = []
    client = RegistryClient(transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(500)))
    result = check_images({"api": "registry.example.com/app:v1", "web": f"lab.example.com/app@{DIGEST}"},
                          PROVIDERS, Images(), resolve=False, verify=False, client=client)
    assert calls == []
    assert result["api"].problems[0].message.startswith("image `registry.example.com/app:v1` is referenced by tag")
    assert result["web"].state is State.NOT_ENFORCED


def test_a_verification_of_another_digest_proves_nothing() -> None:
    verification = Verification(OTHER, (AuthorityOutcome("release", True, "verified L0"),))
    check = _decide(f"registry.example.com/app@{DIGEST}", verification=verification)
    assert check.state is State.NOT_VERIFIED and check.verified_by is None
    assert check.problems[0].message == (
        f"image `registry.example.com/app@{DIGEST}` ({DIGEST}): its signatures could not be checked against "
        "ImageProvider `internal` (authorities `release`, `backup`): the signatures checked were those of "
        f"{OTHER}, not of the digest pinned ({DIGEST})")
