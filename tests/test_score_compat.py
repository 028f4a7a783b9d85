"""Inputs written for Score (score.dev) compile as Score means them: bare commands, `$$`, TCP metrics ports,
emptyDir volumes, containers without limits, and peers reported as failed when they failed.

Each test builds a small LatticeService, compiles it through the real fleet compiler and checks the objects.
"""

from __future__ import annotations

from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.compiler.meta import Obj
from lattice.errors import LatticeError
from lattice.fleet import FleetResult, Sourced
from tests.support.gates import compile_fleet

IMAGE = "registry.example.com/team/app:1.0"
LIMITS = {"limits": {"cpu": "500m", "memory": "256Mi"}}


def service(name: str = "app", namespace: str = "demo", *, container: dict[str, Any] | None = None,
            **workload: Any) -> dict[str, Any]:
    spec_workload = {"containers": {"main": {"image": IMAGE, "resources": LIMITS, **(container or {})}}, **workload}
    replicas = spec_workload.pop("replicas", None)
    spec: dict[str, Any] = {"workload": spec_workload}
    if replicas is not None:
        spec["replicas"] = replicas
    for key in ("autoscaling",):
        if key in spec_workload:
            spec[key] = spec_workload.pop(key)
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def compile_docs(*docs: dict[str, Any]) -> FleetResult:
    return compile_fleet([Sourced("test.yaml", parse_resource(doc)) for doc in docs])


def only(result: FleetResult, kind: str, name: str | None = None) -> Obj:
    found = [o for s in result.services for o in s.objects
             if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [s.errors for s in result.services])
    return found[0]


def pod_spec(result: FleetResult) -> Obj:
    spec: Obj = only(result, "Deployment")["spec"]["template"]["spec"]
    return spec


def test_command_may_name_a_program_on_the_images_path() -> None:
    """The runtime resolves `command[0]` through the image's PATH without a shell (Kubernetes' own example:
    `command: ["printenv"]`), so a bare name is not an error."""
    result = compile_docs(service(container={"command": ["printenv"], "args": ["HOSTNAME"]}))
    assert result.ok, [s.errors for s in result.services]
    assert pod_spec(result)["containers"][0]["command"] == ["printenv"]


def test_double_dollar_is_one_literal_dollar_in_variables_and_args() -> None:
    result = compile_docs(service(container={
        "variables": {"PRICE": "costs $$5", "LONE": "a $ sign", "TEMPLATE": "$${HOME}", "PID": "$$$$"},
        "args": ["-c", "echo $${FRIEND} $$HOME"],
    }))
    assert result.ok, [s.errors for s in result.services]
    env = only(result, "ConfigMap", "app-main-env")["data"]
    assert env == {"PRICE": "costs $5", "LONE": "a $ sign", "TEMPLATE": "${HOME}", "PID": "$$"}
    assert pod_spec(result)["containers"][0]["args"] == ["-c", "echo ${FRIEND} $HOME"]


def test_metrics_are_never_scraped_from_a_udp_port() -> None:
    """A `metrics` port receiving StatsD over UDP is not an HTTP endpoint: the scrape uses the TCP `http` port,
    and the policy admits the scraper there and nowhere else."""
    result = compile_docs(service(service={"ports": {"metrics": {"port": 8125, "protocol": "UDP"},
                                                     "http": {"port": 8080}}}))
    assert result.ok
    assert only(result, "VMServiceScrape")["spec"]["endpoints"][0]["port"] == "http"
    ingress = only(result, "CiliumNetworkPolicy")["spec"]["ingress"]
    scraper_rules = [rule for rule in ingress
                     if any("vmagent" in str(sel) for sel in rule.get("fromEndpoints", []))]
    admitted = {(port["port"], port["protocol"]) for rule in scraper_rules for p in rule["toPorts"]
                for port in p["ports"]}
    assert admitted == {("8080", "TCP"), ("15008", "TCP")}  # the http port, and HBONE in ambient mode


def test_a_service_with_only_udp_ports_gets_no_scrape_target_and_says_why() -> None:
    result = compile_docs(service(service={"ports": {"dns": {"port": 53, "protocol": "UDP"}}}))
    outcome = result.services[0]
    assert outcome.ok
    assert not [o for o in outcome.objects if o["kind"] == "VMServiceScrape"]
    assert [w.render() for w in outcome.warnings] == [
        "spec.workload.service.ports: no TCP port is declared (metrics are read over HTTP), so the service has no "
        "metrics scrape target (hint: declare a `metrics` port (e.g. `metrics: {port: 9090}`) so the platform can "
        "observe it)"]


# --- volumes ------------------------------------------------------------------------------------------------

def test_a_volume_resource_with_neither_size_nor_id_is_a_shared_emptydir_not_a_missing_claim() -> None:
    result = compile_docs(service(
        container={"volumes": {"/shared": {"source": "${resources.scratch}"}}},
        resources={"scratch": {"type": "volume"}}))
    assert result.ok, [s.errors for s in result.services]
    assert not [o for s in result.services for o in s.objects if o["kind"] == "PersistentVolumeClaim"]
    assert {"name": "vol-scratch", "emptyDir": {}} in pod_spec(result)["volumes"]


