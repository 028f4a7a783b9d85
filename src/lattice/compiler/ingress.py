"""Ingress: Gateway API routes for `spec.ingress`, a per-namespace Gateway with a listener per host, and a
cert-manager Certificate for every TLS host. The gateway's identity becomes an agreed caller on the routed
port automatically (see peers.ingress_peers)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lattice.api.platform import LatticePlatformSpec
from lattice.api.service import LatticeService, Route
from lattice.compiler import naming, network_policy
from lattice.compiler.meta import Obj, owned
from lattice.compiler.peers import PortList
from lattice.compiler.resolve import primary_port_name
from lattice.errors import LatticeError, Problem


def route_port(svc: LatticeService, route: Route) -> str:
    """The service port a route sends to: the one it names, else `http`, else the first."""
    name = route.port or primary_port_name(svc.spec.workload.ports)
    assert name is not None  # a route without ports is refused by the model
    return name


def routed_ports(svc: LatticeService) -> PortList:
    if svc.spec.ingress is None:
        return ()
    ports = svc.spec.workload.ports
    found = set()
    for route in svc.spec.ingress.routes.values():
        port = ports[route_port(svc, route)]
        found.add((port.container_port, port.protocol))
    return tuple(sorted(found))


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    tls_secret: str | None
    issued: bool = False
    """The TLS Secret comes from a Certificate Lattice emits (cert-manager may solve HTTP-01 for it)."""


def _tls_secret(svc: LatticeService, route_name: str, route: Route) -> str | None:
    if route.tls is None:
        return None
    return route.tls.secret_name or naming.tls_secret(svc.name, route_name)


def routes(svc: LatticeService, platform: LatticePlatformSpec, labels: dict[str, str]) -> list[Obj]:
    """The HTTPRoute/GRPCRoute and Certificate objects of one service."""
    if svc.spec.ingress is None:
        return []
    name, namespace = svc.name, svc.namespace
    out: list[Obj] = []
    for route_name, route in svc.spec.ingress.routes.items():
        port = svc.spec.workload.ports[route_port(svc, route)]
        backend = {"name": naming.service(name), "port": port.port}
        rule: dict[str, Any] = {"backendRefs": [backend]}
        if route.kind == "HTTPRoute":
            rule["matches"] = [{"path": {"type": p.type, "value": p.value}} for p in route.paths]
        tls = route.tls is not None
        obj = owned("gateway.networking.k8s.io/v1", route.kind, naming.route(name, route_name), workload=name,
                    namespace=namespace, user_labels=labels)
        obj["spec"] = {"parentRefs": _parents(namespace, route.hosts, tls), "hostnames": sorted(route.hosts),
                       "rules": [rule]}
        out.append(obj)
        if tls and route.kind == "HTTPRoute":
            # Plain HTTP on a TLS host only redirects to HTTPS: nothing is ever served unencrypted.
            redirect = owned("gateway.networking.k8s.io/v1", "HTTPRoute", naming.redirect_route(name, route_name),
                             workload=name, namespace=namespace, user_labels=labels)
            redirect["spec"] = {
                "parentRefs": _parents(namespace, route.hosts, tls=False),
                "hostnames": sorted(route.hosts),
                "rules": [{"filters": [{"type": "RequestRedirect",
                                        "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
            }
            out.append(redirect)
        if route.tls is not None and route.tls.secret_name is None:
            issuer = route.tls.issuer or platform.ingress.issuer
            if issuer is None:
                raise LatticeError([Problem(
                    f"spec.ingress.routes.{route_name}.tls",
                    "TLS needs a certificate issuer and none is named",
                    "write `tls: {issuer: <ClusterIssuer>}`, name a Secret with `tls: {secretName: ...}`, or set "
                    "`spec.ingress.issuer` on the LatticePlatform")])
            cert = owned("cert-manager.io/v1", "Certificate", naming.certificate(name, route_name), workload=name,
                         namespace=namespace, user_labels=labels)
            cert["spec"] = {"secretName": naming.tls_secret(name, route_name), "dnsNames": sorted(route.hosts),
                            "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"}}
            out.append(cert)
    return out


def _parents(namespace: str, hosts: list[str], tls: bool) -> list[dict[str, Any]]:
    """Attach to exactly the listeners of the route's hosts (HTTPS ones for TLS routes)."""
    gateway = naming.gateway(namespace)
    return [{"name": gateway, "sectionName": naming.listener(host, tls)} for host in sorted(hosts)]


