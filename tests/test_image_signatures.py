"""The pure signature checks (lattice.gates.signatures), with keys generated here: every way a signature
artifact is refused before a key is tried, and the per-authority verdicts."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lattice.api.image_provider import Authority
from lattice.gates import signatures as sig
from tests.registry.oci import Signer, canonical, dsse_bundle, message_signature_bundle, simple_signing_payload

DIGEST = "sha256:" + hashlib.sha256(b"image").hexdigest()
OTHER = "sha256:" + hashlib.sha256(b"other").hexdigest()
RELEASE = Signer()
STRANGER = Signer()


def _key(signer: Signer, name: str = "release") -> sig.TrustedKey:
    return sig.load_authority(Authority(name=name, key=signer.public_pem))


def _layer(blob: bytes, signature: bytes | None, **extra: Any) -> dict[str, Any]:
    annotations = {sig.SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()} if signature else {}
    return {"mediaType": sig.SIMPLE_SIGNING_MEDIA_TYPE, "digest": sig.sha256_digest(blob), "size": len(blob),
            "annotations": annotations, **extra}


def test_tags() -> None:
    assert sig.signature_tag(DIGEST) == DIGEST.replace("sha256:", "sha256-") + ".sig"
    assert sig.referrers_tag(DIGEST) == DIGEST.replace("sha256:", "sha256-")


def test_pae_is_dsse_v1() -> None:
    assert sig.pae("application/example", b"hello") == b"DSSEv1 19 application/example 5 hello"


def test_simple_signing_verifies_with_the_right_key_only() -> None:
    payload = simple_signing_payload("registry.example.com/app", DIGEST)
    candidate = sig.simple_signing_candidate("L0", _layer(payload, RELEASE.sign(payload)), payload, DIGEST)
    assert isinstance(candidate, sig.Signed)
    assert sig.verifies(candidate, _key(RELEASE)) and not sig.verifies(candidate, _key(STRANGER))


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda p, layer: (p + b" ", layer),
     "its payload does not match the layer digest {digest} (tampered or corrupted)"),
    (lambda p, layer: (p, {**layer, "annotations": {}}),
     "the layer has no base64 `dev.cosignproject.cosign/signature` annotation"),
    (lambda p, layer: (p, {**layer, "annotations": {sig.SIGNATURE_ANNOTATION: "%%%"}}),
     "the layer has no base64 `dev.cosignproject.cosign/signature` annotation"),
])
def test_simple_signing_unusable(mutate: Any, reason: str) -> None:
    payload = simple_signing_payload("r/app", DIGEST)
    layer = _layer(payload, RELEASE.sign(payload))
    blob, layer = mutate(payload, layer)
    candidate = sig.simple_signing_candidate("L0", layer, blob, DIGEST)
    assert candidate == sig.Unusable("L0", reason.format(digest=layer["digest"]))


@pytest.mark.parametrize(("payload", "reason"), [
    (b"[1]", "its payload is not a JSON object"),
    (canonical({"critical": {"type": "something else", "image": {"docker-manifest-digest": DIGEST}}}),
     'its payload has type "something else", not "cosign container image signature"'),
    (simple_signing_payload("r/app", OTHER), f"it signs {OTHER}, not this image"),
])
def test_simple_signing_payload_checks(payload: bytes, reason: str) -> None:
    candidate = sig.simple_signing_candidate("L0", _layer(payload, RELEASE.sign(payload)), payload, DIGEST)
    assert candidate == sig.Unusable("L0", reason)


def _artifact(bundle: bytes, **overrides: Any) -> dict[str, Any]:
    manifest = {"artifactType": sig.BUNDLE_MEDIA_TYPE, "subject": {"digest": DIGEST},
                "layers": [{"mediaType": sig.BUNDLE_MEDIA_TYPE, "digest": sig.sha256_digest(bundle)}]}
    manifest.update(overrides)
    return manifest


@pytest.mark.parametrize("make", [dsse_bundle, message_signature_bundle])
def test_bundles_verify_with_the_right_key_only(make: Any) -> None:
    bundle = make(DIGEST, RELEASE)
    [candidate] = sig.bundle_candidates("B", _artifact(bundle), bundle, DIGEST)
    assert isinstance(candidate, sig.Signed)
    assert sig.verifies(candidate, _key(RELEASE)) and not sig.verifies(candidate, _key(STRANGER))


def _dsse(statement: dict[str, Any], payload_type: str = sig.IN_TOTO_PAYLOAD_TYPE) -> bytes:
    body = canonical(statement)
    return canonical({"mediaType": sig.BUNDLE_MEDIA_TYPE, "dsseEnvelope": {
        "payload": base64.b64encode(body).decode(), "payloadType": payload_type,
        "signatures": [{"sig": base64.b64encode(RELEASE.sign(sig.pae(payload_type, body))).decode()}]}})


STATEMENT = {"_type": "https://in-toto.io/Statement/v1", "predicateType": sig.COSIGN_SIGN_PREDICATE,
             "subject": [{"digest": {"sha256": DIGEST.removeprefix("sha256:")}}], "predicate": {}}


@pytest.mark.parametrize(("bundle", "overrides", "reason"), [
    (dsse_bundle(DIGEST, RELEASE), {"artifactType": "application/other"},
     f'artifactType is "application/other", not {sig.BUNDLE_MEDIA_TYPE}'),
    (dsse_bundle(DIGEST, RELEASE), {"subject": {"digest": OTHER}}, f"its subject is {OTHER}, not this image"),
    (dsse_bundle(DIGEST, RELEASE), {"layers": [{"digest": OTHER}]},
     f"the bundle does not match its layer digest {OTHER} (tampered or corrupted)"),
    (b"nope", {}, "the bundle is not a JSON object"),
    (canonical({"mediaType": "application/vnd.dev.sigstore.bundle.v0.1+json"}), {},
     f'the bundle\'s mediaType is "application/vnd.dev.sigstore.bundle.v0.1+json", not {sig.BUNDLE_MEDIA_TYPE}'),
    (canonical({"mediaType": sig.BUNDLE_MEDIA_TYPE}), {},
     "the bundle holds neither a dsseEnvelope nor a messageSignature"),
    (_dsse(STATEMENT, "text/plain"), {}, 'its DSSE envelope has payloadType "text/plain"; a cosign signature is an '
     "in-toto statement (application/vnd.in-toto+json) in base64"),
    (_dsse({**STATEMENT, "_type": "x"}), {}, "its DSSE payload is not an in-toto statement"),
    (_dsse({**STATEMENT, "predicateType": "https://slsa.dev/provenance/v1"}), {},
     'it is an attestation ("https://slsa.dev/provenance/v1"), not a signature (https://sigstore.dev/cosign/sign/v1)'),
    (_dsse({**STATEMENT, "subject": [{"digest": {"sha256": OTHER.removeprefix("sha256:")}}]}), {},
     f"it signs {OTHER}, not this image"),
    (message_signature_bundle(OTHER, RELEASE), {}, f"its messageSignature is for {OTHER}, not this image"),
])
def test_bundle_unusable(bundle: bytes, overrides: dict[str, Any], reason: str) -> None:
    assert sig.bundle_candidates("B", _artifact(bundle, **overrides), bundle, DIGEST) == [sig.Unusable("B", reason)]


def test_dsse_with_several_signatures_names_each() -> None:
    bundle = json.loads(dsse_bundle(DIGEST, RELEASE))
    stranger = json.loads(dsse_bundle(DIGEST, STRANGER))
    bundle["dsseEnvelope"]["signatures"] += stranger["dsseEnvelope"]["signatures"]
    raw = canonical(bundle)
    candidates = sig.bundle_candidates("B", _artifact(raw), raw, DIGEST)
    assert [c.where for c in candidates] == ["B signature 0", "B signature 1"]
    outcomes = sig.judge(candidates, [_key(STRANGER, "stranger")], searched="-")
    assert outcomes[0].verified and outcomes[0].detail == "verified B signature 1"


def test_judge_reports_every_signature_for_every_authority() -> None:
    payload = simple_signing_payload("r/app", DIGEST)
    good = sig.Signed("L0", payload, RELEASE.sign(payload))
    wrong = sig.Unusable("B1", f"it signs {OTHER}, not this image")
    outcomes = sig.judge([wrong, good], [_key(STRANGER, "stranger"), _key(RELEASE)], searched="looked")
    assert [(o.authority, o.verified, o.detail) for o in outcomes] == [
        ("stranger", False, f"B1: it signs {OTHER}, not this image; L0: not signed by this key"),
        ("release", True, "verified L0"),
    ]
    assert [o.detail for o in sig.judge([], [_key(RELEASE)], searched="looked in x")] == [
        "no signature found (looked in x)"]


def test_unsupported_and_unreadable_keys_are_reported() -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    rsa_key = sig.load_authority(Authority(name="old", key=rsa_pem))
    assert rsa_key.error == "its key is a RSAPublicKey; only ECDSA keys (cosign's default, P-256) are supported"
    unreadable = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
    broken = sig.load_authority(Authority(name="broken", key=unreadable))
    assert broken.error is not None and broken.error.startswith("its key is not a readable PEM public key")
    [outcome] = sig.judge([sig.Signed("L0", b"x", b"y")], [broken], searched="-")
    assert not outcome.verified and outcome.detail == broken.error


def test_fingerprint_is_the_key_not_its_text() -> None:
    reformatted = RELEASE.public_pem.replace("\n", "\r\n")
    assert _key(RELEASE).fingerprint == sig.load_authority(Authority(name="x", key=reformatted)).fingerprint
    assert _key(RELEASE).fingerprint != _key(STRANGER).fingerprint
