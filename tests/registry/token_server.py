"""A tiny token service for a registry configured with `auth: token` (the Docker token flow).

It checks HTTP Basic credentials and issues an ES256 JWT carrying the requested repository actions, with the
signing certificate in the `x5c` header; the registry trusts it through `rootcertbundle`. The claims are the
ones distribution 2.8 checks (registry/auth/token/token.go: `iss`, `aud` as one string, `exp`, `nbf`,
`access`); the ES256 signature is JOSE's r||s, not DER.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.registry.oci import RegistryProcess

ISSUER = "lattice-test-issuer"
SERVICE = "lattice-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, folder: Path, *, username: str, password: str) -> None:
        self.username, self.password = username, password
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lattice test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - datetime.timedelta(minutes=5))
                      .not_valid_after(now + datetime.timedelta(days=1))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.cert_bundle = folder / "token-signer.pem"
        self.cert_bundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._answer(self)

            def log_message(self, *_: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self._http.server_address[1]}/token"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def registry_auth_config(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
                f"    rootcertbundle: {self.cert_bundle}\n")

    def token(self, scope: str) -> str:
        """A JWT granting `scope` (`repository:<name>:<actions>`)."""
        _, name, actions = scope.split(":")
        header = {"alg": "ES256", "typ": "JWT", "x5c": [
            base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": self.username, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": f"{now}-{len(self.requests)}",
                  "access": [{"type": "repository", "name": name, "actions": actions.split(",")}]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(request.path).query)
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        granted = request.headers.get("Authorization") == expected
        self.requests.append({"query": query, "granted": granted})
        if not granted:
            request.send_response(401)
            request.end_headers()
            return
        body = json.dumps({"token": self.token(query["scope"][0]), "expires_in": 300}).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


@contextmanager
def running_token_registry(folder: Path, *, username: str, password: str
                           ) -> Iterator[tuple[RegistryProcess, TokenServer]]:
    """A real registry configured with `auth: token`, trusting a TokenServer of its own that grants `username`
    with `password`; both are stopped on leaving."""
    tokens = TokenServer(folder, username=username, password=password)
    tokens.start()
    try:
        registry = RegistryProcess(folder, extra_config=tokens.registry_auth_config())
        registry.start()
        try:
            yield registry, tokens
        finally:
            registry.stop()
    finally:
        tokens.stop()
