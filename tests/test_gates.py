"""The gates together, with the platform's real (closed) defaults: in one fleet a service denied a secret, one
over quota, one referenced by tag, one from an unlisted registry, one with an unpermitted override, one with a
wildcard caller and no permit, and one clean service: only the clean one produces objects, every refused one
says every reason, and the command exits 1."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from lattice.api import parse_resource
from lattice.cli.main import app
from lattice.fleet import FleetResult, Sourced, compile_fleet

DIGEST = "sha256:" + "c" * 64
KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOZz79hQfgVGarZbOrEfk7gO7r9hl
2/vlUKij8nUS6QTXt7bSaRwY5KqDSkVGO0CF4SuMSMdyIaEpBvW38Ae3XA==
-----END PUBLIC KEY-----
"""
PLATFORM: list[dict[str, Any]] = [
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
     "spec": {"secrets": {"defaultProvider": "vault"}, "rates": {"cpu": 0.04, "memory": 0.004}}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "SecretProvider", "metadata": {"name": "vault"},
     "spec": {"provider": {"vault": {"server": "https://vault.internal:8200", "path": "secret", "version": "v2",
                                     "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso"}}}}}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider", "metadata": {"name": "internal"},
     "spec": {"registry": "registry.example.com",
              "trust": {"enforce": True, "authorities": [{"name": "release", "key": KEY}]}}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "CedarPolicy", "metadata": {"name": "shop-secrets"},
     "spec": {"policies": '@id("shop-reads-shop")\n'
                          'permit(principal, action == Lattice::Action::"AccessSecret", resource)\n'
                          'when { principal.namespace == "shop" && resource.path like "shop/*" };\n'}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeQuota", "metadata": {"name": "budget", "namespace": "shop"},
     "spec": {"limits": {"cpu": "6", "memory": "16Gi"}}},
]


def service(name: str, *, image: str | None = None, cpu: str = "100m", replicas: int = 1,
            resources: dict[str, Any] | None = None, security: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"image": image or f"registry.example.com/shop/{name}@{DIGEST}",
                                 "resources": {"limits": {"cpu": cpu, "memory": "128Mi"}}}
    if security:
        container["security"] = security
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "workload": {"containers": {"main": container},
                                                        "service": {"ports": {"http": {"port": 8080}}},
                                                        "resources": resources or {}}}}


FLEET = [
    service("clean", resources={"db": {"type": "secret", "params": {"keys": ["dsn"]}}}),
    service("nosy", resources={"keys": {"type": "secret", "id": "billing/keys", "params": {"keys": ["k"]}}}),
    service("greedy", cpu="2", replicas=3),
    service("tagged", image="registry.example.com/shop/tagged:1.0"),
    service("outsider", image=f"docker.io/library/nginx@{DIGEST}"),
    service("privileged", security={"capabilities": ["NET_ADMIN"]}),
    service("open", resources={"any": {"type": "service", "direction": "inbound", "id": "*"}}),
]


@pytest.fixture(scope="module")
def result() -> FleetResult:
    return compile_fleet([Sourced("fleet.yaml", parse_resource(doc)) for doc in [*PLATFORM, *FLEET]])


def _outcome(result: FleetResult, name: str) -> Any:
    return next(s for s in result.services if s.ref.name == name)


def test_only_the_clean_service_produces_objects(result: FleetResult) -> None:
    assert {s.ref.name for s in result.services if s.ok} == {"clean"}
    assert {s.ref.name for s in result.services if s.objects} == {"clean"}
    assert result.errors == []


@pytest.mark.parametrize(("name", "condition", "words"), [
    ("nosy", "Authorized", ['AccessSecret on Lattice::SecretPath::"vault:billing/keys"', "no CedarPolicy permits it"]),
    ("greedy", "QuotaAvailable", ["quota shop/budget: cpu limit 6, used 0.1 by 1 workload, greedy asks 6 (3 × 2)",
                                  "— 5.9 available"]),
    ("tagged", "ImagesVerified", ["is referenced by tag `1.0`"]),
    ("outsider", "ImagesVerified", ["which no ImageProvider lists"]),
    ("privileged", "Authorized", ['OverrideSecurity on Lattice::SecurityOverride::"capability:NET_ADMIN"']),
    ("open", "Authorized", ['AllowWildcard on Lattice::Mesh::"inbound"']),
])
def test_each_refusal_names_its_gate_and_reason(result: FleetResult, name: str, condition: str,
                                                words: list[str]) -> None:
    outcome = _outcome(result, name)
    assert outcome.gate is not None
    problems = outcome.gate.by_condition.get(condition, [])
    text = " ".join(p.message for p in problems)
    for word in words:
        assert word in text, (word, text)
    assert all(p.hint for p in outcome.errors)  # every refusal says what would allow it


def test_a_refused_service_reports_every_reason_at_once() -> None:
    both = service("both", image="registry.example.com/shop/both:2",
                   resources={"keys": {"type": "secret", "id": "billing/keys", "params": {"keys": ["k"]}}})
    result = compile_fleet([Sourced("f", parse_resource(doc)) for doc in [*PLATFORM, both]])
    gate = _outcome(result, "both").gate
    assert set(gate.by_condition) == {"Authorized", "ImagesVerified"}


def test_the_clean_service_shows_its_decisions_in_the_summary_cells(result: FleetResult) -> None:
    gate = _outcome(result, "clean").gate
    assert (gate.authorized, gate.images, gate.quota) == ("yes (1)", "pinned", "ok")
    assert gate.cost == "0.00/h"
    assert gate.image_notes == ("signatures not verified (run with --verify-images)",)


def test_a_refused_service_never_counts_against_the_quota(result: FleetResult) -> None:
    # nosy, tagged... were refused before quota: only clean (0.1) is used when greedy asks.
    greedy = _outcome(result, "greedy")
    assert "used 0.1 by 1 workload" in greedy.errors[0].message


def test_the_command_exits_1_and_prints_every_refusal(tmp_path: Any) -> None:
    import yaml

    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump_all([*PLATFORM, *FLEET]))
    run = CliRunner().invoke(app, ["compile", str(tmp_path), "--summary"])
    assert run.exit_code == 1
    for name in ("nosy", "greedy", "tagged", "outsider", "privileged", "open"):
        assert f"LatticeService shop/{name}:" in run.stderr
    assert "1 workloads compiled, 6 failed" in run.stdout
