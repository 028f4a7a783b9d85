"""What the whole cluster needs once: default deny at L4 for workload namespaces (the platform's own
namespaces exempt), STRICT mTLS mesh-wide and a mesh-wide allow-nothing AuthorizationPolicy. Per-workload policies
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


def exempt_namespaces(platform: LatticePlatformSpec) -> list[str]:
    """Namespaces the cluster-wide default deny leaves alone: the platform's own controllers (ESO, cert-manager,
    KEDA, ...) need the API server and serve webhooks, and Lattice emits no policy for them. The mesh, metrics
    DNS and cert-manager namespaces the platform names are always among them, whatever `systemNamespaces` lists."""
    return sorted({*platform.system_namespaces, platform.mesh.root, platform.mesh.control_plane_namespace,
                   platform.metrics.namespace, platform.dns.namespace, platform.ingress.cert_manager_namespace})


def default_deny_selector(platform: LatticePlatformSpec) -> Obj:
    """Every pod outside the exempt namespaces.

    `NotIn` alone also matches endpoints that have no namespace label at all (Cilium PR 46996: "the NotIn
    selector does not require the existence of the label"), such as each node's `reserved:health` endpoint,
    which a clusterwide policy can select (Cilium PR 12199); cutting it off fails Cilium's own health checks.
    `Exists` on the namespace label keeps the selection to pods, whose namespace Cilium always labels
    (`k8s:io.kubernetes.pod.namespace`, docs.cilium.io "Using Kubernetes Constructs In Policy")."""
    return {"matchExpressions": [
        {"key": naming.NAMESPACE_LABEL, "operator": "Exists"},
        {"key": naming.NAMESPACE_LABEL, "operator": "NotIn", "values": exempt_namespaces(platform)},
    ]}


def cluster_objects(platform: LatticePlatformSpec) -> list[Obj]:
    deny = new_object("cilium.io/v2", "CiliumClusterwideNetworkPolicy", naming.CLUSTER_DEFAULT_DENY, None,
                      _PLATFORM_LABELS)
    deny["spec"] = {
        "description": "Lattice: default deny for every workload namespace; the platform's namespaces are exempt.",
        "endpointSelector": default_deny_selector(platform),
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
