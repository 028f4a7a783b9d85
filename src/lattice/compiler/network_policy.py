"""L4 policy: a CiliumNetworkPolicy per workload, default deny, admitting exactly the agreed peers.

Ingress: agreed callers (by pod labels and namespace) on the workload's ports. Egress: agreed callees on
their ports, cluster DNS for exactly the names the workload may resolve, and declared external endpoints
(`toFQDNs` for names, `toCIDR` for addresses). In ambient mesh mode the HBONE port (15008) is allowed to
and from the same peers only, since ztunnel carries mesh traffic over it, and the kubelet's probes are
admitted from the address istio-cni gives them.
"""

from __future__ import annotations

from typing import Any

from lattice.api.platform import LatticePlatformSpec
from lattice.compiler import naming
from lattice.compiler.meta import Obj, new_object
from lattice.compiler.peers import Peer, PortList
from lattice.graph import External, Node

# In ambient mode istio-cni SNATs the kubelet's probes to this link-local address so that ztunnel lets them
# through unauthenticated; Cilium sees a CIDR source, not `host`, so a default deny fails every probe
# (https://istio.io/latest/docs/ambient/install/platform-prerequisites/#cilium, istio/istio#49277).
AMBIENT_PROBE_SOURCE = "169.254.7.127/32"


def _selector(peer: Peer) -> dict[str, Any]:
    return {"matchLabels": {**peer.pod_labels, naming.NAMESPACE_LABEL: peer.namespace}}


def fqdn_selector(name: str) -> dict[str, str]:
    """A Cilium FQDN selector (for `toFQDNs` and DNS rules) for one name as written.

    `matchName` must be a literal name (the CRD rejects `*`); a wildcard name goes to `matchPattern`, where `*`
    stands for one DNS label or part of one and never crosses a dot: `*.s3.amazonaws.com` matches
    `bucket.s3.amazonaws.com` but neither `s3.amazonaws.com` nor `a.b.s3.amazonaws.com` (docs.cilium.io,
    Security > Network Policy > Layer 3 "DNS based", `toFQDNs.matchPattern`)."""
    return {"matchPattern": name} if "*" in name else {"matchName": name}


def port_list(ports: PortList, ambient: bool) -> list[dict[str, Any]]:
    entries = {(str(port), protocol) for port, protocol in ports}
    if ambient:
        entries.add((str(naming.HBONE_PORT), "TCP"))
    return [{"port": port, "protocol": protocol} for port, protocol in sorted(entries, key=lambda e: (int(e[0]), e[1]))]


def resolvable_names(names: list[str], namespace: str, platform: LatticePlatformSpec) -> list[str]:
    """The exact DNS queries a pod makes to resolve `names`: a name with fewer dots than `ndots` is first
    tried with every search domain of the pod's resolv.conf. Each must pass the DNS proxy, or the proxy's
    refusal would end the resolver's search before it reaches the real name."""
    domain = platform.cluster_domain
    search = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *platform.dns.search_domains]
    out = set()
    for name in names:
        out.add(name)
        if name.count(".") < platform.dns.ndots:
            out.update(f"{name}.{suffix}" for suffix in search)
    return sorted(out)


def control_plane_names(platform: LatticePlatformSpec) -> list[str]:
    """The name a proxy dials istiod by: `<service>.<namespace>.svc` (Istio's default discoveryAddress,
    `istiod.istio-system.svc:15012`); resolvable_names adds the search-path forms the resolver tries."""
    mesh = platform.mesh
    return [f"{mesh.control_plane_service}.{mesh.control_plane_namespace}.svc"]


def dns_egress(names: list[str], namespace: str, platform: LatticePlatformSpec) -> dict[str, Any]:
    """Cluster DNS, through Cilium's DNS proxy, for exactly `names` and the search-path queries for them."""
    dns = platform.dns
    return {
        "toEndpoints": [{"matchLabels": {**dns.pod_labels, naming.NAMESPACE_LABEL: dns.namespace}}],
        "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                     "rules": {"dns": [fqdn_selector(name)
                                       for name in resolvable_names(names, namespace, platform)]}}],
    }


def control_plane_egress(platform: LatticePlatformSpec) -> dict[str, Any]:
    """Egress to istiod's xDS/CA port, for proxies that configure themselves (sidecars, gateways)."""
    mesh = platform.mesh
    return {
        "toEndpoints": [{"matchLabels": {**mesh.control_plane_labels,
                                         naming.NAMESPACE_LABEL: mesh.control_plane_namespace}}],
        "toPorts": [{"ports": [{"port": str(naming.MESH_CONTROL_PLANE_PORT), "protocol": "TCP"}]}],
    }


def cilium_policy(node: Node, *, ingress: list[Peer], egress: list[Peer], externals: list[External],
                  dns_names: list[str], platform: LatticePlatformSpec, labels: dict[str, str],
                  probe_ports: PortList = ()) -> Obj:
    ambient = platform.mesh.mode == "ambient"
    ingress_rules: list[dict[str, Any]] = [
        {"fromEndpoints": [_selector(p)], "toPorts": [{"ports": port_list(p.ports, ambient)}]} for p in ingress]
    if ambient and probe_ports:
        ingress_rules.append({"fromCIDR": [AMBIENT_PROBE_SOURCE],
                              "toPorts": [{"ports": port_list(probe_ports, ambient=False)}]})
    if not ambient:
        dns_names = [*dns_names, *control_plane_names(platform)]
    egress_rules: list[dict[str, Any]] = []
    if dns_names:
        egress_rules.append(dns_egress(dns_names, node.key[0], platform))
    egress_rules.extend({"toEndpoints": [_selector(p)], "toPorts": [{"ports": port_list(p.ports, ambient)}]}
                        for p in egress)
    if not ambient:
        # A sidecar fetches its configuration and certificates from the mesh control plane itself.
        egress_rules.append(control_plane_egress(platform))
    for ext in externals:
        ports = [{"ports": [{"port": str(ext.endpoint.port), "protocol": "TCP"}]}]
        if ext.endpoint.is_address:
            cidr = ext.endpoint.host if "/" in ext.endpoint.host else \
                f"{ext.endpoint.host}/{128 if ':' in ext.endpoint.host else 32}"
            egress_rules.append({"toCIDR": [cidr], "toPorts": ports})
        else:
            egress_rules.append({"toFQDNs": [fqdn_selector(ext.endpoint.host)], "toPorts": ports})
    namespace, name = node.key
    obj = new_object("cilium.io/v2", "CiliumNetworkPolicy", naming.network_policy(name), namespace, labels)
    # An empty rule list would leave a direction unenforced; `[{}]` (a rule matching no peer) denies it all.
    obj["spec"] = {
        "endpointSelector": {"matchLabels": dict(node.pod_labels)},
        "enableDefaultDeny": {"ingress": True, "egress": True},
        "ingress": ingress_rules or [{}],
        "egress": egress_rules or [{}],
    }
    return obj
