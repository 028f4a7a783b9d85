"""`lattice install`: everything the controller needs in a cluster, as plain objects. Pure.

The controller's own workload is a LatticeService compiled by Lattice's own rules (hardened pod, probes,
disruption budget, scrape target, default-deny policy), so it gets nothing the platform would refuse an
application: its one deviation, a mounted ServiceAccount token, is permitted by a CedarPolicy shipped here, and
its egress to the API server and to image registries is the one policy added by hand. RBAC grants exactly the
verbs the controller uses: watch (get, list, watch) every Lattice kind and every kind it writes, server-side
apply and delete what it writes (patch; create for the first apply), patch the status of every Lattice kind,
create Events, kopf's peering objects for leader election, and read CRDs (kopf notices kinds installed later).
It reads no Secret: registry logins come from the optional Secret `lattice-registry-auth` (type
`kubernetes.io/dockerconfigjson`, what `kubectl create secret docker-registry` makes) that the platform creates
in `lattice-system`, mounted into the pod, the second addition by hand (a LatticeService routes secrets through
a SecretProvider; this one is the platform's own and is optional, so the controller starts without it).
"""

from __future__ import annotations

from lattice.api import parse_resource
from lattice.api.base import API_GROUP
from lattice.api.crd import all_crds
from lattice.api.parse import KINDS as SOURCE_KINDS
from lattice.api.service import LatticeService
from lattice.compiler import CompileContext, compile_service, naming
from lattice.compiler.meta import Obj
from lattice.controller.plan import WRITTEN_KINDS

NAMESPACE = "lattice-system"
NAME = "lattice-controller"
METRICS_PORT = 8080
REGISTRY_AUTH_SECRET = "lattice-registry-auth"
REGISTRY_AUTH_DIR = "/etc/lattice/registry"
REGISTRY_AUTH_FILE = f"{REGISTRY_AUTH_DIR}/.dockerconfigjson"
DEFAULT_IMAGE = "ghcr.io/lattice-dev/lattice@sha256:" + "0" * 64
"""A placeholder: `lattice install --image` names the released image (by digest)."""

# kopf's leader election (peering) objects: https://kopf.readthedocs.io/en/stable/peering/
KOPF_GROUP = "kopf.dev"
PEERING_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"clusterkopfpeerings.{KOPF_GROUP}"},
    "spec": {"group": KOPF_GROUP, "scope": "Cluster",
             "names": {"kind": "ClusterKopfPeering", "plural": "clusterkopfpeerings",
                       "singular": "clusterkopfpeering"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"status": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}


PEERING: Obj = {"apiVersion": f"{KOPF_GROUP}/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "lattice"}}
"""The peering object the controller's replicas elect their writer through (`operator.PEERING_NAME`)."""


def controller_service(image: str = DEFAULT_IMAGE, replicas: int = 2) -> LatticeService:
    """The controller as a LatticeService: two replicas (one writes, kopf's peering decides), metrics scraped."""
    res = parse_resource({
        "apiVersion": f"{API_GROUP}/v1alpha1", "kind": "LatticeService",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "lattice"}},
        "spec": {"replicas": replicas, "workload": {
            "security": {"automountServiceAccountToken": True},
            "containers": {"controller": {
                "image": image,
                "args": ["controller", f"--metrics-port={METRICS_PORT}", f"--registry-auth={REGISTRY_AUTH_FILE}"],
                "resources": {"requests": {"cpu": "200m", "memory": "256Mi"},
                              "limits": {"cpu": "1", "memory": "512Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": METRICS_PORT}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": METRICS_PORT}},
            }},
            "service": {"ports": {"metrics": {"port": METRICS_PORT}}},
        }},
    })
    assert isinstance(res, LatticeService)
    return res


def cluster_role() -> Obj:
    lattice_plurals = sorted(kind.PLURAL for kind in SOURCE_KINDS.values())
    by_group: dict[str, list[str]] = {}
    for kind in WRITTEN_KINDS:
        by_group.setdefault(kind.group, []).append(kind.plural)
    rules: list[Obj] = [
        {"apiGroups": [API_GROUP], "resources": lattice_plurals, "verbs": ["get", "list", "watch"]},
        {"apiGroups": [API_GROUP], "resources": [f"{plural}/status" for plural in lattice_plurals],
         "verbs": ["get", "patch"]},
        *({"apiGroups": [group], "resources": sorted(plurals),
           "verbs": ["get", "list", "watch", "create", "patch", "delete"]}
          for group, plurals in sorted(by_group.items())),
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},  # patch: a repeat is counted
        # kopf watches CRDs to start watching a kind whose CRD appears after it started.
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [KOPF_GROUP], "resources": ["clusterkopfpeerings"], "verbs": ["get", "list", "watch", "patch"]},
    ]
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": naming.labels(NAME)}, "rules": rules}


