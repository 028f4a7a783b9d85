"""Names, identities, namespaces and labels that belong to the platform, refused on workloads.

Every guarantee of the policies rests on them: the gateway is trusted by its service account
(`<gateway>-<class>`) and selected by `gateway.networking.k8s.io/gateway-name`, callers are trusted by their
service account, pods are selected by `app.kubernetes.io/name` and enrolled in the mesh by `istio.io/…` labels,
and the platform's own objects (`allow-nothing`, `lattice-default-deny`, `lattice-ingress`) live under fixed
names. A workload that took one of them would be trusted as something it is not, or would replace a platform
policy on apply; so each is refused before anything is compiled. Pure: parsed inputs in, problems out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from lattice.api.base import Resource
from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.platform import LatticePlatformSpec
from lattice.api.service import LatticeService
from lattice.compiler import naming
from lattice.errors import Problem

# Kubernetes creates it in every namespace and runs every pod that names no service account as it.
DEFAULT_SERVICE_ACCOUNT = "default"

# Label keys (exact) and key prefixes that policies, the mesh or Kubernetes itself read. A pod carrying one
# could be selected as another workload (the gateway's policy selects `gateway-name`), leave the mesh (Istio
# ambient skips pods labelled `istio.io/dataplane-mode: none`, https://istio.io/latest/docs/ambient/usage/
# add-workloads/; sidecar injection obeys `sidecar.istio.io/inject`) or pose as another namespace or service
# account to Cilium (CVE-2023-39347, GHSA-gj2r-phwg-6rww: Cilium before 1.14.2 took user-set pod labels such as
# `io.kubernetes.pod.namespace` for its own; the advisory's workaround is to refuse them at admission).
RESERVED_LABELS: Mapping[str, str] = {
    naming.NAME_LABEL: "policies select a workload's pods by it",
    naming.MANAGED_BY_LABEL: "the controller finds the objects it owns by it",
    "pod-template-hash": "Kubernetes sets it on every pod of a Deployment",
}
RESERVED_LABEL_PREFIXES: Mapping[str, str] = {
    "gateway.networking.k8s.io/": "the ingress Gateway's pods are selected by it",
    "istio.io/": "Istio enrolls pods in the mesh and reads their identity by it",
    "sidecar.istio.io/": "Istio decides sidecar injection by it",
    "security.istio.io/": "Istio decides mTLS by it",
    "networking.istio.io/": "Istio routes by it",
    "service.istio.io/": "Istio routes by it",
    "topology.istio.io/": "Istio routes by it",
    "io.kubernetes": "Cilium derives a pod's namespace and identity from it",
    "io.cilium": "Cilium derives a pod's identity from it",
    "k8s:": "Cilium derives a pod's identity from it",
    "kubernetes.io/": "it is reserved for Kubernetes' own components",
    "k8s.io/": "it is reserved for Kubernetes' own components",
    "lattice.dev/": "it is reserved for Lattice",
    "acme.cert-manager.io/": "cert-manager's HTTP-01 solver pods are selected by it (the gateway may reach them)",
}


def system_namespaces(platform: LatticePlatformSpec) -> dict[str, str]:
    """Where the platform's own components run, each with what it is: the listed system namespaces, the mesh
    control plane and root, cluster DNS and the metrics scraper."""
    listed = "a system namespace (LatticePlatform `spec.systemNamespaces`)"
    return {
        platform.metrics.namespace: "the metrics scraper's namespace (LatticePlatform `spec.metrics.namespace`)",
        platform.dns.namespace: "cluster DNS's namespace (LatticePlatform `spec.dns.namespace`)",
        platform.ingress.cert_manager_namespace:
            "cert-manager's namespace (LatticePlatform `spec.ingress.certManagerNamespace`)",
        **{namespace: listed for namespace in platform.system_namespaces},
        platform.mesh.control_plane_namespace: "the mesh control plane's namespace",
        platform.mesh.root: "the mesh root namespace (LatticePlatform `spec.mesh.rootNamespace`), whose policies apply "
                            "to the whole mesh",
    }


def reserved_names(namespace: str, platform: LatticePlatformSpec) -> dict[str, str]:
    """Workload names (which are also service account names) that belong to the platform, with why. (The
    scraper's identity needs no entry: it lives in the metrics namespace, which is a system namespace.)"""
    gateway = naming.gateway(namespace)
    return {
        gateway: "the name of the namespace's ingress Gateway and of its network policy",
        naming.gateway_service_account(gateway, platform.ingress.gateway_class):
            "the service account of the ingress Gateway's pods (`<gateway>-<class>`); a workload running as it "
            "would be trusted as the gateway on every routed port",
        naming.acme_solver_policy(gateway): "the name of the network policy of cert-manager's HTTP-01 solver pods",
        naming.CLUSTER_DEFAULT_DENY: "the name of the cluster-wide default-deny policy",
        naming.MESH_ALLOW_NOTHING: "the name of the mesh-wide allow-nothing policy",
        DEFAULT_SERVICE_ACCOUNT: "every namespace's default service account: pods that name no service account "
                                 "run as it, and would all be trusted as this workload",
    }


def workload_problems(resource: Resource, platform: LatticePlatformSpec) -> list[Problem]:
    """What a LatticeService or LatticeMeshMember may not take on its own: a system namespace, a platform name
    or identity, a reserved label."""
    if not isinstance(resource, LatticeService | LatticeMeshMember):
        return []
    out: list[Problem] = []
    namespace, name = resource.namespace, resource.name
    system = system_namespaces(platform)
    if namespace in system:
        out.append(Problem(
            "metadata.namespace",
            f"`{namespace}` is {system[namespace]}; a workload there would share it with the platform's own "
            "components and could take their names, identities and policies",
            "deploy it in a namespace of its team"))
    reserved = reserved_names(namespace, platform)
    if name in reserved:
        out.append(Problem("metadata.name", f"`{name}` is reserved: it is {reserved[name]}",
                           f"rename the workload, e.g. `{name}-app`"))
    if isinstance(resource, LatticeMeshMember):
        account = resource.spec.service_account
        if account is not None and account != name and account in reserved and account != DEFAULT_SERVICE_ACCOUNT:
            out.append(Problem("spec.serviceAccount", f"`{account}` is reserved: it is {reserved[account]}",
                               "name the service account the member's pods really run as"))
    else:
        out.extend(_label_problems(resource.metadata.labels, "metadata.labels"))
        out.extend(_label_problems(resource.spec.workload.labels, "spec.workload.labels"))
    return out


def _reserved_because(key: str) -> str | None:
    return RESERVED_LABELS.get(key) or next(
        (why for prefix, why in RESERVED_LABEL_PREFIXES.items() if key.startswith(prefix)), None)


def _label_problems(labels: Mapping[str, str], path: str) -> Iterator[Problem]:
    for key in labels:
        why = _reserved_because(key)
        if why is not None:
            yield Problem(f"{path}.{key}",
                          f"the label `{key}` is reserved: {why}",
                          "remove it, or use a key under a domain of your own, e.g. "
                          f"`example.com/{key.rpartition('/')[2]}`")


def mesh_member_problems(member: LatticeMeshMember, services: Iterable[LatticeService]) -> list[Problem]:
    """A mesh member brings pods Lattice did not compile: it may not select the pods of a compiled service (its
    policies would admit its peers there) nor claim a compiled service's identity."""
    out: list[Problem] = []
    selector = member.spec.selector
    account = member.spec.service_account or member.name
    for key, value in selector.items():
        # Charts label their pods `app.kubernetes.io/name` (and `managed-by: Helm`) too, so those keys are judged
        # by the match below; every other reserved key is set by Lattice, the mesh or Kubernetes, on pods of
        # every kind, so a selector on it reaches pods the member does not own.
        if key == naming.MANAGED_BY_LABEL and value == naming.MANAGER:
            out.append(Problem(f"spec.selector.{key}", "the selector matches every pod Lattice compiles",
                               "select the member's own pods by the labels its chart gives them"))
        elif key not in (naming.NAME_LABEL, naming.MANAGED_BY_LABEL) and _reserved_because(key) is not None:
            out.append(Problem(f"spec.selector.{key}",
                               f"the selector keys on `{key}`, which the platform sets on pods it does not own "
                               f"({_reserved_because(key)})",
                               "select the member's own pods by the labels its chart gives them"))
    for svc in services:
        if svc.namespace != member.namespace:
            continue
        pod_labels = naming.labels(svc.name, {**svc.metadata.labels, **svc.spec.workload.labels})
        if all(pod_labels.get(key) == value for key, value in selector.items()):
            out.append(Problem("spec.selector",
                               f"the selector matches the pods of LatticeService {svc.namespace}/{svc.name}, which "
                               "Lattice compiles; the member's policies would admit its peers there",
                               "select the member's own pods by the labels its chart gives them"))
        if account == naming.service_account(svc.name):
            out.append(Problem("spec.serviceAccount",
                               f"`{account}` is the service account of LatticeService {svc.namespace}/{svc.name}; "
                               "the member would be trusted as that service",
                               "name the service account the member's pods really run as"))
    return out
