"""Cosign signatures made with `cosign sign --key`, checked in-process: pure, bytes in and outcomes out.

Two formats reach a registry (cosign `specs/SIGNATURE_SPEC.md` and `specs/BUNDLE_SPEC.md`):
- the tag `sha256-<hex>.sig`: a manifest whose layers are simple-signing payloads, each signed (ECDSA, DER,
  base64) in the layer annotation `dev.cosignproject.cosign/signature`;
- the sigstore bundle v0.3, an OCI 1.1 artifact whose `subject` is the image. For `--key` signing of an image,
  cosign v3 (`cmd/cosign/cli/sign/sign.go`, signDigestBundle) signs a DSSE envelope holding an in-toto statement
  whose subject is the image digest and whose predicateType is `https://sigstore.dev/cosign/sign/v1`; its
  manifest is annotated `dev.sigstore.bundle.content: dsse-envelope`. A `messageSignature` bundle (what other
  signers may write) is accepted too: its signature is over the image digest itself.
Only the key matters here: transparency-log entries in a bundle are not consulted (trust is the platform's key).
The registry side (lattice.registry.signatures) fetches the bytes; everything that judges them is here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from lattice.api.image_provider import Authority
from lattice.gates.images import AuthorityOutcome

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING_TYPE = "cosign container image signature"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
_CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512,
}


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of `digest`: `sha256:<hex>` -> `sha256-<hex>.sig`."""
    return digest.replace(":", "-", 1) + ".sig"


def referrers_tag(digest: str) -> str:
    """The OCI referrers tag scheme (distribution-spec): the index of a digest's referrers at `sha256-<hex>`."""
    return digest.replace(":", "-", 1)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Signed:
    """A signature found for the image, with the exact bytes it must verify over."""

    where: str
    message: bytes
    signature: bytes
    prehashed: bool = False
    """`message` is already the SHA-256 digest (a bundle's messageSignature over the image manifest)."""


@dataclass(frozen=True, slots=True)
class Unusable:
    """A signature artifact that fails before any key is tried: it signs another digest, or is malformed."""

    where: str
    reason: str


Candidate = Signed | Unusable


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """An authority's public key, loaded once; `error` says why it cannot verify anything."""

    name: str
    key: ec.EllipticCurvePublicKey | None
    fingerprint: str
    error: str | None = None


def load_authority(authority: Authority) -> TrustedKey:
    pem = authority.key.encode()
    fingerprint = hashlib.sha256(pem.strip()).hexdigest()
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        return TrustedKey(authority.name, None, fingerprint, f"its key is not a readable PEM public key ({error})")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = hashlib.sha256(der).hexdigest()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVE_HASHES:
        return TrustedKey(authority.name, None, fingerprint,
                          f"its key is a {type(key).__name__}; only ECDSA keys (cosign's default, P-256) are supported")
    return TrustedKey(authority.name, key, fingerprint)


def _b64(text: object) -> bytes | None:
    """Standard or URL-safe base64, padded or not (protobuf JSON accepts both); None when it is not base64."""
    if not isinstance(text, str):
        return None
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def simple_signing_candidate(where: str, layer: Mapping[str, Any], blob: bytes, image_digest: str) -> Candidate:
    """One layer of a `sha256-<hex>.sig` manifest and its blob: the payload must be the blob the layer names,
    of cosign's type, for this very digest."""
    if sha256_digest(blob) != layer.get("digest"):
        return Unusable(where, f"its payload does not match the layer digest {layer.get('digest')} "
                               "(tampered or corrupted)")
    annotations = layer.get("annotations")
    signature = _b64(annotations.get(SIGNATURE_ANNOTATION)) if isinstance(annotations, dict) else None
    if not signature:
        return Unusable(where, f"the layer has no base64 `{SIGNATURE_ANNOTATION}` annotation")
    payload = _json_object(blob)
    if payload is None:
        return Unusable(where, "its payload is not a JSON object")
    kind = _get(payload, "critical", "type")
    if kind != SIMPLE_SIGNING_TYPE:
        return Unusable(where, f"its payload has type {json.dumps(kind)}, not {json.dumps(SIMPLE_SIGNING_TYPE)}")
    signed_digest = _get(payload, "critical", "image", "docker-manifest-digest")
    if signed_digest != image_digest:
        return Unusable(where, f"it signs {signed_digest}, not this image")
    return Signed(where, blob, signature)


