"""What the controller applies and deletes: every compiled kind is known, objects point at their source,
dependencies go first, and pruning touches only what this source owns."""

from __future__ import annotations

from typing import Any

from lattice.compiler import naming
from lattice.controller import plan
from lattice.fleet import FleetResult

OWNER = plan.Owner("lattice.dev/v1alpha1", "LatticeService", "payments", "uid-1")


def test_every_kind_the_examples_emit_is_one_the_controller_writes(examples_fleet: FleetResult) -> None:
    for obj in examples_fleet.objects:
        kind = plan.kind_of(obj)
        assert kind.namespaced == ("namespace" in obj["metadata"]), obj["kind"]


def test_objects_point_at_their_source_and_dependencies_go_first(examples_fleet: FleetResult) -> None:
    payments = next(s for s in examples_fleet.services if s.ref.name == "payments")
    applied = plan.with_owner(payments.objects, OWNER)
    assert all(obj["metadata"]["ownerReferences"] == [OWNER.reference()] for obj in applied)
    kinds = [obj["kind"] for obj in applied]
    deployment = kinds.index("Deployment")
    for before in ("ServiceAccount", "ExternalSecret", "ConfigMap"):
        assert kinds.index(before) < deployment, before
    assert kinds.index("ScaledObject") > deployment
    assert "ownerReferences" not in payments.objects[0]["metadata"]  # the compile's own objects are untouched


def _existing(kind: str, name: str, *, uid: str = "uid-1", managed: bool = True, controller: bool = True,
              api_version: str = "v1") -> dict[str, Any]:
    labels = {naming.MANAGED_BY_LABEL: naming.MANAGER} if managed else {}
    return {"apiVersion": api_version, "kind": kind, "metadata": {
        "name": name, "namespace": "commerce", "labels": labels,
        "ownerReferences": [{"uid": uid, "controller": controller}]}}


def test_prune_deletes_only_owned_objects_the_compile_no_longer_produces() -> None:
    desired = [_existing("Service", "payments"), _existing("ConfigMap", "payments-env")]
    existing = [
        *desired,
        _existing("ConfigMap", "payments-old"),                                # stale: deleted
        _existing("PodDisruptionBudget", "payments", api_version="policy/v1"),  # stale: deleted, first
        _existing("ConfigMap", "someone-elses", uid="uid-2"),                 # another owner
        _existing("ConfigMap", "hand-made", managed=False),                   # not Lattice's label
        _existing("ConfigMap", "adopted", controller=False),                  # not its controller
        _existing("Pod", "payments-abc"),                                     # not a kind Lattice writes
    ]
    assert plan.to_delete(desired, existing, "uid-1") == [
        ("policy/v1", "PodDisruptionBudget", "commerce", "payments"),
        ("v1", "ConfigMap", "commerce", "payments-old"),
    ]
