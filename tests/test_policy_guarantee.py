"""The headline guarantee, proven from the output alone: the emitted CiliumNetworkPolicies let exactly the
bilaterally agreed pod pairs connect, on exactly the callee's ports, and the AuthorizationPolicies admit
exactly the agreed callers' identities. The expectation is computed straight from the input documents."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.fleet import FleetResult, Sourced, compile_fleet
from tests.conftest import EXAMPLES, GOLDEN_INPUTS, load_fleet
from tests.policy_checker import Pod, l4_matrix, l7_matrix
from tests.support.schemas import assert_valid

TRUST = "cluster.local"
HBONE = 15008
STRANGER = Pod(("elsewhere", "stranger"), "elsewhere", (("app.kubernetes.io/name", "stranger"),),
               "ns/elsewhere/sa/stranger")


def _in(trust: str, pod: Pod) -> Pod:
    """The pod with its principal in the given trust domain."""
    return Pod(pod.key, pod.namespace, pod.labels, f"{trust}/{pod.principal}")


def _spec_parts(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ports, resources) of a LatticeService or LatticeMeshMember document."""
    spec = doc["spec"]
    if doc["kind"] == "LatticeService":
        workload = spec["workload"]
        return (workload.get("service") or {}).get("ports", {}), workload.get("resources", {})
    return spec.get("ports", {}), spec.get("resources", {})


def _target_ports(ports: dict[str, Any]) -> set[int]:
    return {p.get("targetPort") or p["port"] for p in ports.values()}


def _metrics_port(ports: dict[str, Any]) -> int | None:
    for name in ("metrics", "http", *ports):
        if name in ports:
            return int(ports[name].get("targetPort") or ports[name]["port"])
    return None


