"""Two defaults decided from Kubernetes' own behaviour, checked by what the kubelet and the eviction API do with
the emitted objects (small re-statements of their rules), not by the bytes.

- A non-root container names a numeric user: the kubelet refuses `runAsNonRoot` without `runAsUser` when the
  image's USER is a name, since it cannot tell whether that name is root.
- Budgets use `unhealthyPodEvictionPolicy: AlwaysAllow`: an unready pod never holds a node drain up, a Ready
  one is still protected.
"""

from __future__ import annotations

from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.fleet import ServiceOutcome, Sourced
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid


def _outcome(security: dict[str, Any] | None = None, replicas: int = 3) -> ServiceOutcome:
    container: dict[str, Any] = {"image": "registry.example.com/app@sha256:" + "d" * 64,
                                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
    if security is not None:
        container["security"] = security
    doc = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
           "metadata": {"name": "app", "namespace": "team"},
           "spec": {"replicas": replicas, "workload": {"containers": {"main": container},
                                                       "service": {"ports": {"http": {"port": 8080}}}}}}
    (outcome,) = compile_fleet([Sourced("test.yaml", parse_resource(doc))]).services
    assert outcome.ok, outcome.errors
    assert_valid(outcome.objects)
    return outcome


def _pod(outcome: ServiceOutcome) -> dict[str, Any]:
    (deployment,) = [o for o in outcome.objects if o["kind"] == "Deployment"]
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _kubelet_starts(pod: dict[str, Any], image_user: str) -> tuple[bool, int | None]:
    """`verifyRunAsNonRoot` (kubelet): the container's security context over the pod's; returns whether the
    container starts and the uid it runs as (None: the image's named user)."""
    (container,) = pod["containers"]
    effective = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    uid = effective.get("runAsUser")
    if uid is None:
        # the runtime reports a numeric USER as a uid, a name (even `root`) as a name, none as uid 0
        uid = int(image_user) if image_user.isdigit() else (0 if image_user == "" else None)
    if not effective.get("runAsNonRoot"):
        return True, uid
    if "runAsUser" in effective:
        return effective["runAsUser"] != 0, uid
    if uid is None:  # "image has non-numeric user (...), cannot verify user is non-root"
        return False, uid
    return uid != 0, uid


@pytest.mark.parametrize("image_user", ["app", "nonroot", "1000", "0", "", "root"])
def test_every_image_starts_and_never_as_root(image_user: str) -> None:
    starts, uid = _kubelet_starts(_pod(_outcome()), image_user)
    assert starts
    assert uid not in (None, 0)


def test_a_declared_user_is_kept() -> None:
    (container,) = _pod(_outcome({"runAsUser": 1000}))["containers"]
    assert container["securityContext"]["runAsUser"] == 1000
    assert "runAsGroup" not in container["securityContext"]  # the image decides the group of its own user
    assert _kubelet_starts(_pod(_outcome({"runAsUser": 1000})), "app") == (True, 1000)


@pytest.mark.parametrize("security", [None, {"capabilities": ["NET_BIND_SERVICE"]}, {"runAsNonRoot": True}])
def test_a_non_root_container_that_names_no_user_never_runs_in_the_root_group(security: dict[str, Any] | None
                                                                              ) -> None:
    # With the platform's user and no group, the runtime would take the image's group, often 0 (root's).
    (container,) = _pod(_outcome(security))["containers"]
    ctx = container["securityContext"]
    assert (ctx["runAsUser"], ctx["runAsGroup"]) == (65532, 65532)


def test_a_declared_group_is_kept() -> None:
    (container,) = _pod(_outcome({"runAsGroup": 3000}))["containers"]
    assert (container["securityContext"]["runAsUser"], container["securityContext"]["runAsGroup"]) == (65532, 3000)


@pytest.mark.parametrize("security", [{"runAsNonRoot": False}, {"runAsUser": 0}])
def test_a_root_override_gets_no_made_up_user(security: dict[str, Any]) -> None:
    (container,) = _pod(_outcome(security))["containers"]
    assert container["securityContext"]["runAsNonRoot"] is False
    assert container["securityContext"].get("runAsUser") in (None, 0)


def test_a_contradictory_root_user_is_refused_by_the_kubelet() -> None:
    assert _kubelet_starts(_pod(_outcome({"runAsUser": 0, "runAsNonRoot": True})), "app") == (False, 0)


def _eviction_allowed(budget: dict[str, Any], pods: list[bool], victim: int) -> bool:
    """The eviction API on a budget of Running pods (`pods[i]`: Ready): a Ready pod may go while more than the
    desired healthy count are Ready; an unready one per `unhealthyPodEvictionPolicy`."""
    spec = budget["spec"]
    healthy = sum(pods)
    desired = spec["minAvailable"] if "minAvailable" in spec else len(pods) - spec["maxUnavailable"]
    if pods[victim]:
        return healthy - desired > 0
    if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    return healthy >= desired  # IfHealthyBudget, the default


def _budget(outcome: ServiceOutcome) -> dict[str, Any]:
    (budget,) = [o for o in outcome.objects if o["kind"] == "PodDisruptionBudget"]
    return budget


def test_a_crash_looping_pod_never_blocks_a_drain() -> None:
    budget = _budget(_outcome(replicas=3))
    assert _eviction_allowed(budget, [False, False, False], 0)  # nothing is serving: nothing to protect
    assert _eviction_allowed(budget, [True, True, False], 2)    # at the floor, the broken pod may still go


def test_ready_pods_stay_protected() -> None:
    budget = _budget(_outcome(replicas=3))
    assert _eviction_allowed(budget, [True, True, True], 0)
    assert not _eviction_allowed(budget, [True, True, False], 0)  # would drop below replicas - 1 Ready