def cluster_role_binding() -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": naming.labels(NAME)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": naming.service_account(NAME), "namespace": NAMESPACE}]}


def _egress_policy() -> Obj:
    """The controller's egress beyond the compiled default deny: the API server (Cilium's `kube-apiserver`
    entity, https://docs.cilium.io/en/stable/security/policy/language/#entities-based) and registries on 443."""
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": f"{NAME}-egress", "namespace": NAMESPACE, "labels": naming.labels(NAME)},
            "spec": {"endpointSelector": {"matchLabels": naming.selector(NAME)},
                     "egress": [
                         {"toEntities": ["kube-apiserver"],
                          "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"},
                                                 {"port": "6443", "protocol": "TCP"}]}]},
                         {"toEntities": ["world"], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
                     ]}}


def _permit() -> Obj:
    return {"apiVersion": f"{API_GROUP}/v1alpha1", "kind": "CedarPolicy",
            "metadata": {"name": NAME, "labels": naming.labels(NAME)},
            "spec": {"policies": (
                         "// The Lattice controller reads the API server with its ServiceAccount token.\n"
                         f'@id("{NAME}-token")\n'
                         f'permit(principal == Lattice::Service::"{NAMESPACE}/{NAME}",\n'
                         '       action == Lattice::Action::"OverrideSecurity",\n'
                         '       resource == Lattice::SecurityOverride::"automountServiceAccountToken");\n')}}


def install_objects(image: str = DEFAULT_IMAGE, replicas: int = 2, context: CompileContext | None = None
                    ) -> list[Obj]:
    """In apply order: CRDs, the namespace, RBAC, the policy permitting the controller's token, then the
    controller's compiled objects."""
    compiled = compile_service(controller_service(image, replicas), context or CompileContext())
    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": NAMESPACE, "labels": naming.labels(NAME)}}
    objects = [_with_registry_auth(obj) if obj["kind"] == "Deployment" else obj for obj in compiled.objects]
    return [*all_crds(), PEERING_CRD, namespace, PEERING, cluster_role(), cluster_role_binding(), _permit(),
            *objects, _egress_policy()]


def _with_registry_auth(deployment: Obj) -> Obj:
    """The controller's Deployment with the optional registry-login Secret mounted read-only (mode 0440, read
    through the pod's fsGroup): `optional` lets the pod start without it, and the kubelet updates the file in
    place when the Secret changes (https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod),
    which the controller notices without a restart."""
    pod = deployment["spec"]["template"]["spec"]
    volume = {"name": "registry-auth", "secret": {"secretName": REGISTRY_AUTH_SECRET, "optional": True,
                                                    "defaultMode": 0o440}}
    mount = {"name": "registry-auth", "mountPath": REGISTRY_AUTH_DIR, "readOnly": True}
    containers = [{**c, "volumeMounts": [*c.get("volumeMounts", []), mount]} for c in pod["containers"]]
    template = deployment["spec"]["template"]
    return {**deployment, "spec": {**deployment["spec"], "template": {
        **template, "spec": {**pod, "containers": containers, "volumes": [*pod.get("volumes", []), volume]}}}}
