"""The image gate against a real OCI registry on 127.0.0.1: tags resolved, signatures fetched and verified in
both cosign formats, and every way a signature can be wrong reported with the image, the digest and each
authority tried."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.gates.images import ImageCheck, State
from lattice.registry.check import check_images
from lattice.registry.client import NotFound, RegistryClient, RegistryUnreachable
from lattice.registry.signatures import VerificationCache
from tests.registry.oci import (
    Pusher,
    RegistryProcess,
    Signer,
    dsse_bundle,
    free_port,
    message_signature_bundle,
    push_bundle,
    push_tag_signature,
    simple_signing_payload,
)

RELEASE = Signer()
OTHER = Signer()


def _providers(registry: RegistryProcess, *signers: tuple[str, Signer]) -> dict[str, ImageProviderSpec]:
    authorities = [{"name": name, "key": signer.public_pem} for name, signer in signers or (("release", RELEASE),)]
    return {"local": ImageProviderSpec.model_validate({"registry": registry.host,
                                                        "trust": {"authorities": authorities}})}


def _check(registry: RegistryProcess, reference: str, *signers: tuple[str, Signer], resolve: bool = True,
           verify: bool = True, cache: VerificationCache | None = None) -> ImageCheck:
    with RegistryClient() as client:
        result = check_images({"api": reference}, _providers(registry, *signers), Images(), resolve=resolve,
                              verify=verify, client=client, cache=cache)
    return result["api"]


def _problem(check: ImageCheck) -> str:
    assert len(check.problems) == 1, check.problems
    return check.problems[0].message


def test_resolve_gives_the_digest_of_the_tag(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("resolve/app", "v1", content=b"resolve")
    with RegistryClient() as client:
        assert client.resolve(registry.host, "resolve/app", "v1") == digest
        manifest = client.manifest(registry.host, "resolve/app", digest)
        assert manifest.digest == digest and manifest.json()["schemaVersion"] == 2
        with pytest.raises(NotFound, match=r"has no tag `v9` in repository `resolve/app` \(404\)"):
            client.resolve(registry.host, "resolve/app", "v9")
    check = _check(registry, f"{registry.host}/resolve/app:v1", verify=False)
    assert check.admitted and check.state is State.PINNED
    assert check.pinned == f"{registry.host}/resolve/app@{digest}"


def test_signed_in_the_tag_format_is_verified(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("tagsig/app", "v1", content=b"tagsig")
    push_tag_signature(pusher, "tagsig/app", digest, RELEASE)
    check = _check(registry, f"{registry.host}/tagsig/app:v1", ("other", OTHER), ("release", RELEASE))
    assert check.admitted and check.state is State.VERIFIED and check.verified_by == "local/release"
    assert check.pinned == f"{registry.host}/tagsig/app@{digest}"


def test_signed_in_the_bundle_format_is_verified(registry: RegistryProcess, pusher: Pusher) -> None:
    """cosign v3's default: a DSSE bundle artifact, found through the `sha256-<hex>` index (2.8 has no
    referrers API; the client falls back on its 404)."""
    digest = pusher.image("bundle/app", "v1", content=b"bundle")
    artifact = push_bundle(pusher, "bundle/app", digest, dsse_bundle(digest, RELEASE))
    with RegistryClient() as client:
        assert [d["digest"] for d in client.referrers(registry.host, "bundle/app", digest)] == [artifact]
    check = _check(registry, f"{registry.host}/bundle/app@{digest}")
    assert check.admitted and check.state is State.VERIFIED and check.verified_by == "local/release"


def test_message_signature_bundle_is_verified(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("msgsig/app", "v1", content=b"msgsig")
    push_bundle(pusher, "msgsig/app", digest, message_signature_bundle(digest, RELEASE))
    assert _check(registry, f"{registry.host}/msgsig/app@{digest}").state is State.VERIFIED


def test_unsigned_image_is_refused(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("unsigned/app", "v1", content=b"unsigned")
    check = _check(registry, f"{registry.host}/unsigned/app:v1", ("release", RELEASE), ("backup", OTHER))
    searched = (f"no signature found (looked for tag `{digest.replace(':', '-')}.sig` and for sigstore bundles "
                f"among the referrers of {digest})")
    assert _problem(check) == (
        f"image `{registry.host}/unsigned/app:v1` ({digest}) has no valid signature from a trusted authority of "
        f"ImageProvider `local`: authority `release`: {searched}; authority `backup`: {searched}")
    assert check.problems[0].hint == (
        f"sign this digest with one of those keys: `cosign sign --key <key> {registry.host}/unsigned/app@{digest}`, "
        "or permit `SkipImageVerification` for this image in a CedarPolicy")
    assert check.state is State.NOT_VERIFIED


def test_wrong_key_is_refused_in_both_formats(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("wrongkey/app", "v1", content=b"wrongkey")
    push_tag_signature(pusher, "wrongkey/app", digest, OTHER)
    artifact = push_bundle(pusher, "wrongkey/app", digest, dsse_bundle(digest, OTHER))
    check = _check(registry, f"{registry.host}/wrongkey/app@{digest}")
    assert _problem(check) == (
        f"image `{registry.host}/wrongkey/app@{digest}` ({digest}) has no valid signature from a trusted authority "
        f"of ImageProvider `local`: authority `release`: tag `{digest.replace(':', '-')}.sig` layer 0: not signed "
        f"by this key; bundle {artifact}: not signed by this key")
    assert _check(registry, f"{registry.host}/wrongkey/app@{digest}", ("other", OTHER)).state is State.VERIFIED


def test_tampered_payload_is_refused(registry: RegistryProcess, pusher: Pusher) -> None:
    """The payload was changed after signing (and re-uploaded with a matching layer digest): the signature no
    longer verifies over it."""
    digest = pusher.image("tampered/app", "v1", content=b"tampered")
    good = simple_signing_payload(f"{registry.host}/tampered/app", digest)
    tampered = good.replace(b'"optional":null', b'"optional":{"by":"attacker"}')
    assert tampered != good
    push_tag_signature(pusher, "tampered/app", digest, RELEASE, payload=tampered, signed=good)
    check = _check(registry, f"{registry.host}/tampered/app@{digest}")
    assert _problem(check).endswith(
        f"authority `release`: tag `{digest.replace(':', '-')}.sig` layer 0: not signed by this key")


def test_tampered_bundle_statement_is_refused(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("tamperedbundle/app", "v1", content=b"tamperedbundle")
    bundle = json.loads(dsse_bundle(digest, RELEASE))
    other = dsse_bundle(digest, OTHER)  # a valid envelope from another key: its signature spliced in
    bundle["dsseEnvelope"]["signatures"] = json.loads(other)["dsseEnvelope"]["signatures"]
    artifact = push_bundle(pusher, "tamperedbundle/app", digest, json.dumps(bundle).encode())
    check = _check(registry, f"{registry.host}/tamperedbundle/app@{digest}")
    assert _problem(check).endswith(f"authority `release`: bundle {artifact}: not signed by this key")


def test_tag_moved_after_signing_is_refused(registry: RegistryProcess, pusher: Pusher) -> None:
    """v1 was signed, then pushed again with other content: the tag resolves to the new digest, whose
    signatures do not exist; copying the old signature to the new digest's tag does not help either."""
    old = pusher.image("moved/app", "v1", content=b"moved-old")
    push_tag_signature(pusher, "moved/app", old, RELEASE)
    push_bundle(pusher, "moved/app", old, dsse_bundle(old, RELEASE))
    assert _check(registry, f"{registry.host}/moved/app:v1").state is State.VERIFIED
    new = pusher.image("moved/app", "v1", content=b"moved-new")
    check = _check(registry, f"{registry.host}/moved/app:v1")
    assert check.pinned == f"{registry.host}/moved/app@{new}"
    assert f"({new}) has no valid signature" in _problem(check)
    assert "no signature found" in _problem(check)
    # An attacker copies the old signature and bundle to the new digest's tags.
    push_tag_signature(pusher, "moved/app", new, RELEASE, payload=simple_signing_payload(
        f"{registry.host}/moved/app", old))
    artifact = push_bundle(pusher, "moved/app", new, dsse_bundle(old, RELEASE))
    check = _check(registry, f"{registry.host}/moved/app:v1")
    assert _problem(check).endswith(
        f"authority `release`: tag `{new.replace(':', '-')}.sig` layer 0: it signs {old}, not this image; "
        f"bundle {artifact}: it signs {old}, not this image")


