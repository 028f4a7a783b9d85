"""What the whole cluster needs once: default deny at L4 for workload namespaces (system namespaces
exempt), STRICT mTLS mesh-wide and a mesh-wide allow-nothing AuthorizationPolicy. Per-workload policies
then open exactly the agreed paths.

The mesh-wide objects go to Istio's root namespace (meshConfig.rootNamespace, istiod's own namespace unless
the platform says otherwise): only there does a selector-less policy bind the whole mesh
(https://istio.io/latest/docs/reference/config/security/authorization-policy/)."""

from __future__ import annotations

from lattice.api.platform import LatticePlatformSpec
from lattice.compiler import naming
from lattice.compiler.meta import Obj, new_object

_PLATFORM_LABELS = {naming.NAME_LABEL: naming.MANAGER, naming.MANAGED_BY_LABEL: naming.MANAGER,
                    "app.kubernetes.io/part-of": "lattice"}


def cluster_objects(platform: LatticePlatformSpec) -> list[Obj]:
    deny = new_object("cilium.io/v2", "CiliumClusterwideNetworkPolicy", naming.CLUSTER_DEFAULT_DENY, None,
                      _PLATFORM_LABELS)
    deny["spec"] = {
        "description": "Lattice: default deny for every workload namespace; system namespaces are exempt.",
        "endpointSelector": {"matchExpressions": [{
            "key": naming.NAMESPACE_LABEL, "operator": "NotIn", "values": sorted(platform.system_namespaces)}]},
        "enableDefaultDeny": {"ingress": True, "egress": True},
        # Kubelet probes come from the node itself; nothing else is admitted without a workload policy.
        # In ambient mode istio-cni rewrites the probes' source to 169.254.7.127, which is not `host`: each
        # workload's own policy admits that address on exactly its probed ports (network_policy.py).
        "ingress": [{"fromEntities": ["host"]}],
        "egress": [{}],
    }
    mtls = new_object("security.istio.io/v1", "PeerAuthentication", naming.MESH_PEER_AUTHENTICATION,
                      platform.mesh.root, _PLATFORM_LABELS)
    mtls["spec"] = {"mtls": {"mode": "STRICT"}}
    nothing = new_object("security.istio.io/v1", "AuthorizationPolicy", naming.MESH_ALLOW_NOTHING,
                         platform.mesh.root, _PLATFORM_LABELS)
    nothing["spec"] = {}
    return [deny, mtls, nothing]
