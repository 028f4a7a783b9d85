"""Quota and cost: what a service may use, checked against its namespace's LatticeQuotas before it compiles.

A service's usage is its per-pod request times the most pods it may run (the autoscaling maximum when it
scales, else its replicas): a quota that counted fewer pods would be exceeded by the autoscaler, which no gate
sees. Services are admitted one by one in a stable order (the compile order), each against the usage of those
admitted before it, so the same fleet always admits the same services, and a refused service is never counted.
The requests come from `compiler.budget`, the source the pod spec uses, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lattice.api.platform import LatticePlatformSpec
from lattice.api.quantity import format_cpu, format_memory, parse_quantity
from lattice.api.quota import COST, CPU, GPU, MEMORY, LatticeQuotaSpec
from lattice.api.service import LatticeService
from lattice.compiler.budget import budget
from lattice.compiler.gpu import gpu_resource
from lattice.errors import Problem

GIB = Decimal(2**30)
RESOURCES = (CPU, MEMORY, GPU, COST)


@dataclass(frozen=True, slots=True)
class Demand:
    """What one service asks of its namespace's quotas: per pod, and how many pods at most."""

    namespace: str
    name: str
    per_pod: Mapping[str, Decimal]
    """cpu in cores, memory in bytes, nvidia.com/gpu in devices, cost per hour."""
    pods: int
    """The most pods it may run: the autoscaling maximum, else the replicas."""
    baseline_pods: int
    """The pods it runs when idle: the autoscaling minimum, else the replicas (what its cost usually is)."""
    replicas_path: str

    def total(self, resource: str) -> Decimal:
        return self.per_pod.get(resource, Decimal(0)) * self.pods

    @property
    def cost_per_hour(self) -> Decimal:
        """The hourly cost at its baseline pod count."""
        return self.per_pod.get(COST, Decimal(0)) * self.baseline_pods

    @property
    def max_cost_per_hour(self) -> Decimal:
        return self.total(COST)


@dataclass(frozen=True, slots=True)
class Quota:
    namespace: str
    name: str
    spec: LatticeQuotaSpec


@dataclass(slots=True)
class _Usage:
    amounts: dict[str, Decimal] = field(default_factory=dict)
    workloads: int = 0

    def add(self, ask: Demand, quota: LatticeQuotaSpec) -> None:
        """Count an admitted service against the resources the quota limits."""
        self.workloads += 1
        for resource in quota.limits:
            self.amounts[resource] = self.amounts.get(resource, Decimal(0)) + ask.total(resource)


def demand(service: LatticeService, platform: LatticePlatformSpec) -> Demand:
    """The service's per-pod requests (every container, under the platform's default limits where it sets
    none) and its cost per hour from the platform's rates."""
    spec = service.spec
    cpu = memory = Decimal(0)
    for container in spec.workload.containers.values():
        requests = budget(container, platform.defaults.resources).requests
        cpu += parse_quantity(requests["cpu"]) or Decimal(0)
        memory += parse_quantity(requests["memory"]) or Decimal(0)
    per_pod = {CPU: cpu, MEMORY: memory}
    rates = platform.rates
    cost = cpu * Decimal(str(rates.cpu)) + memory / GIB * Decimal(str(rates.memory))
    found = gpu_resource(spec.workload.resources)
    if found is not None and found[1].params.count:
        gpus = Decimal(found[1].params.count)
        per_pod[GPU] = gpus
        cost += gpus * Decimal(str(rates.gpu.get(found[1].params.model or "", 0.0)))
    per_pod[COST] = cost
    if spec.autoscaling is not None:
        minimum = spec.autoscaling.min if spec.autoscaling.min is not None else spec.replicas
        return Demand(service.namespace, service.name, per_pod, spec.autoscaling.max, minimum, "spec.autoscaling.max")
    return Demand(service.namespace, service.name, per_pod, spec.replicas, spec.replicas, "spec.replicas")