def _platform(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next((d["spec"] for d in docs if d["kind"] == "LatticePlatform"), {})


def scraper(docs: list[dict[str, Any]], trust: str = TRUST) -> Pod:
    """The scraper's pods as its operator runs them: the VictoriaMetrics operator names a VMAgent N's account
    `vmagent-N` and labels its pods `app.kubernetes.io/name: vmagent`; prometheus-operator labels them
    `app.kubernetes.io/name: prometheus` (account `prometheus-N`, kube-prometheus' convention); both add
    `app.kubernetes.io/instance: N`. Explicit platform settings win."""
    metrics = _platform(docs).get("metrics", {})
    app = "prometheus" if metrics.get("stack") == "prometheus-operator" else "vmagent"
    name, namespace = metrics.get("scraper", "lattice"), metrics.get("namespace", "monitoring")
    labels = metrics.get("podLabels") or {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": name}
    account = metrics.get("serviceAccount") or f"{app}-{name}"
    return Pod((namespace, account), namespace, tuple(sorted(labels.items())),
               f"{trust}/ns/{namespace}/sa/{account}")


def _listener_ports(route: dict[str, Any]) -> set[int]:
    """HTTPS for a TLS route, HTTP for a plain one, and HTTP too for a TLS HTTPRoute's redirect."""
    tls, grpc = route.get("tls") is not None, route.get("kind") == "GRPCRoute"
    return ({443} if tls else set()) | ({80} if not tls or not grpc else set())


def expected(docs: list[dict[str, Any]], ambient: bool = True, trust: str = TRUST) -> tuple[set[Any], set[Any]]:
    """The bilateral matrix: L4 (src, dst, port) and L7 (principal, dst, port), from the specs alone."""
    scraping = scraper(docs, trust)
    workloads = {(d["metadata"].get("namespace", "default"), d["metadata"]["name"]): d for d in docs
                 if d["kind"] in ("LatticeService", "LatticeMeshMember")}
    outbound, inbound = set(), set()
    for key, doc in workloads.items():
        for name, dep in _spec_parts(doc)[1].items():
            if dep.get("type") != "service":
                continue
            target = (dep.get("namespace", key[0]), dep.get("id", name))
            direction = dep.get("direction", "outbound")
            if direction in ("outbound", "both"):
                outbound.add((key, target))
            if direction in ("inbound", "both"):
                inbound.add((target, key))
    l4, l7 = set(), set()
    for caller, callee in outbound & inbound:
        if caller not in workloads or callee not in workloads:
            continue
        ports = _target_ports(_spec_parts(workloads[callee])[0])
        hbone = {HBONE} if ambient and ports else set()
        l4 |= {(caller, callee, p) for p in ports | hbone}
        l7 |= {(_principal(workloads[caller], trust), callee, p) for p in ports}
    for key, doc in workloads.items():
        metrics = _metrics_port(_spec_parts(doc)[0]) if doc["kind"] == "LatticeService" else None
        if metrics is not None:
            l4 |= {(scraping.key, key, metrics)} | ({(scraping.key, key, HBONE)} if ambient else set())
            l7.add((scraping.principal, key, metrics))
        for route in ((doc["spec"].get("ingress") or {}).get("routes") or {}).values():
            ports = _spec_parts(doc)[0]
            name = route.get("port") or ("http" if "http" in ports else next(iter(ports)))
            port = int(ports[name].get("targetPort") or ports[name]["port"])
            gateway = _gateway(key[0], trust)
            l4 |= {(gateway.key, key, port)} | ({(gateway.key, key, HBONE)} if ambient else set())
            l7.add((gateway.principal, key, port))
            # The Gateway's own policy: anyone (clients outside the mesh) on its listener ports.
            l7 |= {("*", gateway.key, listener) for listener in _listener_ports(route)}
    return l4, l7


def _gateway(namespace: str, trust: str = TRUST) -> Pod:
    """The pods Istio runs for the namespace's Gateway `lattice-ingress` (class istio)."""
    return Pod((namespace, "lattice-ingress"), namespace,
               (("gateway.networking.k8s.io/gateway-name", "lattice-ingress"),),
               f"{trust}/ns/{namespace}/sa/lattice-ingress-istio")


def _principal(doc: dict[str, Any], trust: str = TRUST) -> str:
    namespace, name = doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]
    account = doc["spec"].get("serviceAccount", name) if doc["kind"] == "LatticeMeshMember" else name
    return f"{trust}/ns/{namespace}/sa/{account}"


def pods(result: FleetResult, docs: list[dict[str, Any]], trust: str = TRUST) -> list[Pod]:
    """Each workload's pods as the cluster would run them: Deployment pod templates, mesh members' pods."""
    out = [scraper(docs, trust), _in(trust, STRANGER), *(_gateway(ns, trust) for ns in sorted({
        d["metadata"]["namespace"] for d in docs if d["kind"] == "LatticeService" and d["spec"].get("ingress")}))]
    for obj in result.objects:
        if obj["kind"] == "Deployment":
            template = obj["spec"]["template"]
            namespace = obj["metadata"]["namespace"]
            out.append(Pod((namespace, obj["metadata"]["name"]), namespace,
                           tuple(sorted(template["metadata"]["labels"].items())),
                           f"{trust}/ns/{namespace}/sa/{template['spec']['serviceAccountName']}"))
    for doc in docs:
        if doc["kind"] == "LatticeMeshMember":
            namespace = doc["metadata"]["namespace"]
            out.append(Pod((namespace, doc["metadata"]["name"]), namespace,
                           tuple(sorted({**doc["spec"]["selector"], "helm.sh/chart": "x"}.items())),
                           _principal(doc, trust)))
    return out


def _port_universe(docs: list[dict[str, Any]]) -> set[tuple[int, str]]:
    ports = {(HBONE, "TCP"), (1, "TCP"), (53, "UDP")}
    for doc in docs:
        if doc["kind"] in ("LatticeService", "LatticeMeshMember"):
            ports |= {(p, "TCP") for p in _target_ports(_spec_parts(doc)[0])}
    return ports


def check(docs: list[dict[str, Any]]) -> FleetResult:
    result = compile_fleet([Sourced("generated", parse_resource(d)) for d in docs])
    assert result.errors == [] and all(s.ok for s in result.services), [s.errors for s in result.services]
    mesh = result.context.platform.mesh
    want_l4, want_l7 = expected(docs, ambient=mesh.mode == "ambient", trust=mesh.trust_domain)
    workload_pods = pods(result, docs, mesh.trust_domain)
    got_l4 = l4_matrix(result.objects, workload_pods, _port_universe(docs))
    # Pods in namespaces no policy governs (the scraper's, a stranger's) accept anything: only what reaches
    # the fleet's workloads is under test. The stranger must reach nothing.
    got_l4 = {edge for edge in got_l4 if edge[1] not in (scraper(docs).key, STRANGER.key)}
    assert got_l4 == want_l4
    mesh_spec = _platform(docs).get("mesh", {})
    root = mesh_spec.get("rootNamespace") or mesh_spec.get("controlPlaneNamespace", "istio-system")
    assert l7_matrix(result.objects, workload_pods, root) == want_l7
    return result


def _documents(*paths: Any) -> list[dict[str, Any]]:
    return [s.resource.model_dump(by_alias=True, exclude_none=True, mode="json") for s in load_fleet(*paths)]


def test_examples_allow_exactly_the_agreed_edges() -> None:
    check(_documents(EXAMPLES))


def test_ingress_gateway_reaches_exactly_the_routed_ports() -> None:
    check(_documents(GOLDEN_INPUTS / "ingress-routes.yaml"))


def test_sidecar_mesh_with_its_own_trust_domain() -> None:
    result = check(_documents(GOLDEN_INPUTS / "prometheus-operator.yaml"))
    assert result.context.platform.mesh.mode == "sidecar"


def test_acceptance_fleet_a_b_c_d() -> None:
    docs = _documents(GOLDEN_INPUTS / "graph-abcd.yaml")
    result = check(docs)
    want_l4, _ = expected(docs)
    assert {(a[1], b[1]) for a, b, _ in want_l4 if a[0] != "monitoring"} == {("a", "b")}
    warnings = {str(s.ref): [w.render() for w in s.warnings] for s in result.services}
    assert warnings["LatticeService billing/c"] == [
        "spec.workload.resources: shop/b declares billing/c as a callee, but billing/c does not declare it back, "
        "so no traffic is allowed between them (hint: add `b: {type: service, direction: inbound, namespace: shop}` "
        "under `spec.workload.resources` to allow it)"]
    assert warnings["LatticeService shop/d"] == []


# --- generated fleets ---------------------------------------------------------------------------------

NAMES = [f"s{i}" for i in range(60)]
NAMESPACES = ["alpha", "beta", "gamma"]


@st.composite
def fleets(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(2, 60))
    keys = [(draw(st.sampled_from(NAMESPACES)), NAMES[i]) for i in range(count)]
    docs = []
    for i, (namespace, name) in enumerate(keys):
        resources: dict[str, Any] = {}
        for j in draw(st.lists(st.integers(0, count - 1), max_size=5, unique=True)):
            if j == i:
                continue
            other_ns, other = keys[j]
            entry: dict[str, Any] = {"type": "service",
                                     "direction": draw(st.sampled_from(["outbound", "inbound", "both"]))}
            if other_ns != namespace:
                entry["namespace"] = other_ns
            alias = draw(st.booleans())
            resources[f"dep-{other}" if alias else other] = {**entry, "id": other} if alias else entry
        if draw(st.integers(0, 4)) == 0:
            resources["partner"] = {"type": "external-service", "params": {"endpoints": {
                "api": draw(st.sampled_from(["https://api.partner.io", "tcp://10.9.8.7:5432"]))}}}
        ports = {"http": {"port": 8080 + i % 3}}
        if draw(st.booleans()):
            ports["metrics"] = {"port": 9090}
        if draw(st.integers(0, 5)) == 0:
            docs.append({"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeMeshMember",
                         "metadata": {"name": name, "namespace": namespace},
                         "spec": {"selector": {"app": f"helm-{name}"}, "ports": ports, "resources": resources}})
            continue
        docs.append({"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
                     "metadata": {"name": name, "namespace": namespace},
                     "spec": {"workload": {
                         "containers": {"main": {"image": "registry.example.com/app:1",
                                                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
                         "service": {"ports": ports}, "resources": resources}}})
    return docs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleets())
def test_generated_fleets_allow_exactly_the_agreed_edges(docs: list[dict[str, Any]]) -> None:
    result = check(docs)
    assert_valid(result.objects)
