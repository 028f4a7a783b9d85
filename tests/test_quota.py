"""The quota gate: usage is request × the most pods, summed in admission order; every quota of a namespace
must hold; a refused service is never counted; the message says the quota, limit, usage and what is left."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.api.platform import LatticePlatformSpec
from lattice.api.quota import LatticeQuota
from lattice.api.service import LatticeService
from lattice.errors import LatticeError
from lattice.gates.quota import Quota, admit, demand, describe_usage

PLATFORM = LatticePlatformSpec.model_validate({"rates": {"cpu": 0.04, "memory": 0.005, "gpu": {"nvidia-h100": 2.5}},
                                               "gpu": {"products": {"nvidia-h100": ["NVIDIA-H100-80GB-HBM3"]}}})
IMAGE = "registry.example.com/app@sha256:" + "a" * 64


def service(name: str, namespace: str = "commerce", *, cpu: str = "1", memory: str = "1Gi", replicas: int = 1,
            autoscaling: dict[str, Any] | None = None, gpu: int | None = None,
            containers: int = 1) -> LatticeService:
    spec: dict[str, Any] = {"replicas": replicas, "workload": {"containers": {
        f"c{i}": {"image": IMAGE, "resources": {"limits": {"cpu": cpu, "memory": memory}}}
        for i in range(containers)}}}
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    if gpu is not None:
        spec["workload"]["resources"] = {"gpu": {"type": "gpu", "params": {"count": gpu, "model": "nvidia-h100"}}}
    res = parse_resource({"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
                          "metadata": {"name": name, "namespace": namespace}, "spec": spec})
    assert isinstance(res, LatticeService)
    return res


def quota(limits: dict[str, str], name: str = "team-budget", namespace: str = "commerce",
          per_workload: dict[str, str] | None = None) -> Quota:
    res = parse_resource({"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeQuota",
                          "metadata": {"name": name, "namespace": namespace},
                          "spec": {"limits": limits, "maxPerWorkload": per_workload or {}}})
    assert isinstance(res, LatticeQuota)
    return Quota(res.namespace, res.name, res.spec)


def test_the_message_states_quota_limit_usage_request_and_what_is_available() -> None:
    fleet = [service("api", cpu="500m"), service("analytics", replicas=3)]
    refused = admit([demand(s, PLATFORM) for s in fleet], [quota({"cpu": "2"})])
    assert list(refused) == [("commerce", "analytics")]
    [problem] = refused[("commerce", "analytics")]
    assert problem.message == ("quota commerce/team-budget: cpu limit 2, used 0.5 by 1 workload, "
                               "analytics asks 3 (3 × 1) — 1.5 available")
    assert problem.path == "spec.replicas"
    assert "LatticeQuota `team-budget`" in problem.hint and "`replicas`" in problem.hint


def test_usage_counts_the_autoscaling_maximum() -> None:
    scaled = service("web", cpu="250m", replicas=2, autoscaling={"max": 10})
    ask = demand(scaled, PLATFORM)
    assert (ask.pods, ask.baseline_pods, ask.total("cpu")) == (10, 2, Decimal("2.5"))
    [problem] = admit([ask], [quota({"cpu": "2"})])[("commerce", "web")]
    assert problem.path == "spec.autoscaling.max"
    assert "asks 2.5 (10 × 0.25)" in problem.message


def test_every_container_counts_and_limits_stand_in_for_requests() -> None:
    ask = demand(service("api", cpu="300m", memory="256Mi", containers=2, replicas=2), PLATFORM)
    assert ask.per_pod["cpu"] == Decimal("0.6") and ask.per_pod["memory"] == 512 * 2**20
    assert ask.total("memory") == 2**30


def test_containers_without_limits_count_the_platform_defaults() -> None:
    res = parse_resource({"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
                          "metadata": {"name": "bare", "namespace": "commerce"},
                          "spec": {"workload": {"containers": {"main": {"image": IMAGE}}}}})
    assert isinstance(res, LatticeService)
    ask = demand(res, PLATFORM)
    assert ask.per_pod["cpu"] == Decimal("0.5") and ask.per_pod["memory"] == 512 * 2**20


def test_a_refused_service_is_not_counted_and_the_order_decides() -> None:
    fleet = [service("a", cpu="2"), service("b", cpu="2"), service("c", cpu="1")]
    refused = admit([demand(s, PLATFORM) for s in fleet], [quota({"cpu": "3"})])
    assert list(refused) == [("commerce", "b")]  # c still fits: b was never counted
    assert "used 2 by 1 workload" in refused[("commerce", "b")][0].message


def test_quotas_bind_only_their_namespace() -> None:
    fleet = [service("a", cpu="2"), service("b", "storefront", cpu="2")]
    assert admit([demand(s, PLATFORM) for s in fleet], [quota({"cpu": "2"})]) == {}


def test_every_quota_of_a_namespace_must_hold_and_all_reasons_are_given() -> None:
    quotas = [quota({"cpu": "10"}, "wide"), quota({"cpu": "1", "memory": "1Gi"}, "narrow")]
    [cpu, memory] = admit([demand(service("big", cpu="2", memory="2Gi"), PLATFORM)], quotas)[("commerce", "big")]
    assert cpu.message.startswith("quota commerce/narrow: cpu limit 1, used 0 by 0 workloads")
    assert memory.message == ("quota commerce/narrow: memory limit 1Gi, used 0 by 0 workloads, big asks 2Gi "
                              "(1 × 2Gi) — 1Gi available")


def test_gpus_and_cost_are_limited() -> None:
    ask = demand(service("train", cpu="4", memory="16Gi", gpu=2, replicas=2), PLATFORM)
    assert ask.per_pod["nvidia.com/gpu"] == 2
    # per pod: 4 × 0.04 + 16 × 0.005 + 2 × 2.5 = 5.24 per hour
    assert ask.cost_per_hour == Decimal("10.48")
    problems = admit([ask], [quota({"nvidia.com/gpu": "2", "cost": "8"})])[("commerce", "train")]
    assert [p.message for p in problems] == [
        "quota commerce/team-budget: cost limit 8/h, used 0/h by 0 workloads, train asks 10.48/h (2 × 5.24/h) "
        "— 8/h available",
        "quota commerce/team-budget: nvidia.com/gpu limit 2, used 0 by 0 workloads, train asks 4 (2 × 2) "
        "— 2 available",
    ]


def test_max_per_workload() -> None:
    q = quota({"cpu": "100"}, per_workload={"cpu": "2"})
    [problem] = admit([demand(service("wide", replicas=3), PLATFORM)], [q])[("commerce", "wide")]
    assert problem.message == "quota commerce/team-budget: cpu at most 2 per workload, wide asks 3 (3 × 1)"
    assert "maxPerWorkload.cpu" in problem.hint


def test_a_limit_exactly_reached_admits() -> None:
    assert admit([demand(service("a", cpu="1", replicas=2), PLATFORM)], [quota({"cpu": "2"})]) == {}


@pytest.mark.parametrize(("key", "hint"), [("requests.cpu", "write `cpu`"), ("pods", "write one of")])
def test_a_limit_the_gate_does_not_count_is_refused(key: str, hint: str) -> None:
    with pytest.raises(LatticeError) as caught:
        quota({key: "1"})
    [problem] = caught.value.problems
    assert problem.path == f"spec.limits.{key}" and hint in problem.hint


def test_the_usage_a_quota_reports_is_what_the_gate_counted() -> None:
    """A LatticeQuota's status states what its admitted services use, by the gate's own count (the most pods),
    so that the refusal a new service gets adds up with what `kubectl get` shows."""
    fleet = [service("a", cpu="1", memory="1Gi", replicas=2), service("web", cpu="250m", memory="512Mi",
                                                                         autoscaling={"max": 4}),
             service("too-big", cpu="4")]
    budget = quota({"cpu": "4", "memory": "8Gi"})
    demands = [demand(s, PLATFORM) for s in fleet]
    refused = admit(demands, [budget])
    assert list(refused) == [("commerce", "too-big")]
    admitted = [d for d in demands if (d.namespace, d.name) not in refused]
    assert describe_usage(budget.spec, admitted) == "used by 2 workloads: cpu 3 of 4, memory 4Gi of 8Gi"
    assert "used 3 by 2 workloads" in refused[("commerce", "too-big")][0].message  # the same count
    assert describe_usage(quota({"cost": "1"}).spec, []) == "used by 0 workloads: cost 0/h of 1/h"
