"""What the cluster-wide objects select, read from the emitted objects with Cilium's selector semantics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lattice.api.platform import LatticePlatformSpec
from lattice.compiler.platform import cluster_objects
from tests.policy_checker import selector_matches

NAMESPACE = "k8s:io.kubernetes.pod.namespace"


def _cilium_selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    return selector_matches(selector, labels.get)


def _default_deny(platform: LatticePlatformSpec) -> Mapping[str, Any]:
    deny = next(o for o in cluster_objects(platform) if o["kind"] == "CiliumClusterwideNetworkPolicy")
    assert deny["spec"]["enableDefaultDeny"] == {"ingress": True, "egress": True}
    selector: Mapping[str, Any] = deny["spec"]["endpointSelector"]
    return selector


def _pod(namespace: str) -> dict[str, str]:
    return {NAMESPACE: namespace, "k8s:app.kubernetes.io/name": "x"}


@pytest.mark.parametrize("namespace", ["external-secrets", "cert-manager", "keda", "monitoring", "istio-system",
                                       "kube-system", "kube-public", "kube-node-lease", "cilium"])
def test_default_deny_leaves_the_platforms_controllers_alone(namespace: str) -> None:
    assert not _cilium_selects(_default_deny(LatticePlatformSpec()), _pod(namespace))


@pytest.mark.parametrize("namespace", ["commerce", "storefront", "default", "external-secrets-team"])
def test_default_deny_still_selects_every_application_namespace(namespace: str) -> None:
    assert _cilium_selects(_default_deny(LatticePlatformSpec()), _pod(namespace))


def test_default_deny_selects_no_endpoint_without_a_namespace() -> None:
    # Each node's health endpoint carries only `reserved:health`; NotIn alone would select it.
    assert not _cilium_selects(_default_deny(LatticePlatformSpec()), {"reserved:health": ""})


def test_namespaces_the_platform_names_are_exempt_even_when_not_listed() -> None:
    platform = LatticePlatformSpec.model_validate({
        "systemNamespaces": ["kube-system"],
        "metrics": {"namespace": "observability"},
        "mesh": {"controlPlaneNamespace": "istio-cp", "rootNamespace": "mesh-root"},
        "dns": {"namespace": "dns"},
        "ingress": {"certManagerNamespace": "certs"},
    })
    selector = _default_deny(platform)
    for namespace in ("kube-system", "observability", "istio-cp", "mesh-root", "dns", "certs"):
        assert not _cilium_selects(selector, _pod(namespace)), namespace
    # Only what the platform lists is exempt: the defaults it replaced are application namespaces again.
    assert _cilium_selects(selector, _pod("cert-manager"))
    assert _cilium_selects(selector, _pod("keda"))
