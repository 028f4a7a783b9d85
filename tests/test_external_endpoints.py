"""External endpoints on the emitted objects: Cilium's FQDN selectors and Istio's ServiceEntry resolution.

Wildcard hosts (`*.s3.amazonaws.com`) need the forms each project accepts: Cilium's `matchName` rejects `*`
(its CRD pattern) and Istio refuses `resolution: DNS` for a host that is not an FQDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lattice.api import parse_resource
from lattice.cli.main import app
from lattice.fleet import Sourced
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

ENDPOINTS = {"bucket": "https://*.s3.amazonaws.com", "api": "https://api.stripe.com"}


def _service(endpoints: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
        "metadata": {"name": "shop", "namespace": "demo"},
        "spec": {"workload": {
            "containers": {"main": {"image": "registry.example.com/shop@sha256:" + "a" * 64,
                                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
            "service": {"ports": {"http": {"port": 8080}}},
            "resources": {"ext": {"type": "external-service", "params": {"endpoints": endpoints}}},
        }},
    }


def _objects(endpoints: dict[str, str]) -> list[dict[str, Any]]:
    result = compile_fleet([Sourced("test.yaml", parse_resource(_service(endpoints)))])
    (outcome,) = result.services
    assert outcome.ok, outcome.errors
    assert_valid(outcome.objects)  # the CRD schemas reject `*` in matchName
    return outcome.objects


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["kind"] == kind]
    return obj


def test_a_wildcard_host_is_a_pattern_in_egress_and_in_the_dns_rule() -> None:
    egress = _one(_objects(ENDPOINTS), "CiliumNetworkPolicy")["spec"]["egress"]
    fqdns = [selector for rule in egress for selector in rule.get("toFQDNs", [])]
    assert sorted(fqdns, key=str) == [{"matchName": "api.stripe.com"}, {"matchPattern": "*.s3.amazonaws.com"}]
    (dns_rule,) = [rule for rule in egress if "rules" in rule["toPorts"][0]]
    dns = dns_rule["toPorts"][0]["rules"]["dns"]
    # the name itself and each search-path form the resolver asks first: patterns for the wildcard only
    assert {"matchPattern": "*.s3.amazonaws.com"} in dns
    assert {"matchPattern": "*.s3.amazonaws.com.demo.svc.cluster.local"} in dns
    assert {"matchName": "api.stripe.com"} in dns
    assert all("*" not in entry.get("matchName", "") for entry in dns)
    assert all("*" in entry["matchPattern"] for entry in dns if "matchPattern" in entry)


def test_a_wildcard_service_entry_does_not_resolve_by_dns() -> None:
    entries = {o["spec"]["hosts"][0]: o["spec"] for o in _objects(ENDPOINTS) if o["kind"] == "ServiceEntry"}
    assert entries["*.s3.amazonaws.com"]["resolution"] == "NONE"
    assert entries["api.stripe.com"]["resolution"] == "DNS"


@pytest.mark.parametrize("endpoint", ["tcp://*.db.example.com:5432", "*.db.example.com:5432"])
def test_a_wildcard_over_plain_tcp_is_refused(endpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(_service({"db": endpoint})))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if endpoint in text)
    result = CliRunner().invoke(app, ["compile", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {path}:{line}: LatticeService demo/shop: spec.workload.resources.ext.params.endpoints.db: endpoint "
        f"`{endpoint}` has a wildcard host, but plain TCP carries no host name the mesh could match it against\n"
        "  hint: name the host exactly (e.g. `tcp://db.example.com:5432` or one endpoint per host), or write "
        "`tls://` or `https://` if it speaks TLS\n"
    )
