"""What the controller does to the cluster for one compile: the objects to apply, in which order, owned by
which source object, and the owned objects to delete because the new compile no longer produces them. Pure.

Ownership is the owner reference (with `controller: true`), so the garbage collector removes everything when the
LatticeService goes, and pruning never touches an object Lattice does not own: an object is deleted only when it
is of a kind Lattice writes, carries Lattice's labels and names the source object's uid as its controller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lattice.compiler import naming
from lattice.compiler.meta import Obj


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


# Every kind the compiler emits (tests/test_controller_plan.py checks the examples emit nothing else), in the
# order they are applied: what a Deployment mounts or runs as first, then the Deployment, then what targets it.
WRITTEN_KINDS: tuple[Kind, ...] = (
    Kind("v1", "ServiceAccount", "serviceaccounts"),
    Kind("external-secrets.io/v1", "ClusterSecretStore", "clustersecretstores", namespaced=False),
    Kind("external-secrets.io/v1", "ExternalSecret", "externalsecrets"),
    Kind("v1", "Secret", "secrets"),
    Kind("v1", "ConfigMap", "configmaps"),
    Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    Kind("v1", "Service", "services"),
    Kind("apps/v1", "Deployment", "deployments"),
    Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Kind("keda.sh/v1alpha1", "ScaledObject", "scaledobjects"),
    Kind("operator.victoriametrics.com/v1beta1", "VMServiceScrape", "vmservicescrapes"),
    Kind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors"),
    Kind("cilium.io/v2", "CiliumClusterwideNetworkPolicy", "ciliumclusterwidenetworkpolicies", namespaced=False),
    Kind("cilium.io/v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies"),
    Kind("security.istio.io/v1", "PeerAuthentication", "peerauthentications"),
    Kind("security.istio.io/v1", "AuthorizationPolicy", "authorizationpolicies"),
    Kind("networking.istio.io/v1", "ServiceEntry", "serviceentries"),
    Kind("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
    Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
    Kind("gateway.networking.k8s.io/v1", "GRPCRoute", "grpcroutes"),
    Kind("cert-manager.io/v1", "Certificate", "certificates"),
)
KINDS: Mapping[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in WRITTEN_KINDS}
_ORDER = {(k.api_version, k.kind): i for i, k in enumerate(WRITTEN_KINDS)}

ObjectId = tuple[str, str, str, str]
"""(apiVersion, kind, namespace or "", name): how one object is found again."""


@dataclass(frozen=True, slots=True)
class Owner:
    """The source object every applied object points back to."""

    api_version: str
    kind: str
    name: str
    uid: str

    def reference(self) -> Obj:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}


def object_id(obj: Mapping[str, Any]) -> ObjectId:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


def kind_of(obj: Mapping[str, Any]) -> Kind:
    """The written kind of a compiled object; an object of any other kind is a compiler bug."""
    found = KINDS.get((obj["apiVersion"], obj["kind"]))
    if found is None:
        raise ValueError(f"the controller does not write {obj['apiVersion']} {obj['kind']}")
    return found


def with_owner(objects: Iterable[Obj], owner: Owner) -> list[Obj]:
    """Copies of `objects`, each with `owner` as its only controller reference, in apply order."""
    out = []
    for obj in objects:
        copy = {**obj, "metadata": {**obj["metadata"], "ownerReferences": [owner.reference()]}}
        out.append(copy)
    return apply_order(out)


def apply_order(objects: Iterable[Obj]) -> list[Obj]:
    """Stable order of WRITTEN_KINDS: ServiceAccount, stores and ExternalSecrets, ConfigMaps before the
    Deployment, the ScaledObject and policies after it."""
    return sorted(objects, key=lambda o: (_ORDER[(o["apiVersion"], o["kind"])], object_id(o)))


def is_owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    """Lattice's own object for this owner: Lattice's label and the owner's uid as controller."""
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(naming.MANAGED_BY_LABEL) != naming.MANAGER:
        return False
    return any(ref.get("uid") == owner_uid and ref.get("controller") for ref in meta.get("ownerReferences") or [])


def to_delete(desired: Sequence[Obj], existing: Iterable[Mapping[str, Any]], owner_uid: str) -> list[ObjectId]:
    """The existing objects this owner owns that the new compile no longer produces, in reverse apply order
    (what targets the Deployment goes first)."""
    wanted = {object_id(obj) for obj in desired}
    stale = [obj for obj in existing
             if (obj.get("apiVersion"), obj.get("kind")) in KINDS and is_owned_by(obj, owner_uid)
             and object_id(obj) not in wanted]
    return [object_id(obj) for obj in reversed(apply_order([dict(o) for o in stale]))]
