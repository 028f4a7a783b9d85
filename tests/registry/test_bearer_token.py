"""The bearer-token challenge against a real registry configured with `auth: token`: the client answers the
401 by getting a token from the realm it names (with the pull credentials), retries, and keeps the token."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.cli.main import app
from lattice.gates.images import State
from lattice.registry.check import check_images
from lattice.registry.client import RegistryClient, Unauthorized
from tests.registry.conftest import require_registry_binary
from tests.registry.oci import Pusher, RegistryProcess, Signer, dsse_bundle, push_bundle, push_tag_signature
from tests.registry.token_server import SERVICE, TokenServer, running_token_registry

USER, PASSWORD = "puller", "s3cret"
SIGNER = Signer()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryProcess, TokenServer]]:
    require_registry_binary()
    with running_token_registry(Path(tmp_path_factory.mktemp("token-registry")), username=USER,
                                password=PASSWORD) as both:
        yield both


def _push_signed(registry: RegistryProcess, tokens: TokenServer, repository: str) -> str:
    pusher = Pusher(registry.url, {"Authorization": f"Bearer {tokens.token(f'repository:{repository}:pull,push')}"})
    digest = pusher.image(repository, "v1", content=repository.encode())
    push_tag_signature(pusher, repository, digest, SIGNER)
    push_bundle(pusher, repository, digest, dsse_bundle(digest, SIGNER))
    return digest


def test_bearer_challenge_is_answered_with_credentials(token_registry: tuple[RegistryProcess, TokenServer]) -> None:
    registry, tokens = token_registry
    digest = _push_signed(registry, tokens, "secured/app")
    providers = {"secured": ImageProviderSpec.model_validate({"registry": registry.host, "trust": {
        "authorities": [{"name": "release", "key": SIGNER.public_pem}]}})}
    before = len(tokens.requests)
    with RegistryClient(credentials={registry.host: (USER, PASSWORD)}) as client:
        result = check_images({"api": f"{registry.host}/secured/app:v1"}, providers, Images(), resolve=True,
                              verify=True, client=client)
    check = result["api"]
    assert check.admitted and check.state is State.VERIFIED and check.pinned.endswith(f"@{digest}")
    asked = tokens.requests[before:]
    # One token for the repository's pull scope, reused for the resolve and every signature request.
    assert asked == [{"query": {"service": [SERVICE], "scope": ["repository:secured/app:pull"]}, "granted": True}]


def test_without_credentials_the_refusal_says_what_is_missing(
        token_registry: tuple[RegistryProcess, TokenServer]) -> None:
    registry, _ = token_registry
    with RegistryClient() as client, pytest.raises(Unauthorized) as caught:
        client.resolve(registry.host, "secured/app", "v1")
    assert str(caught.value) == (
        f"the token service of registry `{registry.host}` refused a token for repository:secured/app:pull (401)")
    assert caught.value.hint.startswith(f"log in to `{registry.host}`: `docker login {registry.host}`")


def test_wrong_credentials_are_refused(token_registry: tuple[RegistryProcess, TokenServer]) -> None:
    registry, _ = token_registry
    with RegistryClient(credentials={registry.host: (USER, "wrong")}) as client, \
            pytest.raises(Unauthorized, match="refused a token") as caught:
        client.resolve(registry.host, "secured/app", "v1")
    assert caught.value.hint.startswith(f"check the login for `{registry.host}`")


def _fleet_file(folder: Path, registry: RegistryProcess) -> Path:
    authorities = [{"name": "release", "key": SIGNER.public_pem}]
    main = {"image": f"{registry.host}/secured/cli:v1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
    docs = [
        {"apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider", "metadata": {"name": "secured"},
         "spec": {"registry": registry.host, "trust": {"authorities": authorities}}},
        {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
         "metadata": {"name": "app", "namespace": "shop"},
         "spec": {"workload": {"containers": {"main": main}}}},
    ]
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_the_cli_logs_in_with_the_auth_file_docker_login_writes(
        token_registry: tuple[RegistryProcess, TokenServer], tmp_path: Path) -> None:
    """`docker login` then `lattice compile --verify-images`: the login is read from $REGISTRY_AUTH_FILE and the
    Deployment runs the verified digest; without it the refusal says how to log in; a broken file stops the
    command naming the entry."""
    registry, tokens = token_registry
    digest = _push_signed(registry, tokens, "secured/cli")
    fleet = str(_fleet_file(tmp_path, registry))
    auth = tmp_path / "auth.json"
    login = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth.write_text(json.dumps({"auths": {registry.host: {"auth": login}}}))
    runner = CliRunner()
    ok = runner.invoke(app, ["compile", fleet, "--verify-images"], env={"REGISTRY_AUTH_FILE": str(auth)})
    assert ok.exit_code == 0, ok.output
    [deployment] = [d for d in yaml.safe_load_all(ok.stdout) if d and d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{registry.host}/secured/cli@{digest}"

    home = tmp_path / "no-home"
    refused = runner.invoke(app, ["compile", fleet, "--verify-images"],
                            env={"REGISTRY_AUTH_FILE": "", "DOCKER_CONFIG": str(home), "HOME": str(home)})
    assert refused.exit_code == 1
    assert f"hint: log in to `{registry.host}`: `docker login {registry.host}`" in refused.stderr

    auth.write_text(json.dumps({"auths": {registry.host: {"auth": "%%%"}}}))
    broken = runner.invoke(app, ["compile", fleet, "--verify-images"], env={"REGISTRY_AUTH_FILE": str(auth)})
    assert broken.exit_code == 2
    assert broken.stderr.startswith(f"error: {auth}: auths.{registry.host}.auth: is not base64 of `username:password`")
    assert "Traceback" not in broken.output


def test_a_rotated_login_drops_the_tokens_of_the_old_one(token_registry: tuple[RegistryProcess, TokenServer]) -> None:
    registry, tokens = token_registry
    _push_signed(registry, tokens, "secured/rotated")
    with RegistryClient(credentials={registry.host: (USER, PASSWORD)}) as client:
        client.resolve(registry.host, "secured/rotated", "v1")
        asked = len(tokens.requests)
        assert not client.use_credentials({registry.host: (USER, PASSWORD)})  # unchanged: the token is kept
        client.resolve(registry.host, "secured/rotated", "v1")
        assert len(tokens.requests) == asked
        assert client.use_credentials({registry.host: (USER, "wrong")})  # changed: asked again, with it
        with pytest.raises(Unauthorized, match="refused a token"):
            client.resolve(registry.host, "secured/rotated", "v1")
        assert len(tokens.requests) == asked + 1
