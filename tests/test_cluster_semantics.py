"""What a real Cilium + Istio cluster needs from the output, beyond what the schemas say: each test reads the
emitted objects the way the component that acts on them would (istio-cni, istiod, ztunnel, Cilium's DNS
proxy, the metrics operators), so that a fleet applied to a cluster becomes Ready and its traffic flows."""

from __future__ import annotations

from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.fleet import FleetResult, Sourced
from tests.conftest import GOLDEN_INPUTS, load_fleet
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

PROBE_SOURCE = "169.254.7.127/32"
CONTROL_PLANE_PORT = "15012"


def _platform(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
            "spec": spec}


def _service(name: str, namespace: str = "shop", **workload: Any) -> dict[str, Any]:
    spec = {"containers": {"main": {"image": "registry.example.com/app:1",
                                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
            "service": {"ports": {"http": {"port": 8080}}}}
    spec.update(workload)
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"workload": spec}}


def _compile(*docs: dict[str, Any]) -> FleetResult:
    result = compile_fleet([Sourced("test", parse_resource(d)) for d in docs])
    assert result.errors == [] and all(s.ok for s in result.services), [s.errors for s in result.services]
    assert_valid(result.objects)
    return result


def _one(result: FleetResult, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in result.objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, found)
    return found[0]


def _probe_rules(cnp: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in cnp["spec"]["ingress"] if "fromCIDR" in r]


def _ports(rule: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["port"], p["protocol"]) for tp in rule["toPorts"] for p in tp["ports"]]


# --- A.1: kubelet probes in ambient mode ----------------------------------------------------------------

