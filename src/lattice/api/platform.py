"""`LatticePlatform`: the platform team's opinions, one cluster-scoped object named `default`.

Every field has a safe default so that a fleet without a LatticePlatform still compiles to a hardened result.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from lattice.api.base import (
    LABEL_VALUE,
    DnsLabel,
    DnsSubdomain,
    LabelKey,
    Labels,
    Model,
    Quantity,
    Resource,
    check_dns_label,
)
from lattice.api.duration import GoDuration, PrometheusDuration
from lattice.api.quantity import parse_quantity
from lattice.errors import invalid, reraise_at


class Mesh(Model):
    trust_domain: DnsSubdomain = "cluster.local"
    mode: Literal["ambient", "sidecar"] = "ambient"
    control_plane_namespace: DnsLabel = "istio-system"
    control_plane_labels: Labels = Field(default_factory=lambda: {"app": "istiod"},
                                         description="Labels of istiod's pods (sidecars and gateways fetch config).")
    control_plane_service: DnsLabel = Field(
        default="istiod",
        description="istiod's Service: proxies dial `<service>.<controlPlaneNamespace>.svc:15012` by name "
                    "(`istiod-<revision>` for a revisioned install), so DNS rules must admit it.",
    )
    root_namespace: DnsLabel | None = Field(
        default=None,
        description="Istio's root namespace (meshConfig.rootNamespace), where the mesh-wide PeerAuthentication and "
                    "allow-nothing AuthorizationPolicy go; defaults to the control plane's namespace, as Istio's does.",
    )

    @property
    def root(self) -> str:
        """The namespace whose selector-less policies bind every workload (and gateway) of the mesh."""
        return self.root_namespace or self.control_plane_namespace


class Secrets(Model):
    default_provider: DnsLabel | None = None
    refresh_interval: GoDuration = "1h"


# What each stack's operator calls the scraper it runs for a VMAgent or Prometheus object named N:
# the VictoriaMetrics operator creates ServiceAccount `vmagent-N` and labels the pods
# `app.kubernetes.io/name: vmagent`, `app.kubernetes.io/instance: N` (VMAgent.PrefixedName, SelectorLabels);
# prometheus-operator labels them `app.kubernetes.io/name: prometheus`, `app.kubernetes.io/instance: N` and runs
# them as `spec.serviceAccountName`, which kube-prometheus sets to `prometheus-N`.
_SCRAPER_APP = {"victoriametrics": "vmagent", "prometheus-operator": "prometheus"}


class Metrics(Model):
    stack: Literal["victoriametrics", "prometheus-operator"] = "victoriametrics"
    interval: PrometheusDuration = "30s"
    namespace: DnsLabel = Field(default="monitoring", description="Where the scraper runs.")
    scraper: DnsLabel = Field(
        default="lattice", description="The name of the VMAgent (or Prometheus) object that scrapes the fleet."
    )
    service_account: DnsLabel | None = Field(
        default=None,
        description="The scraper's ServiceAccount (its mesh identity); defaults to what the stack names it: "
                    "`vmagent-<scraper>` or `prometheus-<scraper>`.",
    )
    pod_labels: Labels | None = Field(
        default=None,
        description="Labels of the scraper's pods (network policy admits them on the metrics port); default "
                    "`app.kubernetes.io/name: vmagent|prometheus` and `app.kubernetes.io/instance: <scraper>`.",
    )
    certificates_dir: str = Field(
        default="/etc/prom-certs",
        description="Sidecar mesh: where the scraper's pods mount the Istio certificates their sidecar writes "
                    "(OUTPUT_CERTS); scrapes use them for mTLS, as Istio's Prometheus integration documents.",
    )

    @property
    def scraper_service_account(self) -> str:
        return self.service_account or f"{_SCRAPER_APP[self.stack]}-{self.scraper}"

    @property
    def scraper_pod_labels(self) -> dict[str, str]:
        if self.pod_labels is not None:
            return dict(self.pod_labels)
        return {"app.kubernetes.io/name": _SCRAPER_APP[self.stack], "app.kubernetes.io/instance": self.scraper}


class Dns(Model):
    """Where cluster DNS runs: every workload may ask it for the names it is allowed to reach."""

    namespace: DnsLabel = "kube-system"
    pod_labels: Labels = Field(default_factory=lambda: {"k8s-app": "kube-dns"})
    search_domains: list[DnsSubdomain] = Field(
        default_factory=list,
        description="Search domains the nodes add to pods' resolv.conf (e.g. `ec2.internal`): lookups through "
                    "them must pass the DNS proxy too.",
    )
    # glibc's resolver caps ndots at 15 (resolv.conf(5)), so a larger value cannot describe any pod.
    ndots: int = Field(default=5, ge=1, le=15, description="The pods' resolv.conf ndots (Kubernetes' default is 5).")


class IngressDefaults(Model):
    gateway_class: DnsLabel = "istio"
    issuer: DnsSubdomain | None = Field(default=None, description="ClusterIssuer for route certificates.")
    cert_manager_namespace: DnsLabel = Field(
        default="cert-manager",
        description="Where cert-manager runs: its HTTP-01 self-check reaches the Gateway from there.",
    )


class Images(Model):
    require_digest: bool = True
    allow_unlisted_registries: bool = False


class Rates(Model):
    cpu: float = Field(default=0.0, ge=0, description="Cost per vCPU-hour.")
    memory: float = Field(default=0.0, ge=0, description="Cost per GiB-hour.")
    gpu: dict[str, float] = Field(default_factory=dict, description="Cost per GPU-hour by model.")


# GPU models as workloads name them, and the `nvidia.com/gpu.product` values NVIDIA's GPU Feature Discovery
# writes on nodes that have them: the NVML device name with spaces turned into dashes (`productLabel` in
# NVIDIA/k8s-device-plugin internal/lm/resource.go), e.g. "NVIDIA H100 80GB HBM3" -> `NVIDIA-H100-80GB-HBM3`.
# Shared (time-sliced) GPUs get a `-SHARED` suffix and MIG slices `-MIG-<profile>`: list those where used.
DEFAULT_GPU_PRODUCTS: dict[str, list[str]] = {
    "nvidia-a100": ["NVIDIA-A100-80GB-PCIe", "NVIDIA-A100-PCIE-40GB", "NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-SXM4-80GB"],
    "nvidia-a10g": ["NVIDIA-A10G"],
    "nvidia-b200": ["NVIDIA-B200"],
    "nvidia-h100": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-NVL", "NVIDIA-H100-PCIe"],
    "nvidia-h200": ["NVIDIA-H200"],
    "nvidia-l4": ["NVIDIA-L4"],
    "nvidia-l40s": ["NVIDIA-L40S"],
    "nvidia-t4": ["Tesla-T4"],
}


def _products(value: dict[str, list[str]]) -> dict[str, list[str]]:
    for model, products in value.items():
        try:
            check_dns_label(model, "GPU model")
        except PydanticCustomError as exc:
            raise reraise_at(exc, model) from None
        if not products:
            raise invalid(f"GPU model `{model}` lists no product", "list its `nvidia.com/gpu.product` values",
                          (model,))
        for i, product in enumerate(products):
            if len(product) > 63 or not LABEL_VALUE.fullmatch(product):
                raise invalid(f"`{product}` is not a label value, so no node can carry it",
                              "write the value exactly as `kubectl get nodes -L nvidia.com/gpu.product` shows it",
                              (model, i))
    return value


class Gpu(Model):
    """Which nodes may run a `gpu` resource of each model: GPU models are named once, by the platform."""

    products: Annotated[dict[str, list[str]], AfterValidator(_products)] = Field(
        default_factory=lambda: {model: list(values) for model, values in DEFAULT_GPU_PRODUCTS.items()},
        description="GPU models (`params.model` of a gpu resource) and the `nvidia.com/gpu.product` node label "
                    "values GPU Feature Discovery writes for them; a pod may run on a node with any of them. "
                    "Replaces the defaults when given.",
    )


class Topology(Model):
    zone_key: LabelKey = "topology.kubernetes.io/zone"
    host_key: LabelKey = "kubernetes.io/hostname"


class DefaultLimits(Model):
    cpu: Quantity = "500m"
    memory: Quantity = "512Mi"

    @field_validator("cpu", "memory")
    @classmethod
    def _not_zero(cls, value: str, info: ValidationInfo) -> str:
        # A zero limit is no limit (the kubelet sets none for 0), which a workload may not write either: as a
        # default it would leave every container that sets no limit unbounded, and quotas would count nothing.
        if parse_quantity(value) == 0:
            example = "500m" if info.field_name == "cpu" else "512Mi"
            raise invalid(f"a default limit of `{value}` is no limit: Kubernetes leaves a container with a zero "
                          f"{info.field_name} limit unlimited, and every container that sets none would get it",
                          f"write the most a container may use by default, e.g. `{info.field_name}: {example}`")
        return value


class DefaultResources(Model):
    limits: DefaultLimits = Field(
        default_factory=DefaultLimits,
        description="Limits of a container that sets none (requests default to the limits, as everywhere).",
    )


class Defaults(Model):
    """What a workload gets where it says nothing (most Score files set no limits)."""

    resources: DefaultResources = Field(default_factory=DefaultResources)


class LatticePlatformSpec(Model):
    cluster_domain: DnsSubdomain = "cluster.local"
    mesh: Mesh = Field(default_factory=Mesh)
    secrets: Secrets = Field(default_factory=Secrets)
    metrics: Metrics = Field(default_factory=Metrics)
    images: Images = Field(default_factory=Images)
    rates: Rates = Field(default_factory=Rates)
    topology: Topology = Field(default_factory=Topology)
    dns: Dns = Field(default_factory=Dns)
    ingress: IngressDefaults = Field(default_factory=IngressDefaults)
    gpu: Gpu = Field(default_factory=Gpu)
    defaults: Defaults = Field(default_factory=Defaults)
    system_namespaces: list[DnsLabel] = Field(
        default_factory=lambda: [
            "kube-system", "kube-public", "kube-node-lease", "istio-system", "cilium", "monitoring",
            "cert-manager", "external-secrets", "keda",
        ],
        description="Namespaces of the platform's own controllers, exempt from the cluster-wide default deny "
                    "(their controllers reach the API server and serve webhooks); the mesh, metrics and DNS "
                    "namespaces named above are always exempt too.",
    )


class LatticePlatform(Resource):
    KIND: ClassVar[str] = "LatticePlatform"
    PLURAL: ClassVar[str] = "latticeplatforms"
    NAMESPACED: ClassVar[bool] = False

    kind: Literal["LatticePlatform"]
    spec: LatticePlatformSpec = Field(default_factory=LatticePlatformSpec)


DEFAULT_PLATFORM = LatticePlatformSpec()
