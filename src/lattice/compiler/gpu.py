"""GPU scheduling: which nodes a pod with a `gpu` resource may run on, from the model the developer names.

Developers name a model (`nvidia-h100`); nodes carry what GPU Feature Discovery measured
(`nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3`). The platform's `spec.gpu.products` maps one to the other,
and one model may be several products (SXM, PCIe, NVL), so the pod gets a node affinity `In` over all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from lattice.api.platform import Gpu
from lattice.api.workload import Dependency
from lattice.compiler.meta import Obj
from lattice.errors import Problem

PRODUCT_LABEL = "nvidia.com/gpu.product"


def gpu_resource(resources: Mapping[str, Dependency]) -> tuple[str, Dependency] | None:
    """The workload's one `gpu` resource (the model validation allows at most one) and its name."""
    return next(((name, dep) for name, dep in resources.items() if dep.type == "gpu"), None)


def model_problems(resources: Mapping[str, Dependency], gpus: Gpu) -> list[Problem]:
    """A model the platform does not map to products would select no node: the pod would stay Pending."""
    found = gpu_resource(resources)
    if found is None:
        return []
    name, dep = found
    model = dep.params.model
    if model is None or model in gpus.products:
        return []
    known = ", ".join(f"`{m}`" for m in sorted(gpus.products)) or "none"
    owner = next((m for m, products in sorted(gpus.products.items()) if model in products), None)
    hint = (f"write `model: {owner}` (the platform maps it to {', '.join(gpus.products[owner])})" if owner else
            f"write one of the models the platform knows ({known}), or have the platform team add `{model}` under "
            f"`spec.gpu.products` on the LatticePlatform `default`, with the `{PRODUCT_LABEL}` values its nodes carry")
    return [Problem(f"spec.workload.resources.{name}.params.model",
                    f"GPU model `{model}` is not one the platform maps to node products, so no node would match",
                    hint)]


def node_affinity(model: str, gpus: Gpu) -> Obj:
    """Required node affinity for the model's products (checked by `model_problems` before)."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": PRODUCT_LABEL, "operator": "In", "values": sorted(gpus.products[model])}]},
    ]}}}