def test_bundle_for_another_subject_is_refused(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("subject/app", "v1", content=b"subject")
    elsewhere = pusher.image("subject/app", "v2", content=b"subject-2")
    artifact = push_bundle(pusher, "subject/app", digest, dsse_bundle(digest, RELEASE), subject=elsewhere)
    check = _check(registry, f"{registry.host}/subject/app@{digest}")
    assert _problem(check).endswith(f"bundle {artifact}: its subject is {elsewhere}, not this image")


def test_registry_down_is_a_clear_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    host = f"127.0.0.1:{free_port()}"
    provider = {"local": ImageProviderSpec.model_validate({"registry": host, "trust": {"authorities": [
        {"name": "release", "key": RELEASE.public_pem}]}})}
    with RegistryClient(timeout=2) as client:
        with pytest.raises(RegistryUnreachable, match=r"is unreachable at http://127\.0\.0\.1:\d+ \(connection "
                                                      r"refused; asked for tag `v1` in repository `app`\)"):
            client.resolve(host, "app", "v1")
        result = check_images({"api": f"{host}/app:v1", "pinned": f"{host}/app@sha256:{'ab' * 32}"}, provider,
                              Images(), resolve=True, verify=True, client=client)
    assert result["api"].problems[0].message == (
        f"image `{host}/app:v1`: tag `v1` could not be resolved to a digest: registry `{host}` is unreachable at "
        f"http://{host} (connection refused; asked for tag `v1` in repository `app`)")
    assert result["pinned"].problems[0].message == (
        f"image `{host}/app@sha256:{'ab' * 32}` (sha256:{'ab' * 32}): its signatures could not be checked against "
        f"ImageProvider `local` (authorities `release`): registry `{host}` is unreachable at http://{host} "
        f"(connection refused; asked for manifest `sha256-{'ab' * 32}.sig` in repository `app`)")


def test_cache_answers_within_its_ttl(registry: RegistryProcess, pusher: Pusher) -> None:
    now = [1000.0]
    cache = VerificationCache(ttl=60, clock=lambda: now[0])
    digest = pusher.image("cached/app", "v1", content=b"cached")
    push_tag_signature(pusher, "cached/app", digest, RELEASE)
    reference = f"{registry.host}/cached/app@{digest}"
    assert _check(registry, reference, cache=cache).state is State.VERIFIED
    registry_gone = f"127.0.0.1:{free_port()}"
    # The same digest under a registry that is down: the cached verdict for (digest, key) answers without it.
    provider = {"gone": ImageProviderSpec.model_validate({"registry": registry_gone, "trust": {"authorities": [
        {"name": "release", "key": RELEASE.public_pem}]}})}
    with RegistryClient(timeout=2) as client:
        def gone() -> ImageCheck:
            return check_images({"api": f"{registry_gone}/cached/app@{digest}"}, provider, Images(), resolve=True,
                                verify=True, client=client, cache=cache)["api"]
        assert gone().state is State.VERIFIED
        now[0] += 61
        assert "could not be checked" in _problem(gone())


def test_verify_time_per_image_on_loopback(registry: RegistryProcess, pusher: Pusher) -> None:
    """The figure for the report: resolve + fetch + verify both formats, per image, on a warm connection."""
    refs = {}
    for index in range(10):
        digest = pusher.image("timed/app", f"v{index}", content=f"timed-{index}".encode())
        push_tag_signature(pusher, "timed/app", digest, RELEASE)
        push_bundle(pusher, "timed/app", digest, dsse_bundle(digest, RELEASE))
        refs[f"c{index}"] = f"{registry.host}/timed/app:v{index}"
    with RegistryClient() as client:
        client.resolve(registry.host, "timed/app", "v0")  # warm the connection
        start = time.perf_counter()
        result = check_images(refs, _providers(registry), Images(), resolve=True, verify=True, client=client)
        elapsed = time.perf_counter() - start
    assert all(check.state is State.VERIFIED for check in result.values())
    print(f"\nresolve + verify (both formats): {elapsed / len(refs) * 1000:.1f} ms per image on loopback")
    assert elapsed / len(refs) < 1.0


def test_signature_whose_payload_was_deleted_is_reported(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("deleted/app", "v1", content=b"deleted")
    push_tag_signature(pusher, "deleted/app", digest, RELEASE)
    payload = simple_signing_payload(f"{registry.host}/deleted/app", digest)
    payload_digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert httpx.delete(f"{registry.url}/v2/deleted/app/blobs/{payload_digest}").status_code == 202
    check = _check(registry, f"{registry.host}/deleted/app@{digest}")
    assert _problem(check).endswith(
        f"authority `release`: tag `{digest.replace(':', '-')}.sig` layer 0: its payload {payload_digest} is "
        "missing from the registry")


def test_skip_verification_permit_admits_an_unsigned_image(registry: RegistryProcess, pusher: Pusher) -> None:
    digest = pusher.image("waived/app", "v1", content=b"waived")
    with RegistryClient() as client:
        result = check_images({"api": f"{registry.host}/waived/app:v1", "sidecar": f"{registry.host}/waived/app:v1"},
                              _providers(registry), Images(), resolve=True, verify=True, client=client,
                              skip_verification={"api"})
    assert result["api"].admitted and result["api"].state is State.NOT_VERIFIED
    assert result["api"].pinned == f"{registry.host}/waived/app@{digest}"
    assert result["api"].notes[0].startswith(
        f"signature check waived by a SkipImageVerification permit: image `{registry.host}/waived/app:v1` ({digest}) "
        "has no valid signature")
    assert not result["sidecar"].admitted
