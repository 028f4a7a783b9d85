"""Observability: a scrape target for every service that has a port to scrape.

The platform picks the stack (VictoriaMetrics or the Prometheus operator); the developer never does.
"""

from __future__ import annotations

from lattice.api.platform import Metrics
from lattice.api.workload import ServicePort
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned

METRICS_PATH = "/metrics"


def metrics_port(ports: dict[str, ServicePort]) -> str | None:
    """The port metrics are read from: `metrics` if declared, else `http`, else the first."""
    for preferred in ("metrics", "http"):
        if preferred in ports:
            return preferred
    return next(iter(ports), None)


def scrape_target(name: str, namespace: str, ports: dict[str, ServicePort], metrics: Metrics,
                  user_labels: dict[str, str]) -> Obj | None:
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
        "endpoints": [{"port": port, "path": METRICS_PATH, "interval": metrics.interval}],
    }
    return obj
