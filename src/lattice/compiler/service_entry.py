"""External endpoints enter the mesh registry as ServiceEntries, visible only in the caller's namespace."""

from __future__ import annotations

from typing import Any

from lattice.compiler import naming
from lattice.compiler.meta import Obj, new_object
from lattice.graph import External

# How the mesh speaks to an endpoint, by the scheme the developer wrote.
_PROTOCOL = {"https": "TLS", "tls": "TLS", "grpc": "TLS", "http": "HTTP", "tcp": "TCP"}


def service_entries(workload: str, namespace: str, externals: list[External], labels: dict[str, str]) -> list[Obj]:
    out = []
    for ext in externals:
        ep = ext.endpoint
        protocol = _PROTOCOL[ep.scheme]
        spec: dict[str, Any] = {
            "location": "MESH_EXTERNAL",
            "exportTo": ["."],
            "ports": [{"number": ep.port, "name": f"{protocol.lower()}-{ep.port}", "protocol": protocol}],
        }
        if ep.is_address:
            # An address has no DNS name: the entry is matched by address, under a name of our own.
            spec["hosts"] = [f"{ext.resource}-{ext.endpoint_name}.{workload}.{namespace}.external"]
            spec["addresses"] = [ep.host]
            spec["resolution"] = "NONE"
        else:
            spec["hosts"] = [ep.host]
            # Istio refuses `resolution: DNS` for a host that is not a plain FQDN ("hosts must be FQDN if no
            # endpoints are provided for resolution mode DNS", ValidateServiceEntry in istio/istio
            # pkg/config/validation). A wildcard entry uses NONE, as Istio's "Egress using Wildcard Hosts" task
            # does: the proxy forwards to the address the application resolved itself, the entry matching
            # the name the client sends (TLS SNI or HTTP Host; see `parse_endpoint` for plain TCP).
            spec["resolution"] = "NONE" if ep.is_wildcard else "DNS"
        obj = new_object("networking.istio.io/v1", "ServiceEntry",
                         naming.service_entry(workload, ext.resource, ext.endpoint_name), namespace, labels)
        obj["spec"] = spec
        out.append(obj)
    return out
