"""Registry pull credentials from the file `docker login` writes (podman, skopeo, crane and cosign read the same
one): `{"auths": {"<registry>": {"auth": base64("user:password")}}}`.

Where it is looked for, first found wins: `$REGISTRY_AUTH_FILE` (containers-auth.json(5)), then
`$DOCKER_CONFIG/config.json`, then `~/.docker/config.json`. In the cluster the controller reads
`$REGISTRY_AUTH_FILE`, a Secret of type `kubernetes.io/dockerconfigjson` mounted into its pod (`lattice
install`), so it needs no permission to read Secrets. Credential helpers (`credsStore`, `credHelpers`) run
programs Lattice does not run; identity tokens need an OAuth refresh it does not do: a registry known only
through them is asked without a login, and its 401 says that a login is needed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path

from lattice.errors import LatticeError

AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"
Credentials = dict[str, tuple[str, str]]
"""Registry host (as image references spell it: `registry.example.com`, `127.0.0.1:5000`, `docker.io`) ->
(username, password)."""

_DOCKER_HUB_KEYS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def auth_file_path(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path | None:
    """The auth file to read, or None when there is none (no credentials: public registries only)."""
    env = os.environ if env is None else env
    if env.get(AUTH_FILE_ENV):
        return Path(env[AUTH_FILE_ENV])  # named explicitly: a missing file is an error, not "no credentials"
    candidates = [Path(env["DOCKER_CONFIG"]) / "config.json"] if env.get("DOCKER_CONFIG") else []
    candidates.append((home or Path.home()) / ".docker" / "config.json")
    return next((path for path in candidates if path.is_file()), None)


def registry_host(key: str) -> str:
    """The registry an `auths` key names: `https://index.docker.io/v1/` is `docker.io`, `quay.io/org` is
    `quay.io` (a key scoped to a repository path lends its login to the host when the host has none)."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in _DOCKER_HUB_KEYS else host


class AuthFileError(LatticeError):
    """The auth file at `path` cannot be used; `problems` say where in it and what to write."""

    def __init__(self, path: Path, error: LatticeError) -> None:
        super().__init__(list(error.problems))
        self.path = path


def read_credentials(path: Path) -> Credentials:
    """Every username and password in the file; AuthFileError otherwise (a broken file must not silently mean
    "no login"), naming the entry by its field path in the file."""
    try:
        return _read(path)
    except LatticeError as error:
        raise AuthFileError(path, error) from None


def _read(path: Path) -> Credentials:
    try:
        doc = json.loads(path.read_text())
    except OSError as error:
        raise LatticeError.one("", f"the registry auth file cannot be read: {error.strerror or error}",
                               f"fix the path, or unset ${AUTH_FILE_ENV}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LatticeError.one("", f"the registry auth file is not JSON: {error}",
                               "write it with `docker login` (or `podman login --authfile`)") from None
    auths = doc.get("auths", {}) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise LatticeError.one("auths", "is not an object of registries",
                               'write `{"auths": {"registry.example.com": {"auth": "<base64 user:password>"}}}`')
    scoped: Credentials = {}
    hosts: Credentials = {}
    for key, entry in sorted(auths.items()):
        login = _login(key, entry)
        if login is None:
            continue
        repository_path = key.split("://", 1)[-1].rstrip("/").partition("/")[2]
        bare = repository_path in ("", "v1", "v2")  # `https://index.docker.io/v1/` names the host alone
        (hosts if bare else scoped).setdefault(registry_host(key), login)
    return {**scoped, **hosts}


def _login(key: str, entry: object) -> tuple[str, str] | None:
    where = f"auths.{key}"
    if not isinstance(entry, dict):
        raise LatticeError.one(where, "is not an object", 'write `{"auth": "<base64 user:password>"}`')
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str) and entry["username"]:
        return entry["username"], entry["password"]
    encoded = entry.get("auth")
    if not encoded:
        return None  # an identity token or a helper's placeholder: nothing Lattice can send
    try:
        user, sep, password = base64.b64decode(str(encoded), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, user, password = "", "", ""
    if not sep or not user:
        raise LatticeError.one(f"{where}.auth", "is not base64 of `username:password`",
                               "log in again with `docker login`, or write base64 of `user:password`")
    return user, password


class AuthFile:
    """The credentials of one auth file, read again when the file changes (a mounted Secret is updated in
    place when it is rotated), so a long-running controller never needs a restart for a new password."""

    def __init__(self, path: Path, *, missing_ok: bool = False) -> None:
        self.path = path
        self.missing_ok = missing_ok
        """No file means no credentials (the controller's Secret is optional), not an error."""
        self._seen: tuple[int, int, int] | None = None
        self._credentials: Credentials = {}

    def changed(self) -> bool:
        """Whether the file differs from what `current` last read (appeared, replaced, edited or removed)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._seen is not None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._seen

    def current(self) -> Credentials:
        """The credentials now; raises LatticeError when the file is unreadable (or missing, unless
        `missing_ok`)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self.missing_ok:
                self._seen, self._credentials = None, {}
                return {}
            return read_credentials(self.path)  # raises, naming the file
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._credentials = read_credentials(self.path)
            self._seen = seen
        return self._credentials