def test_ambient_probes_are_admitted_from_istio_cnis_address_on_exactly_the_probed_ports() -> None:
    main = {"image": "registry.example.com/app:1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "admin"}},
            "startupProbe": {"grpc": {"port": 7000}},
            "readinessProbe": {"exec": {"command": ["/bin/ready"]}}}
    side = {"image": "registry.example.com/side:1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "livenessProbe": {"tcpSocket": {"port": 9901}}}
    result = _compile(_service("probed", containers={"main": main, "side": side},
                               service={"ports": {"http": {"port": 80, "targetPort": 8080},
                                                  "admin": {"port": 9000}}}))
    cnp = _one(result, "CiliumNetworkPolicy", "probed")
    rules = _probe_rules(cnp)
    assert [r["fromCIDR"] for r in rules] == [[PROBE_SOURCE]]
    # The named port resolves to its container port; exec needs no port; no default readiness probe here.
    assert _ports(rules[0]) == [("7000", "TCP"), ("9000", "TCP"), ("9901", "TCP")]


def _kubelet_ports(template: dict[str, Any]) -> list[tuple[str, str]]:
    """The ports the kubelet will connect to, read from the pod template as the kubelet reads it."""
    found = set()
    for container in template["spec"]["containers"]:
        named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        for field in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(field) or {}
            handler = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
            if handler is not None:
                port = handler["port"]
                found.add(named[port] if isinstance(port, str) else port)
    return [(str(port), "TCP") for port in sorted(found)]


@pytest.mark.parametrize("fleet", ["examples", "security-and-storage", "worker-no-ports"])
def test_every_ambient_pod_admits_the_kubelet_on_exactly_the_ports_it_probes(
        fleet: str, examples_fleet: FleetResult) -> None:
    result = examples_fleet if fleet == "examples" else compile_fleet(load_fleet(GOLDEN_INPUTS / f"{fleet}.yaml"))
    deployments = [o for o in result.objects if o["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        cnp = _one(result, "CiliumNetworkPolicy", deployment["metadata"]["name"])
        probed = _kubelet_ports(deployment["spec"]["template"])
        assert [_ports(r) for r in _probe_rules(cnp)] == ([probed] if probed else []), deployment["metadata"]


def test_the_default_readiness_probe_is_admitted_on_the_first_container_port() -> None:
    result = _compile(_service("plain", service={"ports": {"web": {"port": 80, "targetPort": 8080}}}))
    assert [_ports(r) for r in _probe_rules(_one(result, "CiliumNetworkPolicy", "plain"))] == [[("8080", "TCP")]]


def test_sidecar_probes_need_no_extra_rule() -> None:
    """The sidecar rewrites probes to its own agent port, which the kubelet reaches from `host`."""
    result = _compile(_platform(mesh={"mode": "sidecar"}), _service("plain"))
    assert _probe_rules(_one(result, "CiliumNetworkPolicy", "plain")) == []


def test_a_mesh_member_admits_probes_on_its_declared_tcp_ports() -> None:
    member = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeMeshMember",
              "metadata": {"name": "db", "namespace": "shop"},
              "spec": {"selector": {"app": "db"},
                       "ports": {"pg": {"port": 5432}, "stats": {"port": 8125, "protocol": "UDP"}}}}
    result = _compile(member)
    assert [_ports(r) for r in _probe_rules(_one(result, "CiliumNetworkPolicy", "db"))] == [[("5432", "TCP")]]


def test_the_cluster_default_deny_admits_only_host_so_workload_policies_must_admit_the_probe_source() -> None:
    deny = _one(_compile(_service("plain")), "CiliumClusterwideNetworkPolicy", "lattice-default-deny")
    assert deny["spec"]["ingress"] == [{"fromEntities": ["host"]}]


# --- A.2: mesh enrollment ---------------------------------------------------------------------------------

def _templates(result: FleetResult) -> list[dict[str, Any]]:
    return [o["spec"]["template"]["metadata"] for o in result.objects if o["kind"] == "Deployment"]


def test_every_compiled_pod_is_enrolled_in_the_ambient_mesh(examples_fleet: FleetResult) -> None:
    templates = _templates(examples_fleet)
    assert len(templates) == sum(s.ref.kind == "LatticeService" for s in examples_fleet.services) == 6
    for meta in templates:
        assert meta["labels"]["istio.io/dataplane-mode"] == "ambient"
        assert "sidecar.istio.io/inject" not in meta["labels"]
        # Cilium's DNS proxy, not ztunnel, answers the pod: toFQDNs learns addresses from what it sees.
        assert meta["annotations"]["ambient.istio.io/dns-capture"] == "false"


def test_every_compiled_pod_gets_a_sidecar_in_sidecar_mode() -> None:
    result = compile_fleet(load_fleet(GOLDEN_INPUTS / "prometheus-operator.yaml"))
    templates = _templates(result)
    assert len(templates) == 2
    for meta in templates:
        assert meta["labels"]["sidecar.istio.io/inject"] == "true"
        assert "istio.io/dataplane-mode" not in meta["labels"]
        assert "ambient.istio.io/dns-capture" not in meta["annotations"]


def test_a_users_label_cannot_take_a_pod_out_of_the_mesh() -> None:
    svc = _service("optout")
    svc["metadata"]["labels"] = {"team": "a", "istio.io/dataplane-mode": "none"}
    result = compile_fleet([Sourced("test", parse_resource(svc))])
    # The label is refused outright (a reserved prefix), so the pod can never run outside the mesh.
    assert [d.problem.path for d in result.errors] == ["metadata.labels.istio.io/dataplane-mode"]
    assert result.services == []
    del svc["metadata"]["labels"]["istio.io/dataplane-mode"]
    meta = _templates(_compile(svc))[0]
    assert meta["labels"]["istio.io/dataplane-mode"] == "ambient" and meta["labels"]["team"] == "a"


# --- A.3, A.6 and HTTP-01: the ingress Gateway ------------------------------------------------------------

@pytest.fixture(scope="module")
def ingress_fleet() -> FleetResult:
    result = compile_fleet(load_fleet(GOLDEN_INPUTS / "ingress-routes.yaml"))
    assert_valid(result.objects)
    return result


def test_the_gateway_has_its_own_allow_policy_for_its_listener_ports(ingress_fleet: FleetResult) -> None:
    policies = [o for o in ingress_fleet.namespace_objects if o["kind"] == "AuthorizationPolicy"]
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert policies[0]["metadata"]["namespace"] == "edge"
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                   "name": "lattice-ingress"}]
    assert "selector" not in spec and spec["action"] == "ALLOW"
    gateway = next(o for o in ingress_fleet.namespace_objects if o["kind"] == "Gateway")
    listener_ports = sorted({listener["port"] for listener in gateway["spec"]["listeners"]})
    assert listener_ports == [80, 443]
    assert spec["rules"] == [{"to": [{"operation": {"ports": [str(p) for p in listener_ports]}}]}]


def test_gateway_ingress_admits_load_balancer_traffic_forwarded_by_another_node(ingress_fleet: FleetResult) -> None:
    cnp = next(o for o in ingress_fleet.namespace_objects
               if o["kind"] == "CiliumNetworkPolicy" and o["metadata"]["name"] == "lattice-ingress")
    assert [sorted(r["fromEntities"]) for r in cnp["spec"]["ingress"] if "fromEntities" in r] == [
        ["remote-node", "world"]]


