"""The controller and a private registry: the real `lattice controller` process (its ServiceAccount's RBAC, which
reads no Secret) resolves and verifies images in a real registry that requires a login (`auth: token`), with
the login read from the file the installed pod mounts from the Secret `lattice-registry-auth`. Before the
file exists the service fails with the way to log in; once it is written the service becomes Ready without
any other change, running the verified digest."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lattice.fleet import FleetResult
from tests.cluster.conftest import Cluster
from tests.cluster.controller_process import RunningController, install_lattice_for_tests, service_account_kubeconfig
from tests.cluster.kube import wait_for
from tests.registry.conftest import require_registry_binary
from tests.registry.oci import Pusher, RegistryProcess, Signer, dsse_bundle, push_bundle, push_tag_signature
from tests.registry.token_server import running_token_registry

NAMESPACE = "private"
LATTICE = "lattice.dev/v1alpha1"
USER, PASSWORD = "puller", "s3cret"
SIGNER = Signer()


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryProcess, str]]:
    """A registry that answers only with a token from its token service, and the digest of a signed image."""
    require_registry_binary()
    folder = Path(tmp_path_factory.mktemp("private-registry"))
    with running_token_registry(folder, username=USER, password=PASSWORD) as (registry, tokens):
        pusher = Pusher(registry.url, {"Authorization": f"Bearer {tokens.token('repository:team/api:pull,push')}"})
        digest = pusher.image("team/api", "v1", content=b"private api")
        push_tag_signature(pusher, "team/api", digest, SIGNER)
        push_bundle(pusher, "team/api", digest, dsse_bundle(digest, SIGNER))
        yield registry, digest


@pytest.fixture(scope="module")
def login_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("registry-auth")) / ".dockerconfigjson"  # not there yet


@pytest.fixture(scope="module")
def controller(cluster: Cluster, examples_fleet: FleetResult, login_file: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningController]:
    install_lattice_for_tests(cluster, examples_fleet, NAMESPACE)
    kubeconfig = service_account_kubeconfig(cluster.kube, cluster.kubeconfig, tmp_path_factory.mktemp("controller"))
    running = RunningController(kubeconfig, "--standalone", "--registry-auth", str(login_file))
    wait_for("the controller's /healthz", running.healthy, timeout=30)
    yield running
    running.stop()


def _status(cluster: Cluster) -> dict[str, Any]:
    return cluster.kube.get(LATTICE, "LatticeService", "api", NAMESPACE).get("status") or {}


def test_a_private_image_is_verified_once_the_controller_has_the_login(
        cluster: Cluster, private_registry: tuple[RegistryProcess, str], controller: RunningController,
        login_file: Path) -> None:
    registry, digest = private_registry
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "ImageProvider", "metadata": {"name": "private"},
                        "spec": {"registry": registry.host,
                                 "trust": {"authorities": [{"name": "release", "key": SIGNER.public_pem}]}}})
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "LatticeService",
                        "metadata": {"name": "api", "namespace": NAMESPACE},
                        "spec": {"workload": {"containers": {"api": {
                            "image": f"{registry.host}/team/api:v1",
                            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}}}}})

    failed = wait_for("the service Failed for want of a login",
                      lambda: (s := _status(cluster)).get("phase") == "Failed" and s, timeout=60)
    images = next(c for c in failed["conditions"] if c["type"] == "ImagesVerified")
    assert (images["status"], images["reason"]) == ("False", "ImageRefused")
    assert f"log in to `{registry.host}`" in images["message"]
    assert cluster.kube.list("apps/v1", "Deployment", NAMESPACE) == []  # refused: nothing applied

    login = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    login_file.write_text(json.dumps({"auths": {registry.host: {"auth": login}}}))  # the Secret, mounted
    # Nothing else changes: the new login alone has the service checked again, at once (well before the
    # controller's periodic recheck of refused images, every 30 s).
    try:
        ready = wait_for("the service Ready with the login",
                         lambda: (s := _status(cluster)).get("phase") == "Ready" and s, timeout=20)
    except TimeoutError:
        raise AssertionError(f"status {_status(cluster)}\ncontroller log:\n{controller.tail(40)}") from None
    images = next(c for c in ready["conditions"] if c["type"] == "ImagesVerified")
    assert (images["status"], images["message"]) == ("True", "verified")
    [deployment] = cluster.kube.list("apps/v1", "Deployment", NAMESPACE)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{registry.host}/team/api@{digest}"


def test_the_installed_pod_mounts_the_optional_login_secret(cluster: Cluster, controller: RunningController) -> None:
    """What the test above reads from a file is what the installed Deployment mounts: the Secret, optional
    (the pod starts without it), read-only, and named by `--registry-auth`."""
    pod = cluster.kube.get("apps/v1", "Deployment", "lattice-controller", "lattice-system")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "registry-auth"]
    assert volume["secret"] == {"secretName": "lattice-registry-auth", "optional": True, "defaultMode": 0o440}
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "registry-auth"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/lattice/registry", True)
    assert "--registry-auth=/etc/lattice/registry/.dockerconfigjson" in container["args"]
