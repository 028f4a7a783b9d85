"""Registry logins from the auth file `docker login` writes: what is read, from where, and the errors that
name the entry to fix (a broken file must never silently mean "no login")."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lattice.registry.auth_file import AuthFile, AuthFileError, auth_file_path, read_credentials


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_logins_by_registry_host_as_images_name_them(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"auths": {
        "registry.example.com": {"auth": _auth("ci", "pa:ss")},  # the password may hold a colon
        "https://index.docker.io/v1/": {"auth": _auth("hub", "h")},
        "127.0.0.1:5000": {"username": "local", "password": "l"},  # podman's spelled-out form
        "quay.io/team": {"auth": _auth("team", "t")},  # scoped to a path: lent to the host, which has none
        "ghcr.io/org": {"auth": _auth("org", "o")},
        "ghcr.io": {"auth": _auth("ghcr", "g")},  # the host's own login wins over a path's
        "token.example.com": {"identitytoken": "refresh-me"},  # OAuth refresh: nothing Lattice can send
    }, "credsStore": "desktop"})
    assert read_credentials(path) == {
        "registry.example.com": ("ci", "pa:ss"), "docker.io": ("hub", "h"), "127.0.0.1:5000": ("local", "l"),
        "quay.io": ("team", "t"), "ghcr.io": ("ghcr", "g")}


@pytest.mark.parametrize(("content", "path", "message"), [
    ("{not json", "", "the registry auth file is not JSON"),
    ({"auths": []}, "auths", "is not an object of registries"),
    ({"auths": {"r.example.com": "x"}}, "auths.r.example.com", "is not an object"),
    ({"auths": {"r.example.com": {"auth": "bm8gY29sb24="}}}, "auths.r.example.com.auth",
     "is not base64 of `username:password`"),  # base64 of "no colon"
    ({"auths": {"r.example.com": {"auth": "%%%"}}}, "auths.r.example.com.auth", "is not base64"),
])
def test_a_broken_file_is_an_error_naming_the_entry(tmp_path: Path, content: Any, path: str, message: str) -> None:
    file = _write(tmp_path / "config.json", content)
    with pytest.raises(AuthFileError) as caught:
        read_credentials(file)
    assert caught.value.path == file
    [problem] = caught.value.problems
    assert (problem.path, problem.message.startswith(message), bool(problem.hint)) == (path, True, True)


def test_where_the_file_is_looked_for(tmp_path: Path) -> None:
    home, docker = tmp_path / "home", tmp_path / "docker"
    (home / ".docker").mkdir(parents=True)
    docker.mkdir()
    assert auth_file_path({}, home) is None
    _write(home / ".docker" / "config.json", {"auths": {}})
    assert auth_file_path({}, home) == home / ".docker" / "config.json"
    assert auth_file_path({"DOCKER_CONFIG": str(docker)}, home) == home / ".docker" / "config.json"  # none there
    _write(docker / "config.json", {"auths": {}})
    assert auth_file_path({"DOCKER_CONFIG": str(docker)}, home) == docker / "config.json"
    named = tmp_path / "absent.json"  # named explicitly: returned even when missing, so reading it says so
    assert auth_file_path({"REGISTRY_AUTH_FILE": str(named), "DOCKER_CONFIG": str(docker)}, home) == named
    with pytest.raises(AuthFileError, match="cannot be read"):
        read_credentials(named)


def test_the_controller_reads_a_rotated_login_and_starts_without_one(tmp_path: Path) -> None:
    path = tmp_path / "mounted" / ".dockerconfigjson"
    auth = AuthFile(path, missing_ok=True)
    assert auth.current() == {}  # the optional Secret is not there (yet)
    assert not auth.changed()
    path.parent.mkdir()
    _write(path, {"auths": {"r.example.com": {"auth": _auth("a", "1")}}})
    assert auth.changed()  # what has the controller check refused images again at once
    assert auth.current() == {"r.example.com": ("a", "1")}
    assert not auth.changed()
    # The kubelet swaps a new file in (another inode); same size, so the inode tells the change.
    replacement = _write(tmp_path / "mounted" / "next", {"auths": {"r.example.com": {"auth": _auth("a", "2")}}})
    os.replace(replacement, path)
    assert auth.current() == {"r.example.com": ("a", "2")}
    _write(path, "{broken")
    with pytest.raises(AuthFileError):
        auth.current()
    path.unlink()
    assert auth.current() == {}
    with pytest.raises(AuthFileError, match="cannot be read"):
        AuthFile(path).current()  # without missing_ok, a missing file is an error