def test_cert_managers_self_check_reaches_the_gateway_on_port_80(ingress_fleet: FleetResult) -> None:
    """cert-manager fetches the challenge itself, from its pod, before the ACME server may: that request keeps
    the pod's identity (the load-balancer address is translated inside the cluster), so the Gateway admits
    cert-manager's namespace on the plain-HTTP listener, and nothing else from inside the cluster."""
    cnp = next(o for o in ingress_fleet.namespace_objects
               if o["kind"] == "CiliumNetworkPolicy" and o["metadata"]["name"] == "lattice-ingress")
    inside = [r for r in cnp["spec"]["ingress"] if "fromEntities" not in r]
    assert inside == [{"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "cert-manager"}}],
                       "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]
    moved = _platform(ingress={"certManagerNamespace": "certs"})
    web = _service("web", namespace="edge")
    web["spec"]["ingress"] = {"routes": {"site": {"hosts": ["a.example.com"], "tls": {"issuer": "le"}}}}
    result = _compile(moved, web)
    cnp = next(o for o in result.namespace_objects
               if o["kind"] == "CiliumNetworkPolicy" and o["metadata"]["name"] == "lattice-ingress")
    assert [r["fromEndpoints"] for r in cnp["spec"]["ingress"] if "fromEndpoints" in r] == [
        [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "certs"}}]]
    deny = next(o for o in result.cluster_objects if o["kind"] == "CiliumClusterwideNetworkPolicy")
    assert "certs" in deny["spec"]["endpointSelector"]["matchExpressions"][1]["values"]


def _acme(result: FleetResult) -> list[dict[str, Any]]:
    return [o for o in result.namespace_objects if o["metadata"]["name"] == "lattice-ingress-acme-solver"]


