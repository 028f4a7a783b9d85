"""The Kubernetes Service in front of a workload's declared ports."""

from __future__ import annotations

from lattice.api.workload import ServicePort
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned


def service(name: str, namespace: str, ports: dict[str, ServicePort], user_labels: dict[str, str]) -> Obj | None:
    if not ports:
        return None
    obj = owned("v1", "Service", naming.service(name), workload=name, namespace=namespace, user_labels=user_labels)
    port_list = []
    for pname, port in sorted(ports.items()):
        entry: Obj = {"name": pname, "port": port.port, "targetPort": port.container_port,
                      "protocol": port.protocol}
        if port.app_protocol:
            entry["appProtocol"] = port.app_protocol
        port_list.append(entry)
    obj["spec"] = {"type": "ClusterIP", "selector": naming.selector(name), "ports": port_list}
    return obj
