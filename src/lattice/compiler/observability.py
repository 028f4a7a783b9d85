"""Observability: a scrape target for every service that has a port to scrape.

The platform picks the stack (VictoriaMetrics or the Prometheus operator); the developer never does.
"""

from __future__ import annotations

from lattice.api.platform import Metrics
from lattice.api.workload import ServicePort
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned
from lattice.errors import Problem

METRICS_PATH = "/metrics"


def metrics_port(ports: dict[str, ServicePort]) -> str | None:
    """The port metrics are read from: `metrics` if declared, else `http`, else the first; TCP ports only.

    Scrapers fetch `/metrics` over HTTP, which runs over TCP: a UDP port (a `metrics` port that receives
    StatsD packets, say) is never scraped, and policy never admits the scraper on it."""
    tcp = [name for name, port in ports.items() if port.protocol == "TCP"]
    for preferred in ("metrics", "http"):
        if preferred in tcp:
            return preferred
    return next(iter(tcp), None)


def no_scrape_target_warning(ports: dict[str, ServicePort]) -> Problem:
    """Why a service gets no scrape target, and what to declare so it does."""
    what = "no TCP port is declared (metrics are read over HTTP)" if ports else "no ports are declared"
    return Problem(
        "spec.workload.service.ports",
        f"{what}, so the service has no metrics scrape target",
        "declare a `metrics` port (e.g. `metrics: {port: 9090}`) so the platform can observe it",
    )


def mesh_tls(metrics: Metrics) -> dict[str, object]:
    """Sidecar mesh under STRICT mTLS: a sidecar refuses plaintext, so the scraper speaks mTLS itself with the
    Istio certificates its own sidecar writes to a shared volume, as Istio documents for Prometheus
    (https://istio.io/latest/docs/ops/integrations/prometheus/#tls-settings). The server's certificate names
    a SPIFFE identity, not a host, which the scrapers cannot check ("security naming"), hence
    insecureSkipVerify; the client certificate is still verified, and the AuthorizationPolicy admits the
    scraper by the identity it carries. In ambient mode ztunnel carries the scrape over HBONE: plain HTTP."""
    directory = metrics.certificates_dir.rstrip("/")
    return {"scheme": "https", "tlsConfig": {
        "caFile": f"{directory}/root-cert.pem", "certFile": f"{directory}/cert-chain.pem",
        "keyFile": f"{directory}/key.pem", "insecureSkipVerify": True}}


def scrape_target(name: str, namespace: str, ports: dict[str, ServicePort], metrics: Metrics,
                  user_labels: dict[str, str], *, sidecar: bool = False) -> Obj | None:
    port = metrics_port(ports)
    if port is None:
        return None
    if metrics.stack == "prometheus-operator":
        api_version, kind = "monitoring.coreos.com/v1", "ServiceMonitor"
    else:
        api_version, kind = "operator.victoriametrics.com/v1beta1", "VMServiceScrape"
    obj = owned(api_version, kind, naming.scrape(name), workload=name, namespace=namespace, user_labels=user_labels)
    obj["spec"] = {
        "selector": {"matchLabels": naming.selector(name)},
        "endpoints": [{"port": port, "path": METRICS_PATH, "interval": metrics.interval,
                       **(mesh_tls(metrics) if sidecar else {})}],
    }
    return obj