def listeners_of(svc: LatticeService) -> list[Listener]:
    """Every listener a service's routes need: HTTPS for TLS hosts (plus HTTP for the redirect), else HTTP."""
    if svc.spec.ingress is None:
        return []
    out = []
    for route_name, route in svc.spec.ingress.routes.items():
        secret = _tls_secret(svc, route_name, route)
        issued = route.tls is not None and route.tls.secret_name is None
        for host in route.hosts:
            out.append(Listener(host, secret, issued))
            if secret is not None and route.kind == "HTTPRoute":
                out.append(Listener(host, None))
    return out


# Gateway API's Gateway CRD: `spec.listeners` has at most 64 items (maxItems).
MAX_LISTENERS = 64


def listener_names(svc: LatticeService) -> set[str]:
    """The names of the listeners a service's routes add to its namespace's Gateway."""
    return {naming.listener(listener.host, listener.tls_secret is not None) for listener in listeners_of(svc)}


def gateways(services: Iterable[LatticeService], platform: LatticePlatformSpec) -> list[Obj]:
    """One Gateway per namespace that has routes, with an HTTP or HTTPS listener per host, its
    AuthorizationPolicy and the network policy of its pods: in from outside the cluster on the listener
    ports, out only to the routed services (and to the mesh control plane for its configuration)."""
    by_namespace: dict[str, dict[str, Listener]] = {}
    backends: dict[str, list[tuple[str, PortList]]] = {}
    for svc in services:
        for listener in listeners_of(svc):
            key = naming.listener(listener.host, listener.tls_secret is not None)
            by_namespace.setdefault(svc.namespace, {}).setdefault(key, listener)
        if svc.spec.ingress is not None:
            backends.setdefault(svc.namespace, []).append((svc.name, routed_ports(svc)))
    out = []
    for namespace, listeners in sorted(by_namespace.items()):
        solver = any(listener.issued for listener in listeners.values())
        out.append(_gateway_policy(namespace, listeners, sorted(backends[namespace]), platform, solver=solver))
        out.append(_gateway_authorization(namespace, listeners))
        if solver:
            out.append(_acme_solver_policy(namespace))
        name = naming.gateway(namespace)
        specs = []
        for key, listener in sorted(listeners.items()):
            entry: dict[str, Any] = {"name": key, "hostname": listener.host,
                                     "allowedRoutes": {"namespaces": {"from": "Same"}}}
            if listener.tls_secret:
                entry.update(port=443, protocol="HTTPS",
                             tls={"mode": "Terminate", "certificateRefs": [{"kind": "Secret",
                                                                             "name": listener.tls_secret}]})
            else:
                entry.update(port=80, protocol="HTTP")
            specs.append(entry)
        obj = owned("gateway.networking.k8s.io/v1", "Gateway", name, workload=name, namespace=namespace)
        obj["spec"] = {"gatewayClassName": platform.ingress.gateway_class, "listeners": specs}
        out.append(obj)
    return out


def _listener_ports(listeners: dict[str, Listener]) -> list[int]:
    return sorted({443 if listener.tls_secret else 80 for listener in listeners.values()})


def _gateway_authorization(namespace: str, listeners: dict[str, Listener]) -> Obj:
    """The mesh-wide allow-nothing in the root namespace binds Gateway API gateways too, so without a policy
    of its own every request through the Gateway is refused ("RBAC: access denied"). Clients outside the
    mesh carry no identity: the Gateway admits any source on its listener ports, and routes decide the rest.
    `targetRefs` binds the policy to the Gateway's proxy and nothing else
    (https://istio.io/latest/docs/reference/config/security/authorization-policy/)."""
    name = naming.gateway(namespace)
    obj = owned("security.istio.io/v1", "AuthorizationPolicy", naming.authorization_policy(name), workload=name,
                namespace=namespace)
    obj["spec"] = {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}],
        "action": "ALLOW",
        "rules": [{"to": [{"operation": {"ports": [str(p) for p in _listener_ports(listeners)]}}]}],
    }
    return obj


