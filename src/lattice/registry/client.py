"""A small client of the OCI distribution API: resolve a tag, fetch manifests and blobs as raw bytes, list
referrers, and answer the bearer-token challenge registries send.

Raw bytes matter: a manifest's digest is the SHA-256 of the exact bytes the registry stored, so nothing here
re-serialises JSON. Plain HTTP is used for loopback registries only; every other registry is HTTPS.
References: opencontainers/distribution-spec `spec.md` (pulling manifests, `Docker-Content-Digest`, the
referrers API and its tag-schema fallback) and the Docker token authentication flow (`WWW-Authenticate: Bearer
realm=...,service=...,scope=...`, answered with `{"token": ...}` or `{"access_token": ...}`).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from lattice.gates.images import SHA256_DIGEST

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
# docker.io is a name, not the API's host (distribution/reference and the Docker CLI both map it).
_API_HOSTS = {"docker.io": "registry-1.docker.io"}
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
MAX_DOCUMENT = 4 * 1024 * 1024
"""Manifests, indexes and signature blobs are small; a larger answer is refused rather than read."""


class RegistryError(Exception):
    """A registry could not answer as needed; the message names the registry and what was asked."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class RegistryUnreachable(RegistryError):
    """No answer: connection refused, DNS failure or timeout."""


class NotFound(RegistryError):
    """404: the repository, tag, manifest or blob does not exist."""


