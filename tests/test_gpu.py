"""GPU node selection read from the emitted Deployment: the model a developer names becomes the product
values GPU Feature Discovery writes on nodes (`nvidia.com/gpu.product`), never the model name itself."""

from __future__ import annotations

from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.errors import LatticeError
from lattice.fleet import ServiceOutcome, Sourced
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid


def _service(model: str) -> dict[str, Any]:
    return {
        "apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
        "metadata": {"name": "trainer", "namespace": "ml"},
        "spec": {"workload": {
            "containers": {"main": {"image": "registry.example.com/trainer@sha256:" + "b" * 64,
                                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}},
            "resources": {"accel": {"type": "gpu", "params": {"count": 1, "model": model}}},
        }},
    }


def _platform(products: dict[str, list[str]]) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
            "spec": {"gpu": {"products": products}}}


def _compile(model: str, products: dict[str, list[str]] | None = None) -> ServiceOutcome:
    docs = [_service(model), *([_platform(products)] if products is not None else [])]
    result = compile_fleet([Sourced("test.yaml", parse_resource(doc)) for doc in docs])
    assert result.errors == []
    (outcome,) = result.services
    return outcome


def _node_terms(outcome: ServiceOutcome) -> list[dict[str, Any]]:
    assert outcome.ok, outcome.errors
    assert_valid(outcome.objects)
    (deployment,) = [o for o in outcome.objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod  # an exact match on one value would miss the model's other products
    terms: list[dict[str, Any]] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    return terms


def _admits(terms: list[dict[str, Any]], node_labels: dict[str, str]) -> bool:
    """Kubernetes' reading: the terms are ORed, the expressions of one term ANDed."""
    return any(all(node_labels.get(e["key"]) in e["values"] for e in term["matchExpressions"]) for term in terms)


def test_the_default_h100_mapping_admits_every_h100_node_and_no_other() -> None:
    terms = _node_terms(_compile("nvidia-h100"))
    for product in ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"):
        assert _admits(terms, {"nvidia.com/gpu.product": product}), product
    for product in ("nvidia-h100", "NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3-SHARED"):
        assert not _admits(terms, {"nvidia.com/gpu.product": product}), product
    assert not _admits(terms, {})


def test_the_platform_decides_the_products() -> None:
    terms = _node_terms(_compile("big-one", {"big-one": ["NVIDIA-H200", "NVIDIA-H200-NVL"]}))
    assert terms == [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                            "values": ["NVIDIA-H200", "NVIDIA-H200-NVL"]}]}]


def test_an_unknown_model_is_an_error_naming_the_known_ones() -> None:
    outcome = _compile("nvidia-h1000", {"nvidia-h100": ["NVIDIA-H100-80GB-HBM3"], "nvidia-l4": ["NVIDIA-L4"]})
    assert outcome.objects == []
    (problem,) = outcome.errors
    assert problem.path == "spec.workload.resources.accel.params.model"
    assert problem.message == ("GPU model `nvidia-h1000` is not one the platform maps to node products, so no "
                               "node would match")
    assert problem.hint == ("write one of the models the platform knows (`nvidia-h100`, `nvidia-l4`), or have the "
                            "platform team add `nvidia-h1000` under `spec.gpu.products` on the LatticePlatform "
                            "`default`, with the `nvidia.com/gpu.product` values its nodes carry")


def test_a_product_value_written_as_the_model_points_at_its_model() -> None:
    (problem,) = _compile("NVIDIA-H100-PCIe").errors
    assert problem.hint == ("write `model: nvidia-h100` (the platform maps it to NVIDIA-H100-80GB-HBM3, "
                            "NVIDIA-H100-NVL, NVIDIA-H100-PCIe)")


@pytest.mark.parametrize(("products", "path", "message"), [
    ({"H100": ["NVIDIA-H100-PCIe"]}, "spec.gpu.products.H100", "GPU model `H100` is not a DNS label"),
    ({"nvidia-h100": []}, "spec.gpu.products.nvidia-h100", "GPU model `nvidia-h100` lists no product"),
    ({"nvidia-h100": ["NVIDIA H100 PCIe"]}, "spec.gpu.products.nvidia-h100[0]",
     "`NVIDIA H100 PCIe` is not a label value, so no node can carry it"),
])
def test_the_platforms_products_are_checked(products: dict[str, list[str]], path: str, message: str) -> None:
    with pytest.raises(LatticeError) as raised:
        parse_resource(_platform(products))
    (problem,) = raised.value.problems
    assert problem.path == path
    assert problem.message.startswith(message)