def test_http01_solver_pods_are_reachable_from_the_gateway_only(ingress_fleet: FleetResult) -> None:
    (solver,) = _acme(ingress_fleet)
    spec = solver["spec"]
    assert spec["endpointSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert spec["enableDefaultDeny"] == {"ingress": True, "egress": True}
    assert spec["ingress"] == [{"fromEndpoints": [{"matchLabels": {
        "gateway.networking.k8s.io/gateway-name": "lattice-ingress", "k8s:io.kubernetes.pod.namespace": "edge"}}],
        "toPorts": [{"ports": [{"port": "8089", "protocol": "TCP"}]}]}]
    assert spec["egress"] == [{}]
    gateway = next(o for o in ingress_fleet.namespace_objects
                   if o["kind"] == "CiliumNetworkPolicy" and o["metadata"]["name"] == "lattice-ingress")
    to_solver = [r for r in gateway["spec"]["egress"]
                 if any("acme.cert-manager.io/http01-solver" in s["matchLabels"] for s in r.get("toEndpoints", []))]
    assert [_ports(r) for r in to_solver] == [[("8089", "TCP")]]


def test_no_solver_policy_without_a_certificate_lattice_requests() -> None:
    svc = _service("web", namespace="edge")
    svc["spec"]["ingress"] = {"routes": {"site": {"hosts": ["a.example.com"], "tls": {"secretName": "own-tls"}}}}
    result = _compile(svc)
    assert not any(o["kind"] == "Certificate" for o in result.objects)
    assert _acme(result) == []
    cnp = next(o for o in result.namespace_objects
               if o["kind"] == "CiliumNetworkPolicy" and o["metadata"]["name"] == "lattice-ingress")
    assert all("fromEntities" in r for r in cnp["spec"]["ingress"])  # no self check without an issued certificate


# --- A.4: proxies dial istiod by name ---------------------------------------------------------------------

def _dns_names(cnp: dict[str, Any]) -> set[str]:
    return {rule["matchName"] for r in cnp["spec"]["egress"] for tp in r.get("toPorts", [])
            for rule in (tp.get("rules") or {}).get("dns", [])}


def _dials_istiod(cnp: dict[str, Any]) -> bool:
    return any(p["port"] == CONTROL_PLANE_PORT for r in cnp["spec"]["egress"] for tp in r.get("toPorts", [])
               for p in tp["ports"])


ISTIOD_FORMS = {"istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local",
                "istiod.istio-system.svc.svc.cluster.local"}


@pytest.mark.parametrize("mode", ["ambient", "sidecar"])
def test_every_policy_that_admits_istiod_also_resolves_its_name(mode: str) -> None:
    route = {"routes": {"site": {"hosts": ["a.example.com"]}}}
    web = _service("web", namespace="edge")
    web["spec"]["ingress"] = route
    result = _compile(_platform(mesh={"mode": mode}), web, _service("solo"))
    dialing = [o for o in result.objects if o["kind"] == "CiliumNetworkPolicy" and _dials_istiod(o)]
    names = sorted(o["metadata"]["name"] for o in dialing)
    # The gateway's proxy in both modes; every sidecar in sidecar mode; nobody else.
    assert names == (["lattice-ingress"] if mode == "ambient" else ["lattice-ingress", "solo", "web"])
    for cnp in dialing:
        namespace = cnp["metadata"]["namespace"]
        assert ISTIOD_FORMS | {f"istiod.istio-system.svc.{namespace}.svc.cluster.local"} <= _dns_names(cnp), cnp


def test_a_revisioned_control_plane_is_resolved_by_its_own_name() -> None:
    result = _compile(_platform(mesh={"mode": "sidecar", "controlPlaneService": "istiod-canary",
                                      "controlPlaneNamespace": "istio"}), _service("solo"))
    assert "istiod-canary.istio.svc.cluster.local" in _dns_names(_one(result, "CiliumNetworkPolicy", "solo"))


# --- Decision: the mesh root namespace is a platform setting ------------------------------------------

@pytest.mark.parametrize(("mesh", "root"), [({}, "istio-system"), ({"controlPlaneNamespace": "istio"}, "istio"),
                                            ({"rootNamespace": "mesh-root"}, "mesh-root")])
def test_mesh_wide_policies_go_to_the_root_namespace(mesh: dict[str, Any], root: str) -> None:
    result = _compile(_platform(mesh=mesh), _service("solo"))
    for kind, name in (("PeerAuthentication", "default"), ("AuthorizationPolicy", "allow-nothing")):
        assert _one(result, kind, name)["metadata"]["namespace"] == root


# --- A.10, A.11: scraping -----------------------------------------------------------------------------

def _scrape(result: FleetResult, name: str) -> dict[str, Any]:
    return next(o for o in result.objects if o["kind"] in ("VMServiceScrape", "ServiceMonitor")
                and o["metadata"]["name"] == name)


@pytest.mark.parametrize("stack", ["victoriametrics", "prometheus-operator"])
def test_sidecar_scrapes_speak_mtls_with_the_istio_certificates(stack: str) -> None:
    result = _compile(_platform(mesh={"mode": "sidecar"}, metrics={"stack": stack}), _service("solo"))
    (endpoint,) = _scrape(result, "solo")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == {"caFile": "/etc/prom-certs/root-cert.pem",
                                     "certFile": "/etc/prom-certs/cert-chain.pem",
                                     "keyFile": "/etc/prom-certs/key.pem", "insecureSkipVerify": True}


def test_ambient_scrapes_stay_plain_http_since_ztunnel_encrypts_them() -> None:
    (endpoint,) = _scrape(_compile(_service("solo")), "solo")["spec"]["endpoints"]
    assert "scheme" not in endpoint and "tlsConfig" not in endpoint


def _scraper_peer(result: FleetResult, name: str) -> tuple[dict[str, str], list[str]]:
    cnp = _one(result, "CiliumNetworkPolicy", name)
    policy = _one(result, "AuthorizationPolicy", name)
    (labels,) = [s["matchLabels"] for r in cnp["spec"]["ingress"] for s in r.get("fromEndpoints", [])]
    (principals,) = [f["source"]["principals"] for r in policy["spec"]["rules"] for f in r["from"]]
    return labels, principals


@pytest.mark.parametrize(("metrics", "labels", "account"), [
    ({}, {"app.kubernetes.io/name": "vmagent", "app.kubernetes.io/instance": "lattice"}, "vmagent-lattice"),
    ({"stack": "prometheus-operator", "scraper": "k8s"},
     {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "k8s"}, "prometheus-k8s"),
    ({"stack": "prometheus-operator", "serviceAccount": "prom", "podLabels": {"app": "prom"}},
     {"app": "prom"}, "prom"),
])
def test_the_scrapers_identity_follows_its_stack(metrics: dict[str, Any], labels: dict[str, str],
                                                  account: str) -> None:
    result = _compile(_platform(metrics=metrics), _service("solo"))
    got_labels, principals = _scraper_peer(result, "solo")
    assert got_labels == {**labels, "k8s:io.kubernetes.pod.namespace": "monitoring"}
    assert principals == [f"cluster.local/ns/monitoring/sa/{account}"]


# --- spec.workload.labels: on the pods, and no mesh member may select them ----------------------------------

def test_workload_labels_label_the_pods_and_a_mesh_member_cannot_select_by_them() -> None:
    svc = _service("orders", labels={"tier": "backend"})
    result = _compile(svc)
    (template,) = _templates(result)
    assert template["labels"]["tier"] == "backend"
    assert all("tier" not in o["metadata"].get("labels", {}) for o in result.objects)  # pods only
    member = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeMeshMember",
              "metadata": {"name": "sneaky", "namespace": "shop"},
              "spec": {"selector": {"tier": "backend"}, "ports": {"http": {"port": 8080}}}}
    mixed = compile_fleet([Sourced("t", parse_resource(svc)), Sourced("t", parse_resource(member))])
    assert [s.ref.name for s in mixed.services] == ["orders"]  # the member is refused before compiling
    assert [(d.ref.name, d.problem.render()) for d in mixed.errors] == [("sneaky",
        "spec.selector: the selector matches the pods of LatticeService shop/orders, which Lattice compiles; the "
        "member's policies would admit its peers there (hint: select the member's own pods by the labels its chart "
        "gives them)")]
