"""The bearer-token challenge against a real registry configured with `auth: token`: the client answers the
401 by getting a token from the realm it names (with the pull credentials), retries, and keeps the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import Images
from lattice.gates.images import State
from lattice.registry.check import check_images
from lattice.registry.client import RegistryClient, Unauthorized
from tests.registry.conftest import require_registry_binary
from tests.registry.oci import Pusher, RegistryProcess, Signer, dsse_bundle, push_bundle, push_tag_signature
from tests.registry.token_server import SERVICE, TokenServer

USER, PASSWORD = "puller", "s3cret"
SIGNER = Signer()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryProcess, TokenServer]]:
    require_registry_binary()
    folder = Path(tmp_path_factory.mktemp("token-registry"))
    tokens = TokenServer(folder, username=USER, password=PASSWORD)
    tokens.start()
    registry = RegistryProcess(folder, extra_config=tokens.registry_auth_config())
    registry.start()
    yield registry, tokens
    registry.stop()
    tokens.stop()


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
    assert caught.value.hint == f"give Lattice pull credentials for `{registry.host}`"


def test_wrong_credentials_are_refused(token_registry: tuple[RegistryProcess, TokenServer]) -> None:
    registry, _ = token_registry
    with RegistryClient(credentials={registry.host: (USER, "wrong")}) as client, \
            pytest.raises(Unauthorized, match="refused a token") as caught:
        client.resolve(registry.host, "secured/app", "v1")
    assert caught.value.hint == f"check the pull credentials for `{registry.host}`"
