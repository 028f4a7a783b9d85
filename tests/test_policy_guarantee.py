"""The headline guarantee, proven from the output alone: the emitted CiliumNetworkPolicies let exactly the
bilaterally agreed pod pairs connect, on exactly the callee's ports, and the AuthorizationPolicies admit
exactly the agreed callers' identities. The expectation is computed straight from the input documents."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.fleet import FleetResult, Sourced
from tests.conftest import EXAMPLES, GOLDEN_INPUTS, load_fleet
from tests.policy_checker import (
    ANY,
    Outside,
    Peer,
    Pod,
    Port,
    direction_matrix,
    dns_names_allowed,
    l4_matrix,
    l7_matrix,
    policy_ports,
)
from tests.support.gates import compile_fleet
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
            named = tuple(sorted((p["name"], p["containerPort"]) for c in template["spec"]["containers"]
                                 for p in c.get("ports", [])))
            out.append(Pod((namespace, obj["metadata"]["name"]), namespace,
                           tuple(sorted(template["metadata"]["labels"].items())),
                           f"{trust}/ns/{namespace}/sa/{template['spec']['serviceAccountName']}", named))
    for doc in docs:
        if doc["kind"] == "LatticeMeshMember":
            namespace = doc["metadata"]["namespace"]
            out.append(Pod((namespace, doc["metadata"]["name"]), namespace,
                           tuple(sorted({**doc["spec"]["selector"], "helm.sh/chart": "x"}.items())),
                           _principal(doc, trust)))
    return out


def _port_universe(docs: list[dict[str, Any]]) -> set[tuple[int, str]]:
    ports = {(HBONE, "TCP"), (1, "TCP"), (53, "UDP"), (53, "TCP"), (15012, "TCP"), (80, "TCP"), (443, "TCP")}
    for doc in docs:
        if doc["kind"] in ("LatticeService", "LatticeMeshMember"):
            ports |= {(p, "TCP") for p in _target_ports(_spec_parts(doc)[0])}
    return ports


PROBE_SOURCE = Outside(("cidr", "169.254.7.127"), "world", "169.254.7.127")
"""Where istio-cni makes kubelet probes come from in ambient mode (Istio's Cilium prerequisites)."""
ISTIO_STATUS_PORT = 15021  # the readiness port of the pods Istio runs for a Gateway
OUTSIDERS = [
    Outside(("entity", "host"), "host"), Outside(("entity", "remote-node"), "remote-node"),
    Outside(("entity", "kube-apiserver"), "kube-apiserver"), PROBE_SOURCE,
    Outside(("world", "203.0.113.7"), "world", "203.0.113.7", ("evil.example.com",)),
    Outside(("world", "169.254.169.254"), "world", "169.254.169.254", ("metadata.google.internal",)),
    Outside(("world", "2001:db8::7"), "world", "2001:db8::7", ("evil6.example.com",)),
]
_DEFAULT_PORTS = {"https": 443, "http": 80, "grpc": 443, "tls": 443}


def external_peer(url: str) -> tuple[Outside, Port]:
    """The outside peer an endpoint URL names and the port it is reached on, read without the compiler."""
    scheme, _, rest = url.rpartition("://")
    if rest.startswith("["):  # [IPv6 address or CIDR]:port
        host, _, tail = rest[1:].partition("]")
        port = tail[1:].split("/", 1)[0] if tail.startswith(":") else ""
    else:
        host, _, port = rest.split("/", 1)[0].partition(":")
    number = int(port) if port else _DEFAULT_PORTS[scheme or "tcp"]
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        name = "bucket" + host[1:] if host.startswith("*.") else host  # a name the wildcard covers
        return Outside(("fqdn", host), "world", "198.51.100.9", (name,)), (number, "TCP")
    address = str(network.network_address if network.num_addresses == 1 else next(network.hosts()))
    return Outside(("cidr", host), "world", address), (number, "TCP")


def externals_of(doc: dict[str, Any]) -> list[tuple[Outside, Port]]:
    return [external_peer(url) for dep in _spec_parts(doc)[1].values() if dep.get("type") == "external-service"
            for url in (dep.get("params") or {}).get("endpoints", {}).values()]


def _platform_pods(result: FleetResult) -> tuple[Pod, Pod]:
    """kube-dns and istiod, as the platform describes their pods."""
    platform = result.context.platform
    dns = Pod(("dns", "kube-dns"), platform.dns.namespace, tuple(sorted(platform.dns.pod_labels.items())),
              "ns/kube-system/sa/coredns")
    mesh = platform.mesh
    istiod = Pod(("mesh", "istiod"), mesh.control_plane_namespace, tuple(sorted(mesh.control_plane_labels.items())),
                 f"ns/{mesh.control_plane_namespace}/sa/istiod")
    return dns, istiod


def _bystanders(result: FleetResult) -> list[Pod]:
    """Pods beside kube-dns and istiod that no rule names: a selector that loses its labels reaches them."""
    platform = result.context.platform
    return [Pod((ns, "bystander"), ns, (("app", "bystander"),), f"ns/{ns}/sa/bystander")
            for ns in sorted({platform.dns.namespace, platform.mesh.control_plane_namespace, "kube-system"})]


def _probe_ports(result: FleetResult, docs: list[dict[str, Any]]) -> dict[tuple[str, str], set[int]]:
    """The ports each Deployment's probes dial, named ports resolved through its containers' ports; a mesh
    member's probes are unknown, so each of its declared TCP ports may be probed."""
    out: dict[tuple[str, str], set[int]] = {}
    for doc in docs:
        if doc["kind"] == "LatticeMeshMember":
            key = (doc["metadata"].get("namespace", "default"), doc["metadata"]["name"])
            out[key] = {int(p.get("targetPort") or p["port"]) for p in doc["spec"].get("ports", {}).values()
                        if p.get("protocol", "TCP") == "TCP"}
    for obj in result.objects:
        if obj["kind"] != "Deployment":
            continue
        ports = out.setdefault((obj["metadata"]["namespace"], obj["metadata"]["name"]), set())
        for container in obj["spec"]["template"]["spec"]["containers"]:
            named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for field in ("livenessProbe", "readinessProbe", "startupProbe"):
                handler = container.get(field) or {}
                for kind in ("httpGet", "tcpSocket", "grpc"):
                    if kind in handler:
                        port = handler[kind]["port"]
                        ports.add(int(named.get(port, port)))
    return out


def check(docs: list[dict[str, Any]], edit: Callable[[FleetResult], None] | None = None) -> FleetResult:
    """Compile `docs` and prove the guarantee from the output; `edit` (tests of the checker itself) changes
    the emitted objects first, as a faulty compiler would."""
    result = compile_fleet([Sourced("generated", parse_resource(d)) for d in docs])
    assert result.errors == [] and all(s.ok for s in result.services), [s.errors for s in result.services]
    if edit is not None:
        edit(result)
    mesh = result.context.platform.mesh
    ambient = mesh.mode == "ambient"
    want_l4, want_l7 = expected(docs, ambient=ambient, trust=mesh.trust_domain)
    workload_pods = pods(result, docs, mesh.trust_domain)
    ports = _port_universe(docs) | policy_ports(result.objects)
    got_l4 = l4_matrix(result.objects, workload_pods, ports)
    # Pods in namespaces no policy governs (the scraper's) accept anything, and the stranger's namespace
    # denies by default: only what reaches the fleet's workloads is under test here. Each side is judged on
    # its own below, so an egress rule open to the stranger fails there.
    got_l4 = {edge for edge in got_l4 if edge[1] not in (scraper(docs).key, STRANGER.key)}
    assert got_l4 == want_l4
    # Each workload's own policy keeps it default-deny without the cluster-wide one, so a namespace exempt
    # from that one (the platform's dependencies, issue 7 A5) never opens a compiled workload.
    own = [o for o in result.objects if o["kind"] != "CiliumClusterwideNetworkPolicy"]
    for objects in (result.objects, own):
        check_egress(result, objects, docs, workload_pods, ports)
        check_ingress(result, objects, docs, workload_pods, ports)
    check_dns(result, docs, workload_pods)
    listen = _gateway_listeners(result)
    mesh_spec = _platform(docs).get("mesh", {})
    root = mesh_spec.get("rootNamespace") or mesh_spec.get("controlPlaneNamespace", "istio-system")
    got_l7 = l7_matrix(result.objects, workload_pods, root, ports={p for p, _ in ports})
    # The one identity-less admission: clients outside the mesh reach the Gateway's pods on its listeners.
    from_anyone = {e for e in got_l7 if e[0] == ANY}
    assert from_anyone <= {(ANY, gw, p) for gw, ports_ in listen.items() for p in ports_}, from_anyone
    assert got_l7 == want_l7  # `expected` states the Gateway's identity-less listeners too
    return result


def _gateway_listeners(result: FleetResult) -> dict[tuple[str, str], set[int]]:
    return {(o["metadata"]["namespace"], "lattice-ingress"): {int(listener["port"]) for listener in
                                                            o["spec"]["listeners"]}
            for o in result.objects if o["kind"] == "Gateway"}


def _workloads(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["metadata"].get("namespace", "default"), d["metadata"]["name"]): d for d in docs
            if d["kind"] in ("LatticeService", "LatticeMeshMember")}