# cert-manager's HTTP-01 solver: a pod it starts in the Certificate's namespace, serving the challenge on this
# port, reached through a route on the Gateway (acmesolver's default --listen-port).
ACME_SOLVER_PORT = 8089


def _acme_solver_pods(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {naming.ACME_SOLVER_LABEL: "true", naming.NAMESPACE_LABEL: namespace}}


def _acme_solver_policy(namespace: str) -> Obj:
    """The cluster default deny also selects cert-manager's HTTP-01 solver pods, which run in the app's
    namespace: they would never answer the challenge and no certificate would be issued. They may be reached
    by the namespace's Gateway on the solver port, and reach nothing. (A DNS-01 issuer starts no such pod;
    the policy then selects nothing.)"""
    name = naming.gateway(namespace)
    obj = owned("cilium.io/v2", "CiliumNetworkPolicy", naming.acme_solver_policy(name), workload=name,
                namespace=namespace)
    obj["spec"] = {
        "endpointSelector": {"matchLabels": {naming.ACME_SOLVER_LABEL: "true"}},
        "enableDefaultDeny": {"ingress": True, "egress": True},
        "ingress": [{"fromEndpoints": [{"matchLabels": {naming.GATEWAY_NAME_LABEL: name,
                                                        naming.NAMESPACE_LABEL: namespace}}],
                     "toPorts": [{"ports": [{"port": str(ACME_SOLVER_PORT), "protocol": "TCP"}]}]}],
        "egress": [{}],
    }
    return obj


def _gateway_policy(namespace: str, listeners: dict[str, Listener], backends: list[tuple[str, PortList]],
                    platform: LatticePlatformSpec, *, solver: bool) -> Obj:
    name = naming.gateway(namespace)
    ambient = platform.mesh.mode == "ambient"
    listen = _listener_ports(listeners)
    # The gateway's proxy dials istiod by name in both modes: DNS for exactly that name, then istiod itself.
    egress: list[dict[str, Any]] = [
        network_policy.dns_egress(network_policy.control_plane_names(platform), namespace, platform)]
    egress.extend(
        {"toEndpoints": [{"matchLabels": {**naming.selector(svc), naming.NAMESPACE_LABEL: namespace}}],
         "toPorts": [{"ports": network_policy.port_list(ports, ambient)}]}
        for svc, ports in backends
    )
    if solver:
        egress.append({"toEndpoints": [_acme_solver_pods(namespace)],
                       "toPorts": [{"ports": [{"port": str(ACME_SOLVER_PORT), "protocol": "TCP"}]}]})
    egress.append(network_policy.control_plane_egress(platform))
    obj = owned("cilium.io/v2", "CiliumNetworkPolicy", naming.network_policy(name), workload=name,
                namespace=namespace)
    obj["spec"] = {
        "endpointSelector": {"matchLabels": {naming.GATEWAY_NAME_LABEL: name}},
        "enableDefaultDeny": {"ingress": True, "egress": True},
        # Load-balancer traffic that another node forwards arrives as `remote-node`, not `world`, in native
        # routing mode (https://docs.cilium.io/en/latest/security/policy/caveats/).
        "ingress": [{"fromEntities": ["remote-node", "world"],
                     "toPorts": [{"ports": [{"port": str(p), "protocol": "TCP"} for p in listen]}]}],
        "egress": egress,
    }
    if solver and 80 in listen:
        obj["spec"]["ingress"].append(_self_check_ingress(platform))
    return obj


def _self_check_ingress(platform: LatticePlatformSpec) -> dict[str, Any]:
    """Before cert-manager asks the ACME server to validate, it fetches the challenge URL itself, from its
    own pod, and waits until that works (https://cert-manager.io/docs/troubleshooting/acme/, "self check";
    https://cert-manager.io/docs/configuration/externalloadbalancer/ on hairpinning). A pod dialling the host's
    load-balancer address is translated to the Gateway's pods inside the cluster (Cilium's socket load
    balancing, as kube-proxy does), so the request keeps cert-manager's pod identity, neither `world` nor
    `remote-node`: without this rule the self check never passes and no certificate is issued. Port 80 only:
    HTTP-01 is served over plain HTTP."""
    return {"fromEndpoints": [{"matchLabels": {naming.NAMESPACE_LABEL: platform.ingress.cert_manager_namespace}}],
            "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}
