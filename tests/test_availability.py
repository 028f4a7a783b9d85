"""The PodDisruptionBudget by its meaning, computed as the disruption controller computes it (Kubernetes
"Specifying a Disruption Budget" and pkg/controller/disruption: `minAvailable` and `maxUnavailable`, as
integers or percentages rounded up, give the desired number of healthy pods; an eviction is allowed while
`currentHealthy - desiredHealthy >= 1`).

The promise: with r pods serving, a voluntary eviction (a drain) is always possible, and while one pod is
down no second one may be evicted, so at least r - 1 serve; an autoscaled workload keeps that promise at
every size its autoscaler may choose. One replica gets no budget: a budget that allows nothing would block
every node drain forever.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.fleet import FleetResult, Sourced
from tests.support.gates import compile_fleet


def _service(name: str, replicas: int, autoscaling: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "workload": {
        "containers": {"main": {"image": "registry.example.com/app:1",
                                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
        "service": {"ports": {"http": {"port": 8080}}}}}
    if autoscaling:
        spec["autoscaling"] = {"metrics": [{"metric": "cpu", "target": 70}], **autoscaling}
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": "team"}, "spec": spec}


def _compile(*docs: dict[str, Any]) -> FleetResult:
    result = compile_fleet([Sourced("test", parse_resource(d)) for d in docs])
    assert result.ok, [e.render() for s in result.services for e in s.errors]
    return result


def _scaled(value: int | str, expected: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * expected / 100)
    return int(value)


def disruptions_allowed(pdb: dict[str, Any], *, expected: int, healthy: int) -> int:
    """`status.disruptionsAllowed` for `expected` pods of which `healthy` are ready."""
    spec = pdb["spec"]
    if "minAvailable" in spec:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    return max(0, healthy - desired)


def _budgets_selecting(result: FleetResult, pod_labels: dict[str, str], namespace: str) -> list[dict[str, Any]]:
    return [o for o in result.objects if o["kind"] == "PodDisruptionBudget" and o["metadata"]["namespace"] == namespace
            and all(pod_labels.get(k) == v for k, v in o["spec"]["selector"]["matchLabels"].items())
            and not o["spec"]["selector"].get("matchExpressions")]


def _pods_of(result: FleetResult, name: str) -> tuple[dict[str, str], str]:
    deployment = next(o for o in result.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return deployment["spec"]["template"]["metadata"]["labels"], deployment["metadata"]["namespace"]


def check_budget(result: FleetResult, name: str, sizes: range) -> None:
    """Exactly one budget selects the workload's pods; at every size one eviction is allowed and a second,
    while the first pod is gone, is not."""
    labels, namespace = _pods_of(result, name)
    (pdb,) = _budgets_selecting(result, labels, namespace)
    for size in sizes:
        assert disruptions_allowed(pdb, expected=size, healthy=size) >= 1, (size, pdb["spec"])
        assert disruptions_allowed(pdb, expected=size, healthy=size - 1) == 0, (size, pdb["spec"])


@pytest.mark.parametrize("replicas", [2, 3, 5, 10])
def test_fixed_replicas_allow_one_eviction_at_a_time(replicas: int) -> None:
    result = _compile(_service("app", replicas), _service("other", 3))
    check_budget(result, "app", range(replicas, replicas + 1))


@pytest.mark.parametrize(("low", "high"), [(2, 2), (2, 10), (3, 7)])
def test_an_autoscaled_workload_keeps_the_promise_at_every_size(low: int, high: int) -> None:
    result = _compile(_service("app", low, {"min": low, "max": high}))
    check_budget(result, "app", range(low, high + 1))


@pytest.mark.parametrize("doc", [_service("app", 1), _service("app", 0), _service("app", 1, {"min": 1, "max": 5})],
                         ids=["one replica", "no replica", "autoscaled from one"])
def test_one_replica_gets_no_budget_so_drains_are_not_blocked(doc: dict[str, Any]) -> None:
    result = _compile(doc)
    labels, namespace = _pods_of(result, "app")
    assert _budgets_selecting(result, labels, namespace) == []


def test_a_budget_selects_only_its_own_workload() -> None:
    result = _compile(_service("app", 3), _service("app-canary", 3), _service("other", 1))
    other_labels, namespace = _pods_of(result, "other")
    assert _budgets_selecting(result, other_labels, namespace) == []
    for name in ("app", "app-canary"):
        labels, _ = _pods_of(result, name)
        assert len(_budgets_selecting(result, labels, namespace)) == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 12), st.one_of(st.none(), st.tuples(st.integers(1, 6), st.integers(0, 8))))
def test_any_shape_keeps_r_minus_one_serving(replicas: int, scaling: tuple[int, int] | None) -> None:
    autoscaling = None
    if scaling is not None:
        low = max(scaling[0], 1)
        replicas = min(max(replicas, low), low + scaling[1])
        autoscaling = {"min": low, "max": low + scaling[1]}
    result = _compile(_service("app", replicas, autoscaling))
    low = autoscaling["min"] if autoscaling else replicas
    high = autoscaling["max"] if autoscaling else replicas
    labels, namespace = _pods_of(result, "app")
    if low <= 1:
        assert _budgets_selecting(result, labels, namespace) == []
    else:
        check_budget(result, "app", range(low, high + 1))