class Unauthorized(RegistryError):
    """401/403 even after answering the registry's challenge."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status_code: int
    headers: httpx.Headers
    content: bytes


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    raw: bytes

    def json(self) -> dict[str, Any]:
        value = json.loads(self.raw)
        if not isinstance(value, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return value


def is_loopback(registry: str) -> bool:
    host = urlsplit(f"//{registry}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _login_hint(registry: str, wrong: bool = False) -> str:
    """Where Lattice reads registry logins (`lattice.registry.auth_file`), for a refusal to say."""
    verb = "check the login for" if wrong else "log in to"
    return (f"{verb} `{registry}`: `docker login {registry}` (Lattice reads $REGISTRY_AUTH_FILE, "
            "$DOCKER_CONFIG/config.json or ~/.docker/config.json; the controller, the Secret "
            "`lattice-registry-auth` in `lattice-system`)")


class RegistryClient:
    """One HTTP connection pool for every registry a check touches; tokens are kept per registry and scope.

    `credentials` maps a registry (`registry.example.com`) to a username and password, sent only to that
    registry's token service (or as Basic auth when the registry asks for it), never over plain HTTP to a
    non-loopback host."""

    def __init__(self, *, credentials: Mapping[str, tuple[str, str]] | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._credentials = dict(credentials or {})
        self._tokens: dict[tuple[str, str], str] = {}
        self._timeout = timeout
        self._http = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport,
                                  headers={"User-Agent": "lattice"})

    def __enter__(self) -> RegistryClient:
        return self

    def use_credentials(self, credentials: Mapping[str, tuple[str, str]]) -> bool:
        """Replace the credentials (a rotated login): tokens got with a registry's old login are dropped.
        Whether any registry's login changed."""
        new, old = dict(credentials), self._credentials
        changed = {registry for registry in new.keys() | old.keys() if new.get(registry) != old.get(registry)}
        self._credentials = new
        for key in [key for key in list(self._tokens) if key[0] in changed]:
            self._tokens.pop(key, None)
        return bool(changed)

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def base_url(registry: str) -> str:
        scheme = "http" if is_loopback(registry) else "https"
        return f"{scheme}://{_API_HOSTS.get(registry, registry)}"

    # -- the API ------------------------------------------------------------------------------------------------

    def resolve(self, registry: str, repository: str, tag: str) -> str:
        """The digest `tag` points to now: the `Docker-Content-Digest` of a HEAD, or, when a registry omits it,
        the SHA-256 of the manifest fetched with GET."""
        what = f"tag `{tag}` in repository `{repository}`"
        response = self._send("HEAD", registry, repository, f"manifests/{tag}", {"Accept": MANIFEST_ACCEPT}, what)
        digest = str(response.headers.get("Docker-Content-Digest", ""))
        if SHA256_DIGEST.fullmatch(digest):
            return digest
        return self.manifest(registry, repository, tag).digest

    def manifest(self, registry: str, repository: str, reference: str) -> Manifest:
        """The manifest at a tag or digest, raw. Fetched by digest, its bytes must hash to that digest."""
        what = f"manifest `{reference}` in repository `{repository}`"
        response = self._send("GET", registry, repository, f"manifests/{reference}", {"Accept": MANIFEST_ACCEPT},
                              what)
        raw = response.content
        digest = sha256_of(raw)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"registry `{registry}` answered {what} with content whose digest is {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(digest, media_type, raw)

    def blob(self, registry: str, repository: str, digest: str) -> bytes:
        """A blob's raw bytes. Not checked against `digest` here: the signature checks do that and say what
        it means (a tampered payload)."""
        what = f"blob `{digest}` in repository `{repository}`"
        return self._send("GET", registry, repository, f"blobs/{digest}", {}, what).content

    def referrers(self, registry: str, repository: str, digest: str) -> list[dict[str, Any]]:
        """The descriptors of the artifacts whose `subject` is `digest`: from the referrers API, or, where a
        registry has none (404, e.g. distribution 2.8), from the index at the tag `sha256-<hex>`; none when
        neither exists."""
        what = f"referrers of `{digest}` in repository `{repository}`"
        try:
            response = self._send("GET", registry, repository, f"referrers/{digest}", {"Accept": OCI_INDEX}, what)
            raw = response.content
        except NotFound:
            try:
                raw = self.manifest(registry, repository, digest.replace(":", "-", 1)).raw
            except NotFound:
                return []
        try:
            index = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RegistryError(f"registry `{registry}` answered the {what} with invalid JSON ({error})") from None
        manifests = index.get("manifests") if isinstance(index, dict) else None
        return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []

    # -- transport and authentication ---------------------------------------------------------------------------

    def _send(self, method: str, registry: str, repository: str, path: str, headers: dict[str, str],
              what: str) -> _Answer:
        url = f"{self.base_url(registry)}/v2/{repository}/{path}"
        scope = f"repository:{repository}:pull"
        response = self._attempt(method, url, registry, headers, self._tokens.get((registry, scope)), what)
        if response.status_code == 401:
            authorization = self._answer_challenge(registry, scope, response, what)
            response = self._attempt(method, url, registry, headers, authorization, what)
        self._raise_for_status(response, registry, what)
        return response

    def _attempt(self, method: str, url: str, registry: str, headers: dict[str, str], authorization: str | None,
                 what: str) -> _Answer:
        if authorization:
            headers = {**headers, "Authorization": authorization}
        try:
            with self._http.stream(method, url, headers=headers) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT:
                        raise RegistryError(f"registry `{registry}` sent more than {MAX_DOCUMENT} bytes for {what}")
                return _Answer(response.status_code, response.headers, bytes(body))
        except httpx.TimeoutException:
            raise RegistryUnreachable(
                f"registry `{registry}` did not answer within {self._timeout:g} s (asked for {what})",
                "check that the registry is up and reachable from here") from None
        except httpx.TransportError as error:
            raise RegistryUnreachable(
                f"registry `{registry}` is unreachable at {self.base_url(registry)} ({_reason(error)}; asked for "
                f"{what})", "check that the registry is up and reachable from here") from None

    def _answer_challenge(self, registry: str, scope: str, response: _Answer, what: str) -> str:
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, rest = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(rest))
        credentials = self._credentials.get(registry)
        if scheme.lower() == "basic":
            if credentials is None:
                raise Unauthorized(f"registry `{registry}` requires a login for {what}",
                                   _login_hint(registry))
            return _basic(*credentials)
        if scheme.lower() != "bearer" or "realm" not in params:
            raise Unauthorized(f"registry `{registry}` refused {what} (401) with an authentication challenge "
                               f"Lattice does not know: {challenge!r}")
        realm = params["realm"]
        if urlsplit(realm).scheme != "https" and not is_loopback(urlsplit(realm).netloc):
            raise Unauthorized(f"registry `{registry}` sends its token requests to `{realm}`, which is not HTTPS",
                               "a token service must be HTTPS (plain HTTP only on loopback)")
        query = {"service": params["service"]} if "service" in params else {}
        query["scope"] = params.get("scope", scope)
        auth = httpx.BasicAuth(*credentials) if credentials else None
        try:
            answer = self._http.get(realm, params=query, auth=auth)
        except httpx.TransportError as error:
            raise RegistryUnreachable(f"the token service `{realm}` of registry `{registry}` is unreachable "
                                      f"({_reason(error)})") from None
        if answer.status_code in (401, 403):
            raise Unauthorized(
                f"the token service of registry `{registry}` refused a token for {query['scope']} "
                f"({answer.status_code})",
                _login_hint(registry, wrong=True) if credentials else
                _login_hint(registry))
        token = _token(answer)
        if token is None:
            raise RegistryError(f"the token service `{realm}` of registry `{registry}` answered {answer.status_code} "
                                "without a token")
        authorization = f"Bearer {token}"
        self._tokens[(registry, scope)] = authorization
        return authorization

    @staticmethod
    def _raise_for_status(response: _Answer, registry: str, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 404:
            raise NotFound(f"registry `{registry}` has no {what} (404)")
        if status in (401, 403):
            raise Unauthorized(f"registry `{registry}` refused access to {what} ({status})",
                               _login_hint(registry, wrong=True))
        raise RegistryError(f"registry `{registry}` answered {status} for {what}")


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _token(answer: httpx.Response) -> str | None:
    if answer.status_code != 200:
        return None
    try:
        body = answer.json()
    except ValueError:
        return None
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) and token else None


def _reason(error: httpx.TransportError) -> str:
    text = str(error) or type(error).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text.splitlines()[0][:200]
