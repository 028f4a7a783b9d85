"""A refused image is checked again with no change to the service, backing off while it stays refused: the
real `lattice controller` (`--image-recheck 2`) and a real registry where the image is pushed, signed, only after
the service was refused. No watch event tells the controller; its recheck schedule alone makes it Ready."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
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

NAMESPACE = "late-images"
LATTICE = "lattice.dev/v1alpha1"
BASE = 2.0
SIGNER = Signer()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    require_registry_binary()  # a registry of its own: the session's is in tests/registry's scope only
    with RegistryProcess(Path(tmp_path_factory.mktemp("late-registry"))) as process:
        yield process


@pytest.fixture(scope="module")
def controller(cluster: Cluster, examples_fleet: FleetResult, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[RunningController]:
    install_lattice_for_tests(cluster, examples_fleet, NAMESPACE)
    kubeconfig = service_account_kubeconfig(cluster.kube, cluster.kubeconfig, tmp_path_factory.mktemp("controller"))
    running = RunningController(kubeconfig, "--standalone", "--image-recheck", str(BASE))
    wait_for("the controller's /healthz", running.healthy, timeout=30)
    yield running
    running.stop()


def _status(cluster: Cluster) -> dict[str, Any]:
    return cluster.kube.get(LATTICE, "LatticeService", "late", NAMESPACE).get("status") or {}


def _rechecks(controller: RunningController) -> list[float]:
    """When the controller logged a due recheck (seconds since the epoch), from its JSON log lines."""
    out = []
    for line in controller.log.read_text(errors="replace").splitlines():
        if "their recheck is due" in line:
            record = json.loads(line)
            out.append(dt.datetime.fromisoformat(record["timestamp"]).timestamp())
    return out


def test_an_image_pushed_after_the_refusal_is_admitted_with_no_change_to_the_service(
        cluster: Cluster, registry: RegistryProcess, controller: RunningController) -> None:
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "ImageProvider", "metadata": {"name": "late"},
                        "spec": {"registry": registry.host,
                                 "trust": {"authorities": [{"name": "release", "key": SIGNER.public_pem}]}}})
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "LatticeService",
                        "metadata": {"name": "late", "namespace": NAMESPACE},
                        "spec": {"workload": {"containers": {"app": {
                            "image": f"{registry.host}/team/late:v1",
                            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}}}}})
    failed = wait_for("the service refused: its image is not there yet",
                      lambda: (s := _status(cluster)).get("phase") == "Failed" and s, timeout=60)
    images = next(c for c in failed["conditions"] if c["type"] == "ImagesVerified")
    assert (images["status"], images["reason"]) == ("False", "ImageRefused")

    time.sleep(8 * BASE)  # still refused: rechecked after 2 s, then 4 s, then 8 s, never every 2 s
    times = _rechecks(controller)
    assert 2 <= len(times) <= 4, (times, controller.tail(40))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(later > 1.5 * earlier for earlier, later in itertools.pairwise(gaps)), gaps

    pusher = Pusher(registry.url)
    digest = pusher.image("team/late", "v1", content=b"pushed late")
    push_tag_signature(pusher, "team/late", digest, SIGNER)
    push_bundle(pusher, "team/late", digest, dsse_bundle(digest, SIGNER))
    # The next recheck is at most 16 s away (2 + 4 + 8 waited, 16 next; the cap is 20 × 2 s).
    ready = wait_for("the service Ready once the image is there",
                     lambda: (s := _status(cluster)).get("phase") == "Ready" and s, timeout=8 * BASE + 30)
    images = next(c for c in ready["conditions"] if c["type"] == "ImagesVerified")
    assert (images["status"], images["message"]) == ("True", "verified")
    [deployment] = cluster.kube.list("apps/v1", "Deployment", NAMESPACE)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{registry.host}/team/late@{digest}"