def check_egress(result: FleetResult, objects: list[dict[str, Any]], docs: list[dict[str, Any]],
                 workload_pods: list[Pod], ports: set[Port]) -> None:
    """Each workload's own egress policy, whatever the destination's ingress says: agreed callees on their
    ports (and HBONE in ambient mode), its declared external endpoints on their ports, cluster DNS, and
    istiod's xDS port where a proxy runs beside it (sidecar mode). Nothing else: no other pod in or out of
    the fleet, no other address, no node."""
    ambient = result.context.platform.mesh.mode == "ambient"
    dns, istiod = _platform_pods(result)
    workloads = _workloads(docs)
    want_l4, _ = expected(docs, ambient=ambient, trust=result.context.platform.mesh.trust_domain)
    externals = {key: externals_of(doc) for key, doc in workloads.items()}
    outside = [*OUTSIDERS, *{peer for found in externals.values() for peer, _ in found}]
    peers: list[Peer] = [*workload_pods, dns, istiod, *_bystanders(result), *outside]
    ports = ports | {port for found in externals.values() for _, port in found}
    gateways = set(_gateway_listeners(result))
    subjects = [p for p in workload_pods if p.key in workloads or p.key in gateways]
    got = direction_matrix(objects, "egress", subjects, peers, ports)
    dns_edges = {(s.key, dns.key, (53, proto)) for s in subjects for proto in ("UDP", "TCP")}
    want = {(src, dst, (port, "TCP")) for src, dst, port in want_l4 if src in workloads or src in gateways}
    for key, found in externals.items():
        want |= {(key, peer.key, port) for peer, port in found}
    sidecar_or_gateway = [s.key for s in subjects if not ambient or s.key in gateways]
    want |= {(key, istiod.key, (15012, "TCP")) for key in sidecar_or_gateway}
    assert got - dns_edges == want
    # A workload that resolves a name must reach the DNS pods (the rule's name list is checked apart).
    # (istiod's name for proxies is issue 7 A4: pinned where it is emitted.)
    resolving = {src for src, dst, _ in want if src in workloads and dst in workloads} | \
        {key for key, found in externals.items() if any(peer.names for peer, _ in found)}
    assert {(k, dns.key, (53, "UDP")) for k in resolving} <= got