def test_a_mount_without_source_is_the_containers_own_emptydir() -> None:
    result = compile_docs(service(container={"volumes": {"/var/cache/nginx": {}, "/run": {"medium": "Memory"}}}))
    assert result.ok, [s.errors for s in result.services]
    spec = pod_spec(result)
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v["emptyDir"] for v in spec["volumes"]}
    assert volumes[mounts["/var/cache/nginx"]] == {}
    assert volumes[mounts["/run"]] == {"medium": "Memory"}
    assert len(set(mounts.values())) == len(mounts)


def test_emptydir_names_differ_for_paths_that_read_alike() -> None:
    result = compile_docs(service(container={"volumes": {"/a-b": {}, "/a/b": {}, "/A/b": {}}}))
    assert result.ok
    names = [m["name"] for m in pod_spec(result)["containers"][0]["volumeMounts"] if m["mountPath"] != "/tmp"]
    assert len(set(names)) == 3


def test_tmp_emptydir_is_the_platforms_own_and_says_so() -> None:
    result = compile_docs(service(container={"volumes": {"/tmp": {}}}))
    outcome = result.services[0]
    assert outcome.ok
    assert [m for m in pod_spec(result)["containers"][0]["volumeMounts"] if m["mountPath"] == "/tmp"] == [
        {"name": "tmp", "mountPath": "/tmp"}]
    assert [w.render() for w in outcome.warnings if "/tmp" in w.path] == [
        "spec.workload.containers.main.volumes./tmp: the platform already mounts a writable emptyDir at `/tmp` in "
        "every container, so this entry changes nothing (hint: remove `/tmp: {}`)"]


def _strategy(result: FleetResult) -> Obj:
    strategy: Obj = only(result, "Deployment")["spec"]["strategy"]
    return strategy


def test_one_pod_with_a_readwriteonce_claim_is_recreated_not_surged() -> None:
    """A surge would start a second pod that, on another node, can never attach the claim."""
    for mode in ("ReadWriteOnce", "ReadWriteOncePod", None):
        params: dict[str, Any] = {"size": "1Gi", **({"accessMode": mode} if mode else {})}
        result = compile_docs(service(container={"volumes": {"/data": {"source": "${resources.data}"}}},
                                      resources={"data": {"type": "volume", "params": params}}))
        assert result.ok, [s.errors for s in result.services]
        assert _strategy(result) == {"type": "Recreate"}


def test_claims_many_nodes_attach_keep_the_rolling_update() -> None:
    result = compile_docs(service(
        replicas=3,
        container={"volumes": {"/data": {"source": "${resources.data}"}, "/ro": {"source": "${resources.ro}"}}},
        resources={"data": {"type": "volume", "params": {"size": "1Gi", "accessMode": "ReadWriteMany"}},
                   "ro": {"type": "volume", "id": "assets", "params": {"accessMode": "ReadOnlyMany"}}}))
    assert result.ok, [s.errors for s in result.services]
    assert _strategy(result)["type"] == "RollingUpdate"


def test_an_unmounted_readwriteonce_claim_does_not_constrain_the_rollout() -> None:
    result = compile_docs(service(replicas=2, resources={"data": {"type": "volume", "params": {"size": "1Gi"}}}))
    assert result.ok
    assert _strategy(result)["type"] == "RollingUpdate"


def test_an_autoscaler_capped_at_one_pod_may_mount_a_readwriteonce_claim() -> None:
    result = compile_docs(service(autoscaling={"max": 1},
                                  container={"volumes": {"/data": {"source": "${resources.data}"}}},
                                  resources={"data": {"type": "volume", "params": {"size": "1Gi"}}}))
    assert result.ok, [s.errors for s in result.services]
    assert _strategy(result) == {"type": "Recreate"}


# --- containers without limits -------------------------------------------------------------------------------

def _platform(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
            "spec": spec}


def _no_resources() -> dict[str, Any]:
    doc = service()
    del doc["spec"]["workload"]["containers"]["main"]["resources"]
    return doc


