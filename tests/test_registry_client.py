"""What the registry client does with answers a well-behaved registry (tests/registry) never gives: a HEAD
without `Docker-Content-Digest`, content that does not match its digest, an HTTP token realm, an oversized
answer. The server side is an httpx transport playing the misbehaving registry; the client is the real one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import httpx
import pytest

from lattice.registry.client import MAX_DOCUMENT, RegistryClient, RegistryError, Unauthorized, is_loopback

MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> RegistryClient:
    return RegistryClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(("registry", "url"), [
    ("127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("localhost:5000", "http://localhost:5000"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("registry.example.com", "https://registry.example.com"),
    ("10.0.0.1:5000", "https://10.0.0.1:5000"),
    ("docker.io", "https://registry-1.docker.io"),
])
def test_plain_http_only_on_loopback(registry: str, url: str) -> None:
    assert RegistryClient.base_url(registry) == url
    assert is_loopback(registry) == url.startswith("http:")


def test_resolve_without_digest_header_hashes_the_manifest() -> None:
    seen: list[str] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        assert "application/vnd.oci.image.manifest.v1+json" in request.headers["Accept"]
        assert "application/vnd.docker.distribution.manifest.v2+json" in request.headers["Accept"]
        return httpx.Response(200, content=b"" if request.method == "HEAD" else MANIFEST)

    with _client(registry) as client:
        assert client.resolve("registry.example.com", "app", "v1") == DIGEST
    assert seen == ["HEAD", "GET"]


def test_manifest_that_does_not_match_its_digest_is_refused() -> None:
    other = "sha256:" + "0" * 64
    with _client(lambda r: httpx.Response(200, content=MANIFEST)) as client, \
            pytest.raises(RegistryError) as caught:
        client.manifest("registry.example.com", "app", other)
    assert str(caught.value) == (f"registry `registry.example.com` answered manifest `{other}` in repository `app` "
                                 f"with content whose digest is {DIGEST}")


def test_token_realm_over_plain_http_is_refused() -> None:
    def registry(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example.com/token"'})

    with _client(registry) as client, pytest.raises(Unauthorized) as caught:
        client.resolve("registry.example.com", "app", "v1")
    assert str(caught.value) == ("registry `registry.example.com` sends its token requests to "
                                 "`http://auth.example.com/token`, which is not HTTPS")


def test_basic_challenge_is_answered_with_credentials() -> None:
    def registry(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != "Basic dTpw":  # base64("u:p")
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
        return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})

    with RegistryClient(credentials={"registry.example.com": ("u", "p")},
                        transport=httpx.MockTransport(registry)) as client:
        assert client.resolve("registry.example.com", "app", "v1") == DIGEST
    with _client(registry) as client, pytest.raises(Unauthorized, match="requires a login for tag `v1`"):
        client.resolve("registry.example.com", "app", "v1")


def test_oversized_answer_is_refused() -> None:
    with _client(lambda r: httpx.Response(200, content=b"x" * (MAX_DOCUMENT + 1))) as client, \
            pytest.raises(RegistryError, match=f"sent more than {MAX_DOCUMENT} bytes for blob"):
        client.blob("registry.example.com", "app", DIGEST)


def test_server_error_is_named() -> None:
    with _client(lambda r: httpx.Response(503)) as client, \
            pytest.raises(RegistryError, match=r"^registry `registry.example.com` answered 503 for tag `v1` in "
                                               r"repository `app`$"):
        client.resolve("registry.example.com", "app", "v1")


def test_referrers_api_is_used_when_the_registry_has_it() -> None:
    index = (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":'
             b'"sha256:1","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}]}')
    paths: list[str] = []

    def registry(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, content=index)

    with _client(registry) as client:
        assert client.referrers("registry.example.com", "app", DIGEST) == [
            {"digest": "sha256:1", "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]
    assert paths == [f"/v2/app/referrers/{DIGEST}"]


def test_a_registry_that_never_answers_times_out() -> None:
    """A listening socket that accepts and says nothing: the client gives up after its timeout."""
    import socket

    from lattice.registry.client import RegistryUnreachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        host = f"127.0.0.1:{server.getsockname()[1]}"
        with RegistryClient(timeout=0.3) as client, pytest.raises(RegistryUnreachable) as caught:
            client.resolve(host, "app", "v1")
    assert str(caught.value) == (f"registry `{host}` did not answer within 0.3 s (asked for tag `v1` in "
                                 "repository `app`)")