def admit(demands: Sequence[Demand], quotas: Iterable[Quota]) -> dict[tuple[str, str], list[Problem]]:
    """Every refused service's problems, keyed by (namespace, name); `demands` in admission order.
    A namespace without quotas admits everything; with several, all must hold."""
    by_namespace: dict[str, list[Quota]] = {}
    for quota in sorted(quotas, key=lambda q: (q.namespace, q.name)):
        by_namespace.setdefault(quota.namespace, []).append(quota)
    usage: dict[tuple[str, str], _Usage] = {}
    refused: dict[tuple[str, str], list[Problem]] = {}
    for ask in demands:
        applying = by_namespace.get(ask.namespace, [])
        problems = [problem for quota in applying
                    for problem in _problems(quota, ask, usage.setdefault((quota.namespace, quota.name), _Usage()))]
        if problems:
            refused[(ask.namespace, ask.name)] = problems
            continue
        for quota in applying:
            usage[(quota.namespace, quota.name)].add(ask, quota.spec)
    return refused


def describe_usage(quota: LatticeQuotaSpec, admitted: Iterable[Demand]) -> str:
    """What the admitted services of the quota's namespace use of each limit, as the gate counted it (their
    most pods): `used by 2 workloads: cpu 1.5 of 4, memory 3Gi of 8Gi`. `admitted` are the namespace's
    services the quota admitted (each quota of a namespace admits the same ones: all must hold)."""
    used = _Usage()
    for ask in admitted:
        used.add(ask, quota)
    amounts = ", ".join(f"{resource} {_show(resource, used.amounts.get(resource, Decimal(0)))} of "
                        f"{_show(resource, _amount(resource, text))}"
                        for resource, text in sorted(quota.limits.items()))
    return f"used by {used.workloads} workload{'' if used.workloads == 1 else 's'}: {amounts}"


def _problems(quota: Quota, ask: Demand, used: _Usage) -> list[Problem]:
    out = []
    shown = f"quota {quota.namespace}/{quota.name}"
    for resource, text in sorted(quota.spec.max_per_workload.items()):
        limit = _amount(resource, text)
        if ask.total(resource) > limit:
            out.append(Problem(
                ask.replicas_path,
                f"{shown}: {resource} at most {_show(resource, limit)} per workload, {ask.name} asks "
                f"{_asks(resource, ask)}",
                _hint(quota, ask, resource, "maxPerWorkload"),
            ))
    for resource, text in sorted(quota.spec.limits.items()):
        limit = _amount(resource, text)
        current = used.amounts.get(resource, Decimal(0))
        if current + ask.total(resource) > limit:
            available = max(limit - current, Decimal(0))
            workloads = f"{used.workloads} workload{'' if used.workloads == 1 else 's'}"
            out.append(Problem(
                ask.replicas_path,
                f"{shown}: {resource} limit {_show(resource, limit)}, used {_show(resource, current)} by {workloads}, "
                f"{ask.name} asks {_asks(resource, ask)} — {_show(resource, available)} available",
                _hint(quota, ask, resource, "limits"),
            ))
    return out


def _asks(resource: str, ask: Demand) -> str:
    per_pod = ask.per_pod.get(resource, Decimal(0))
    return f"{_show(resource, ask.total(resource))} ({ask.pods} × {_show(resource, per_pod)})"


def _hint(quota: Quota, ask: Demand, resource: str, where: str) -> str:
    scale = "`autoscaling.max`" if ask.replicas_path == "spec.autoscaling.max" else "`replicas`"
    what = {CPU: "CPU requests", MEMORY: "memory requests", GPU: "GPU count", COST: "requests"}[resource]
    return (f"lower the {what} or {scale} of {ask.name}, or ask the platform team to raise `{where}.{resource}` "
            f"of the LatticeQuota `{quota.name}` in namespace `{quota.namespace}`")


def _amount(resource: str, text: str) -> Decimal:
    """A quota amount; the model accepts only quantities, so it always parses."""
    value = parse_quantity(text)
    assert value is not None, f"{resource}: {text} passed validation but does not parse"
    return value


def _show(resource: str, value: Decimal) -> str:
    if resource == MEMORY:
        if value >= GIB and value % GIB:  # 8.69Gi reads better than 8896Mi
            return f"{(value / GIB).quantize(Decimal('0.01')).normalize():f}Gi"
        return format_memory(value.to_integral_value()) if value >= 1024 else f"{value.normalize():f}"
    if resource == COST:
        return f"{value.quantize(Decimal('0.0001')).normalize():f}/h"
    if resource == CPU:
        return f"{value.normalize():f}" if value == value.quantize(Decimal("0.001")) else format_cpu(value)
    return f"{value.normalize():f}"
