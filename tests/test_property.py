"""Property: any valid generated fleet compiles, deterministically, and every emitted object validates."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from lattice import render
from lattice.api import parse_resource
from lattice.fleet import Sourced
from tests.strategies import fleet
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid


def _compile(docs: list[dict[str, Any]]) -> str:
    result = compile_fleet([Sourced("generated", parse_resource(doc)) for doc in docs])
    assert result.errors == []
    failures = {str(s.ref): [p.render() for p in s.errors] for s in result.services if not s.ok}
    assert failures == {}
    assert_valid(result.objects)
    return render.dump_yaml_stream(result.objects)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleet())
def test_valid_fleets_compile_deterministically_to_valid_objects(docs: list[dict[str, Any]]) -> None:
    first = _compile(docs)
    assert first
    assert _compile(list(reversed(docs))) == first


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleet(max_services=2))
def test_every_deployment_is_hardened(docs: list[dict[str, Any]]) -> None:
    result = compile_fleet([Sourced("generated", parse_resource(doc)) for doc in docs])
    deployments = [o for o in result.objects if o["kind"] == "Deployment"]
    assert len(deployments) == len(docs)
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["runAsNonRoot"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["limits"]["cpu"] and container["resources"]["limits"]["memory"]
