"""Every object the compiler emits validates: core kinds against the Kubernetes 1.37 strict schemas,
custom resources against the upstream CRD schemas in ../shared/schemas."""

from __future__ import annotations

from lattice.fleet import FleetResult, compile_fleet
from tests.conftest import GOLDEN_INPUTS, load_fleet
from tests.support.schemas import assert_valid


def test_every_example_object_validates(examples_fleet: FleetResult) -> None:
    assert examples_fleet.objects
    assert_valid(examples_fleet.objects)


def test_every_golden_input_object_validates() -> None:
    result = compile_fleet(load_fleet(GOLDEN_INPUTS))
    assert result.objects
    assert_valid(result.objects)


def test_offline_output_has_no_owner_references(examples_fleet: FleetResult) -> None:
    assert not [o for o in examples_fleet.objects if "ownerReferences" in o["metadata"]]


def test_every_object_carries_the_standard_labels(examples_fleet: FleetResult) -> None:
    for obj in examples_fleet.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "lattice", obj["metadata"]
        assert labels["app.kubernetes.io/name"], obj["metadata"]