def check_ingress(result: FleetResult, objects: list[dict[str, Any]], docs: list[dict[str, Any]],
                  workload_pods: list[Pod], ports: set[Port]) -> None:
    """Each workload's own ingress policy: agreed callers, the scraper, the gateway (as computed by
    `expected`), and these stated exceptions only: the node (`host`: kubelet probes), the ambient probe source
    169.254.7.127 on the pod's probe ports, and for the Gateway's pods `world` and `remote-node` (load
    balancer traffic, forwarded by another node) on its listener ports."""
    ambient = result.context.platform.mesh.mode == "ambient"
    dns, istiod = _platform_pods(result)
    workloads = _workloads(docs)
    listen = _gateway_listeners(result)
    probes = _probe_ports(result, docs)
    want_l4, _ = expected(docs, ambient=ambient, trust=result.context.platform.mesh.trust_domain)
    peers: list[Peer] = [*workload_pods, dns, istiod, *_bystanders(result), *OUTSIDERS]
    ports = ports | {(p, "TCP") for found in probes.values() for p in found} | {(ISTIO_STATUS_PORT, "TCP")}
    subjects = [p for p in workload_pods if p.key in workloads or p.key in listen]
    got = direction_matrix(objects, "ingress", subjects, peers, ports)
    host = ("entity", "host")
    allowed_extra = {(s.key, host, port) for s in subjects for port in ports}
    allowed_extra |= {(key, PROBE_SOURCE.key, (p, "TCP")) for key, found in probes.items() for p in found}
    for gateway, listener_ports in listen.items():
        allowed_extra |= {(gateway, peer.key, (p, "TCP")) for p in listener_ports for peer in OUTSIDERS
                          if peer.entity in ("world", "remote-node")}
        allowed_extra.add((gateway, PROBE_SOURCE.key, (ISTIO_STATUS_PORT, "TCP")))
    want = {(dst, src, (port, "TCP")) for src, dst, port in want_l4}
    assert got - allowed_extra == want
    for gateway, listener_ports in listen.items():
        # clients outside the cluster must reach the listeners (through another node: issue 7 A6)
        assert {(gateway, ("world", "203.0.113.7"), (p, "TCP")) for p in listener_ports} <= got


def check_dns(result: FleetResult, docs: list[dict[str, Any]], workload_pods: list[Pod]) -> None:
    """The DNS proxy lets each workload resolve exactly its callees' names and its external hosts: never
    another fleet service's name or an arbitrary one (the names a proxy needs for istiod are the platform's)."""
    dns, _ = _platform_pods(result)
    ambient = result.context.platform.mesh.mode == "ambient"
    domain = result.context.platform.cluster_domain
    workloads = _workloads(docs)
    want_l4, _ = expected(docs, ambient=ambient, trust=result.context.platform.mesh.trust_domain)
    hosts = {key: f"{key[1]}.{key[0]}.svc.{domain}" for key in workloads}
    for pod in workload_pods:
        if pod.key not in workloads:
            continue
        callees = {dst for src, dst, _ in want_l4 if src == pod.key}
        names = {peer.names[0] for peer, _ in externals_of(workloads[pod.key]) if peer.names}
        candidates = set(hosts.values()) | names | {"evil.example.com", "evil.example.com.cluster.local"}
        allowed = dns_names_allowed(result.objects, pod, dns, candidates)
        want = {hosts[c] for c in callees if c in hosts} | names
        assert allowed == want, (pod.key, sorted(allowed ^ want))


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
                "api": draw(st.sampled_from([
                "https://api.partner.io", "tcp://10.9.8.7:5432", "db.partner.io:5432", "tcp://[2001:db8::5]:5432",
                "tcp://[10.30.0.0/16]:6379"]))}}}
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
