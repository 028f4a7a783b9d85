"""The controller converges through a faulty API server: between it and the real kube-apiserver a proxy
(tests/cluster/faults.py) answers a share of requests with 409 Conflict or 500, hangs others past the client's
patience, drops connections and cuts watch streams. Every service still becomes Ready, with exactly its compiled
objects, none lost and none duplicated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lattice.fleet import FleetResult
from tests.cluster.conftest import Cluster
from tests.cluster.controller_process import RunningController, install_lattice_for_tests, service_account_kubeconfig
from tests.cluster.faults import FaultProxy
from tests.cluster.kube import wait_for
from tests.cluster.test_controller import LATTICE, NAMESPACE, _phase, service

SERVICES = [f"faulty-{k}" for k in range(8)]


@pytest.fixture(scope="module")
def proxy(cluster: Cluster, examples_fleet: FleetResult, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[FaultProxy, RunningController]]:
    install_lattice_for_tests(cluster, examples_fleet, NAMESPACE)
    assert cluster.plane is not None
    cluster.kube.apply({"apiVersion": LATTICE, "kind": "ImageProvider", "metadata": {"name": "example"},
                        "spec": {"registry": "registry.example.com", "trust": {"enforce": False}}})
    folder = tmp_path_factory.mktemp("faults")
    pair = cluster.plane.serving_ca.issue("fault-proxy", "fault-proxy", ips=("127.0.0.1",))
    faults = FaultProxy(cluster.plane.server, cluster.plane.serving_ca.pair.cert, pair.cert, pair.key)
    faults.start()
    kubeconfig = service_account_kubeconfig(cluster.kube, cluster.kubeconfig, folder)
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = faults.url
    through_proxy = folder / "through-proxy.kubeconfig"
    through_proxy.write_text(yaml.safe_dump(config))
    running = RunningController(Path(through_proxy), "--standalone")
    wait_for("the controller's /healthz", running.healthy, timeout=30)
    yield faults, running
    running.stop()
    faults.stop()


@pytest.mark.timeout(300)
def test_the_controller_converges_through_conflicts_errors_timeouts_and_cut_watches(
        cluster: Cluster, proxy: tuple[FaultProxy, RunningController]) -> None:
    faults, controller = proxy
    faults.faults = True
    for name in SERVICES:
        cluster.kube.apply(service(name))  # straight to the API server: only the controller's path is faulty
    try:
        for name in SERVICES:
            wait_for(f"{name} to be Ready through the faults", lambda name=name: _phase(cluster, name, "Ready"),
                     timeout=180)
    except TimeoutError:
        print(controller.tail(80))
        raise
    finally:
        faults.faults = False
    assert {"conflict", "server-error", "timeout", "dropped", "watch-cut"} <= set(faults.injected), faults.injected
    # None lost, none duplicated: each service has exactly the objects its status counts, once each.
    for name in SERVICES:
        status = cluster.kube.get(LATTICE, "LatticeService", name, NAMESPACE)["status"]
        kinds: Counter[str] = Counter()
        for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount"),
                                  ("cilium.io/v2", "CiliumNetworkPolicy"),
                                  ("security.istio.io/v1", "AuthorizationPolicy"),
                                  ("policy/v1", "PodDisruptionBudget")):
            owned = [o for o in cluster.kube.list(api_version, kind, NAMESPACE)
                     if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == name]
            kinds[kind] = len(owned)
        expected = {k: v for k, v in status["compiledResources"]["kinds"].items() if k in kinds}
        assert dict(kinds) == {**dict.fromkeys(kinds, 0), **expected}, (name, kinds, expected)


def test_an_error_event_in_a_watch_does_not_stop_the_controller(
        cluster: Cluster, proxy: tuple[FaultProxy, RunningController]) -> None:
    """kopf ends the operator on a watch ERROR other than 410 Gone (its `continuous_watch`); the controller
    starts its watches again in the same process, keeping what it knows, and goes on reconciling."""
    faults, controller = proxy
    faults.watch_errors = 3
    faults.cut_watches()  # the watches open now are quiet for minutes: the next ones get the errors
    wait_for("the injected watch errors to be served", lambda: faults.injected["watch-error"] >= 3 or None,
             timeout=120)
    cluster.kube.apply(service("after-watch-error"))
    try:
        wait_for("a new service to be Ready after the watch errors",
                 lambda: _phase(cluster, "after-watch-error", "Ready"), timeout=90)
    except TimeoutError:
        print(f"controller exit code: {controller.process.poll()}\n{controller.tail(80)}")
        raise
    assert controller.process.poll() is None, controller.tail(80)  # the same process, never exited
    assert "starting the watches again" in controller.log.read_text()
    assert 'lattice_reconcile_failures_total{reason="watch"}' in controller.metrics()
