"""`LatticePlatform`: the platform team's opinions, one cluster-scoped object named `default`.

Every field has a safe default so that a fleet without a LatticePlatform still compiles to a hardened result.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from lattice.api.base import DnsLabel, DnsSubdomain, LabelKey, Labels, Model, Resource
from lattice.api.duration import GoDuration, PrometheusDuration


class Mesh(Model):
    trust_domain: DnsSubdomain = "cluster.local"
    mode: Literal["ambient", "sidecar"] = "ambient"
    control_plane_namespace: DnsLabel = "istio-system"
    control_plane_labels: Labels = Field(default_factory=lambda: {"app": "istiod"},
                                         description="Labels of istiod's pods (sidecars and gateways fetch config).")


class Secrets(Model):
    default_provider: DnsLabel | None = None
    refresh_interval: GoDuration = "1h"


class Metrics(Model):
    stack: Literal["victoriametrics", "prometheus-operator"] = "victoriametrics"
    interval: PrometheusDuration = "30s"
    namespace: DnsLabel = Field(default="monitoring", description="Where the scraper runs.")
    service_account: DnsLabel = Field(
        default="vmagent", description="The scraper's ServiceAccount (its mesh identity)."
    )
    pod_labels: Labels = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "vmagent"},
        description="Labels of the scraper's pods (network policy admits them on the metrics port).",
    )


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


class Images(Model):
    require_digest: bool = True
    allow_unlisted_registries: bool = False


class Rates(Model):
    cpu: float = Field(default=0.0, ge=0, description="Cost per vCPU-hour.")
    memory: float = Field(default=0.0, ge=0, description="Cost per GiB-hour.")
    gpu: dict[str, float] = Field(default_factory=dict, description="Cost per GPU-hour by model.")


class Topology(Model):
    zone_key: LabelKey = "topology.kubernetes.io/zone"
    host_key: LabelKey = "kubernetes.io/hostname"


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
    system_namespaces: list[DnsLabel] = Field(
        default_factory=lambda: [
            "kube-system", "kube-public", "kube-node-lease", "istio-system", "cilium", "monitoring"
        ]
    )


class LatticePlatform(Resource):
    KIND: ClassVar[str] = "LatticePlatform"
    PLURAL: ClassVar[str] = "latticeplatforms"
    NAMESPACED: ClassVar[bool] = False

    kind: Literal["LatticePlatform"]
    spec: LatticePlatformSpec = Field(default_factory=LatticePlatformSpec)


DEFAULT_PLATFORM = LatticePlatformSpec()