def test_a_container_without_resources_runs_under_the_platform_defaults_with_a_warning() -> None:
    result = compile_docs(_no_resources())
    outcome = result.services[0]
    assert outcome.ok, outcome.errors
    assert pod_spec(result)["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "500m", "memory": "512Mi"}}
    assert [w.render() for w in outcome.warnings if "resources" in w.path] == [
        "spec.workload.containers.main.resources.limits: no limits are set, so the container runs under the "
        "platform's defaults (cpu: 500m, memory: 512Mi), and quotas count them; a request not given equals its "
        "limit (hint: set what the container needs, e.g. `limits: {cpu: 500m, memory: 512Mi}` under `resources`)"]


def test_the_platform_sets_the_default_limits_and_a_container_keeps_its_own() -> None:
    doc = service(container={"resources": {"limits": {"cpu": "2"}, "requests": {"memory": "64Mi"}}})
    platform = _platform(defaults={"resources": {"limits": {"cpu": "250m", "memory": "128Mi"}}})
    result = compile_docs(doc, platform)
    outcome = result.services[0]
    assert outcome.ok, outcome.errors
    assert pod_spec(result)["containers"][0]["resources"] == {
        "limits": {"cpu": "2", "memory": "128Mi"}, "requests": {"cpu": "2", "memory": "64Mi"}}
    assert [w.message for w in outcome.warnings if "resources" in w.path] == [
        "no memory limit is set, so the container runs under the platform's default (memory: 128Mi), and quotas "
        "count it; a request not given equals its limit"]


def test_a_container_with_its_own_limits_gets_no_warning() -> None:
    outcome = compile_docs(service(service={"ports": {"http": {"port": 8080}}})).services[0]
    assert outcome.ok and outcome.warnings == []


# --- registry credentials ------------------------------------------------------------------------------------

def _image_provider(**credentials: Any) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider", "metadata": {"name": "team"},
            "spec": {"registry": "registry.example.com", "credentials": {"provider": "vault", **credentials}}}


def test_image_credentials_may_name_a_ready_dockerconfigjson() -> None:
    """Synced as it is: no template renders it (a template without `data` keeps the fetched keys)."""
    result = compile_docs(service(), _image_provider(path="ci/registry", dockerConfigJsonKey="config.json"))
    pull = only(result, "ExternalSecret", "app-pull-team")["spec"]
    assert pull["data"] == [{"secretKey": ".dockerconfigjson",
                             "remoteRef": {"key": "ci/registry", "property": "config.json"}}]
    assert pull["target"]["template"]["type"] == "kubernetes.io/dockerconfigjson"
    assert "data" not in pull["target"]["template"]
    assert pod_spec(result)["imagePullSecrets"] == [{"name": "app-pull-team"}]


def test_image_credentials_without_a_ready_config_render_one_from_username_and_password() -> None:
    pull = only(compile_docs(service(), _image_provider(path="ci/registry")), "ExternalSecret", "app-pull-team")
    assert [d["secretKey"] for d in pull["spec"]["data"]] == ["password", "username"]
    assert set(pull["spec"]["target"]["template"]["data"]) == {".dockerconfigjson"}


def test_a_dockerconfigjson_key_must_be_a_secret_key() -> None:
    with pytest.raises(LatticeError) as caught:
        parse_resource(_image_provider(path="ci/registry", dockerConfigJsonKey="config json"))
    assert [p.render() for p in caught.value.problems] == [
        "spec.credentials.dockerConfigJsonKey: `config json` cannot be a key of a secret (hint: use letters, "
        "digits, '-', '_' and '.', e.g. `.dockerconfigjson`)"]


# --- peers that failed ------------------------------------------------------------------------------------------

def _peer(name: str, **resources: Any) -> dict[str, Any]:
    return service(name, service={"ports": {"http": {"port": 8080}}}, resources=resources)


def test_a_peer_that_failed_to_compile_is_reported_as_failed() -> None:
    broken = _peer("orders", shop={"type": "service", "direction": "inbound"})
    broken["spec"]["workload"]["containers"]["main"]["variables"] = {"X": "${resources.nope.host}"}
    result = compile_docs(_peer("shop", orders={"type": "service"}), broken)
    shop = next(s for s in result.services if s.ref.name == "shop")
    assert shop.ok
    assert [w.render() for w in shop.warnings] == [
        "spec.workload.resources.orders: demo/orders failed to compile (its errors are reported with it), so no "
        "traffic flows between demo/shop and demo/orders until it compiles (hint: fix the errors of demo/orders)"]


def test_a_peer_defined_twice_is_reported_as_failed_not_as_missing() -> None:
    orders = _peer("orders", shop={"type": "service", "direction": "inbound"})
    result = compile_docs(_peer("shop", orders={"type": "service"}), orders, orders)
    shop = next(s for s in result.services if s.ref.name == "shop")
    assert [w.message for w in shop.warnings] == [
        "demo/orders failed to compile (its errors are reported with it), so no traffic flows between demo/shop "
        "and demo/orders until it compiles"]


def test_a_peer_missing_from_the_fleet_is_still_one_sided() -> None:
    result = compile_docs(_peer("shop", orders={"type": "service"}))
    assert [w.message for w in result.services[0].warnings] == [
        "demo/shop calls demo/orders, but demo/orders has not agreed, so no traffic is allowed between them"]


def test_a_score_workload_metadata_is_told_where_each_part_goes() -> None:
    doc = service(metadata={"name": "app", "annotations": {"team": "a"}})
    with pytest.raises(LatticeError) as caught:
        parse_resource(doc)
    assert [p.render() for p in caught.value.problems] == [
        "spec.workload.metadata: `metadata` belongs to the object, not to its workload: the object's `metadata.name` "
        "names the workload (hint: move `name`, `labels` and `annotations` to the top-level `metadata` (labels for "
        "the pods alone go under `spec.workload.labels`), then remove `spec.workload.metadata`)"]
