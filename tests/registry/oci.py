"""A real OCI registry for the tests (Debian's `docker-registry`, distribution 2.8) and what a release
pipeline would push into it: images, and cosign-format signatures made with keys generated in the test.

The registry listens on 127.0.0.1 only, on a free port, with its storage in a temporary folder. The pushes
follow the distribution spec (monolithic blob upload: POST then PUT ?digest=; manifest PUT); the signatures
follow cosign's SIGNATURE_SPEC.md (the `.sig` tag) and BUNDLE_SPEC.md (a sigstore bundle v0.3 artifact, listed
in the referrers tag-schema index `sha256-<hex>` since 2.8 has no referrers API), with the DSSE/in-toto shape
cosign v3's `sign --key` writes (cmd/cosign/cli/sign/sign.go, signDigestBundle).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from lattice.gates.signatures import pae

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BINARY = "docker-registry"
INSTALL_HINT = "install it with `apt-get install -y docker-registry` (Debian/Ubuntu)"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def canonical(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class RegistryProcess:
    """`docker-registry serve CONFIG` on 127.0.0.1:<free port>; `extra_config` adds sections (e.g. `auth`)."""

    def __init__(self, folder: Path, *, extra_config: str = "") -> None:
        self.folder = folder
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        (folder / "storage").mkdir(parents=True, exist_ok=True)
        self.config = folder / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log: {level: warn, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {folder / 'storage'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '{self.host}', secret: lattice-test-only}}\n" + extra_config
        )
        self.log = folder / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 15.0) -> None:
        binary = shutil.which(BINARY)
        assert binary is not None
        with self.log.open("wb") as log:
            # A session of its own: a terminal's Ctrl-C (`make sandbox`) reaches Python, which stops it in order.
            self._process = subprocess.Popen([binary, "serve", str(self.config)], stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not answer /v2/ within {timeout} s: {self.log.read_text()[-2000:]}")

    @property
    def running(self) -> bool:
        """Started and not exited (a watchdog's question)."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> RegistryProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass
class Pusher:
    """Pushes blobs and manifests into one registry (anonymously, or with a bearer token)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def blob(self, repository: str, data: bytes) -> dict[str, Any]:
        digest = sha256(data)
        start = httpx.post(f"{self.url}/v2/{repository}/blobs/uploads/", headers=self.headers)
        assert start.status_code == 202, start.text
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        done = httpx.put(location, content=data,
                         headers={**self.headers, "Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        return {"digest": digest, "size": len(data)}

    def manifest(self, repository: str, reference: str, manifest: dict[str, Any],
                 media_type: str = OCI_MANIFEST) -> str:
        raw = canonical(manifest)
        answer = httpx.put(f"{self.url}/v2/{repository}/manifests/{reference}", content=raw,
                           headers={**self.headers, "Content-Type": media_type})
        assert answer.status_code == 201, answer.text
        assert answer.headers["Docker-Content-Digest"] == sha256(raw)
        return sha256(raw)

    def image(self, repository: str, tag: str, *, content: bytes = b"layer") -> str:
        """A small image (config + one layer) at `tag`; returns its manifest digest."""
        config = self.blob(repository, canonical({"architecture": "amd64", "os": "linux", "rootfs": {
            "type": "layers", "diff_ids": [sha256(content)]}}))
        layer = self.blob(repository, content)
        return self.manifest(repository, tag, {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **config},
            "layers": [{"mediaType": OCI_LAYER, **layer}],
        })


class Signer:
    """A cosign-style key pair, generated in the test."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def sign_digest(self, digest: bytes) -> bytes:
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def simple_signing_payload(reference: str, digest: str) -> bytes:
    return canonical({"critical": {"identity": {"docker-reference": reference},
                                   "image": {"docker-manifest-digest": digest},
                                   "type": "cosign container image signature"},
                      "optional": None})


def push_tag_signature(pusher: Pusher, repository: str, digest: str, signer: Signer, *,
                       payload: bytes | None = None, signed: bytes | None = None) -> str:
    """`cosign sign --key` in the tag format: the manifest at `sha256-<hex>.sig`. `payload` replaces the
    pushed payload and `signed` the bytes the signature is made over (to build tampered signatures)."""
    good = simple_signing_payload(f"{pusher.url.split('//')[1]}/{repository}", digest)
    body = payload if payload is not None else good
    signature = base64.b64encode(signer.sign(signed if signed is not None else body)).decode()
    layer = pusher.blob(repository, body)
    config = pusher.blob(repository, b"{}")
    return pusher.manifest(repository, digest.replace(":", "-") + ".sig", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config},
        "layers": [{"mediaType": SIMPLE_SIGNING, **layer,
                    "annotations": {"dev.cosignproject.cosign/signature": signature}}],
    })


def dsse_bundle(digest: str, signer: Signer) -> bytes:
    """The bundle cosign v3 writes for `sign --key`: a DSSE envelope over an in-toto statement whose subject is
    the image digest and whose predicate type is cosign's sign predicate."""
    statement = canonical({"_type": "https://in-toto.io/Statement/v1",
                           "subject": [{"digest": {"sha256": digest.removeprefix("sha256:")}}],
                           "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}})
    signature = signer.sign(pae("application/vnd.in-toto+json", statement))
    return canonical({
        "mediaType": BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": ""}},
        "dsseEnvelope": {"payload": base64.b64encode(statement).decode(),
                         "payloadType": "application/vnd.in-toto+json",
                         "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}]},
    })


def message_signature_bundle(digest: str, signer: Signer) -> bytes:
    raw = bytes.fromhex(digest.removeprefix("sha256:"))
    return canonical({
        "mediaType": BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": ""}},
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(raw).decode()},
                             "signature": base64.b64encode(signer.sign_digest(raw)).decode()},
    })


def push_bundle(pusher: Pusher, repository: str, digest: str, bundle: bytes, *,
                subject: str | None = None) -> str:
    """Attach a sigstore bundle as cosign does on a registry without the referrers API: the artifact manifest,
    then the referrers index at the tag `sha256-<hex>` listing it."""
    layer = pusher.blob(repository, bundle)
    empty = pusher.blob(repository, b"{}")
    target = subject or digest
    head = httpx.head(f"{pusher.url}/v2/{repository}/manifests/{target}", headers={
        **pusher.headers, "Accept": OCI_MANIFEST})
    size = int(head.headers.get("Content-Length", 0))
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
        "config": {"mediaType": OCI_EMPTY, **empty},
        "layers": [{"mediaType": BUNDLE, **layer}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": target, "size": size},
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope"},
    }
    raw = canonical(manifest)
    manifest_digest = pusher.manifest(repository, sha256(raw), manifest)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(raw), "artifactType": BUNDLE}]}
    pusher.manifest(repository, digest.replace(":", "-"), index, OCI_INDEX)
    return manifest_digest
