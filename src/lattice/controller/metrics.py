"""The controller's own metrics (prometheus-client), served on `/metrics` beside `/healthz`."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    """One registry per controller, so tests (and two controllers in one process) never share counters."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.reconciles = Counter("lattice_reconciles_total", "Services reconciled, by result.", ["result"],
                                  registry=self.registry)
        self.failures = Counter("lattice_reconcile_failures_total", "Reconcile failures, by reason.", ["reason"],
                                registry=self.registry)
        self.reconcile_seconds = Histogram(
            "lattice_reconcile_duration_seconds", "Time of one burst: compile, apply, status.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry)
        self.compile_seconds = Histogram(
            "lattice_compile_duration_seconds", "One service's gates and derivation, without any API call.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1), registry=self.registry)
        self.queue_depth = Gauge("lattice_queue_depth", "Services waiting to be reconciled.", registry=self.registry)
        self.fleet_size = Gauge("lattice_fleet_size", "Workloads the controller knows.", registry=self.registry)