def bundle_candidates(where: str, manifest: Mapping[str, Any], blob: bytes, image_digest: str) -> list[Candidate]:
    """A sigstore bundle artifact (its manifest and the blob of its one layer), as cosign v3 attaches it."""
    if manifest.get("artifactType") != BUNDLE_MEDIA_TYPE:
        return [Unusable(where, f"artifactType is {json.dumps(manifest.get('artifactType'))}, "
                                f"not {BUNDLE_MEDIA_TYPE}")]
    subject = _get(manifest, "subject", "digest")
    if subject != image_digest:
        return [Unusable(where, f"its subject is {subject}, not this image")]
    layers = manifest.get("layers")
    layer = layers[0] if isinstance(layers, list) and layers and isinstance(layers[0], dict) else {}
    if sha256_digest(blob) != layer.get("digest"):
        return [Unusable(where, f"the bundle does not match its layer digest {layer.get('digest')} "
                                "(tampered or corrupted)")]
    bundle = _json_object(blob)
    if bundle is None:
        return [Unusable(where, "the bundle is not a JSON object")]
    if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        return [Unusable(where, f"the bundle's mediaType is {json.dumps(bundle.get('mediaType'))}, "
                                f"not {BUNDLE_MEDIA_TYPE}")]
    if isinstance(bundle.get("dsseEnvelope"), dict):
        return _dsse_candidates(where, bundle["dsseEnvelope"], image_digest)
    if isinstance(bundle.get("messageSignature"), dict):
        return [_message_signature_candidate(where, bundle["messageSignature"], image_digest)]
    return [Unusable(where, "the bundle holds neither a dsseEnvelope nor a messageSignature")]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature is over (protobuf-specs envelope.proto)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _dsse_candidates(where: str, envelope: Mapping[str, Any], image_digest: str) -> list[Candidate]:
    payload_type = envelope.get("payloadType")
    payload = _b64(envelope.get("payload"))
    if payload_type != IN_TOTO_PAYLOAD_TYPE or payload is None:
        return [Unusable(where, f"its DSSE envelope has payloadType {json.dumps(payload_type)}; a cosign signature "
                                f"is an in-toto statement ({IN_TOTO_PAYLOAD_TYPE}) in base64")]
    statement = _json_object(payload)
    if statement is None or statement.get("_type") not in IN_TOTO_STATEMENT_TYPES:
        return [Unusable(where, "its DSSE payload is not an in-toto statement")]
    if statement.get("predicateType") != COSIGN_SIGN_PREDICATE:
        return [Unusable(where, f"it is an attestation ({json.dumps(statement.get('predicateType'))}), "
                                f"not a signature ({COSIGN_SIGN_PREDICATE})")]
    subjects = _list(statement.get("subject"))
    signed = [f"sha256:{_get(s, 'digest', 'sha256')}" for s in subjects]
    if image_digest not in signed:
        return [Unusable(where, f"it signs {', '.join(signed) or 'no digest'}, not this image")]
    signatures = _list(envelope.get("signatures"))
    message = pae(payload_type, payload)
    found: list[Candidate] = []
    for index, entry in enumerate(signatures):
        sig = _b64(_get(entry, "sig"))
        label = f"{where} signature {index}" if len(signatures) > 1 else where
        found.append(Signed(label, message, sig) if sig else Unusable(label, "its `sig` is not base64"))
    return found or [Unusable(where, "its DSSE envelope has no signatures")]


def _message_signature_candidate(where: str, signature: Mapping[str, Any], image_digest: str) -> Candidate:
    expected = bytes.fromhex(image_digest.removeprefix("sha256:"))
    digest = _b64(_get(signature, "messageDigest", "digest"))
    if _get(signature, "messageDigest", "algorithm") != "SHA2_256" or digest != expected:
        named = f"sha256:{digest.hex()}" if digest else "no SHA2_256 digest"
        return Unusable(where, f"its messageSignature is for {named}, not this image")
    sig = _b64(signature.get("signature"))
    if not sig:
        return Unusable(where, "its messageSignature has no base64 `signature`")
    return Signed(where, expected, sig, prehashed=True)


def verifies(candidate: Signed, key: TrustedKey) -> bool:
    if key.key is None:
        return False
    if candidate.prehashed:
        algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    else:
        algorithm = ec.ECDSA(_CURVE_HASHES[key.key.curve.name]())
    try:
        key.key.verify(candidate.signature, candidate.message, algorithm)
    except InvalidSignature:
        return False
    return True


def judge(candidates: Sequence[Candidate], keys: Iterable[TrustedKey], *,
          searched: str) -> tuple[AuthorityOutcome, ...]:
    """Each authority's verdict over every signature found; `searched` says where signatures were looked for,
    for the authority that found none."""
    outcomes = []
    for key in keys:
        if key.error is not None:
            outcomes.append(AuthorityOutcome(key.name, False, key.error))
            continue
        if not candidates:
            outcomes.append(AuthorityOutcome(key.name, False, f"no signature found ({searched})"))
            continue
        good = next((c for c in candidates if isinstance(c, Signed) and verifies(c, key)), None)
        if good is not None:
            outcomes.append(AuthorityOutcome(key.name, True, f"verified {good.where}"))
            continue
        reasons = [c.reason if isinstance(c, Unusable) else "not signed by this key" for c in candidates]
        outcomes.append(AuthorityOutcome(
            key.name, False, "; ".join(f"{c.where}: {r}" for c, r in zip(candidates, reasons, strict=True))))
    return tuple(outcomes)
