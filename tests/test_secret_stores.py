"""Who may read through each ClusterSecretStore, read from the emitted stores with ESO's own rules, and the
warning for a secret path outside the service's namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from typer.testing import CliRunner

from lattice import render
from lattice.api import parse_resource
from lattice.cli.main import app
from lattice.fleet import FleetResult, Sourced
from tests.conftest import EXAMPLES, load_fleet
from tests.policy_checker import selector_matches
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

ALL_NAMESPACES = ["commerce", "storefront", "finance", "default", "kube-system", "external-secrets"]


def _serves(store: Mapping[str, Any], namespace: str) -> bool:
    """ESO's reading (`shouldProcessSecret`): no conditions serve every namespace; otherwise a namespace is
    served when one condition's selector, name list or regexes match it. Namespaces carry their name label."""
    conditions = store["spec"].get("conditions") or []
    if not conditions:
        return True
    labels = {"kubernetes.io/metadata.name": namespace}
    for condition in conditions:
        selectors = [condition["namespaceSelector"]] if "namespaceSelector" in condition else []
        selectors += [{"matchLabels": {"kubernetes.io/metadata.name": n}} for n in condition.get("namespaces", [])]
        for selector in selectors:
            if _selector_matches(selector, labels):
                return True
        assert not condition.get("namespaceRegexes"), "Lattice emits no regexes"
    return False


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    return selector_matches(selector, labels.get)


def _stores(result: FleetResult) -> dict[str, Mapping[str, Any]]:
    stores = {o["metadata"]["name"]: o for o in result.cluster_objects if o["kind"] == "ClusterSecretStore"}
    assert_valid(stores.values())
    return stores


def _doc(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


def _service(name: str, namespace: str, secrets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return _doc("LatticeService", name, {"workload": {
        "containers": {"main": {"image": "registry.example.com/app@sha256:" + "c" * 64,
                                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
        "resources": {k: {"type": "secret", **v} for k, v in secrets.items()},
    }}, namespace)


def _fleet(*docs: dict[str, Any]) -> FleetResult:
    providers = [_doc("SecretProvider", name, {"provider": {"fake": {"data": []}}}) for name in ("vault", "aws")]
    platform = _doc("LatticePlatform", "default", {"secrets": {"defaultProvider": "vault"}})
    return compile_fleet([Sourced("test.yaml", parse_resource(d)) for d in (*docs, *providers, platform)])


def test_a_store_serves_exactly_the_namespaces_whose_workloads_read_it() -> None:
    result = _fleet(_service("ledger", "finance", {"db": {"params": {"keys": ["password"]}}}),
                    _service("shop", "commerce", {"db": {}, "keys": {"params": {"provider": "aws"}}}))
    stores = _stores(result)
    assert [ns for ns in ALL_NAMESPACES if _serves(stores["vault"], ns)] == ["commerce", "finance"]
    assert [ns for ns in ALL_NAMESPACES if _serves(stores["aws"], ns)] == ["commerce"]


def test_a_store_nobody_reads_serves_no_namespace() -> None:
    stores = _stores(_fleet(_service("shop", "commerce", {"db": {}})))
    assert [ns for ns in ALL_NAMESPACES if _serves(stores["aws"], ns)] == []
    # the closed form is a condition that matches nothing, never an empty list (which would serve everyone)
    assert stores["aws"]["spec"]["conditions"]


def test_a_failed_workload_opens_no_store() -> None:
    bad = _service("broken", "finance", {"db": {"params": {"keys": ["password"]}}})
    bad["spec"]["workload"]["containers"]["main"]["variables"] = {"X": "${secret.db.nope}"}
    result = _fleet(bad, _service("shop", "commerce", {"db": {}}))
    assert not next(s for s in result.services if s.ref.name == "broken").ok
    assert [ns for ns in ALL_NAMESPACES if _serves(_stores(result)["vault"], ns)] == ["commerce"]


def test_the_example_fleets_store_serves_its_two_teams() -> None:
    stores = _stores(compile_fleet(load_fleet(EXAMPLES)))
    assert [ns for ns in ALL_NAMESPACES if _serves(stores["vault"], ns)] == ["commerce", "storefront"]


def test_lattice_platform_prints_the_same_stores_as_compile() -> None:
    result = CliRunner().invoke(app, ["platform", str(EXAMPLES)])
    assert result.exit_code == 0, result.stderr
    compiled = compile_fleet(load_fleet(EXAMPLES))
    assert result.stdout == render.dump_yaml_stream(compiled.cluster_objects)


@pytest.mark.parametrize(("secret_id", "warned"), [
    ("commerce/payments/stripe", True),
    ("shared/flags", True),
    ("finance-archive/x", True),   # a prefix of the name is not the namespace
    ("finance/shared/flags", False),
    (None, False),                 # the default path is `<namespace>/<resource>`
])
def test_a_secret_path_outside_the_namespace_is_a_warning(secret_id: str | None, warned: bool) -> None:
    secret = {"params": {"keys": ["token"]}, **({"id": secret_id} if secret_id else {})}
    (outcome,) = _fleet(_service("ledger", "finance", {"stripe": secret})).services
    assert outcome.ok
    about_paths = [(p.path, p.message, p.hint) for p in outcome.warnings if p.path.endswith(".id")]
    assert about_paths == ([(
        "spec.workload.resources.stripe.id",
        f"secret `stripe` reads the path `{secret_id}`, outside this namespace's own paths (`finance/...`); the "
        "authorization gate will decide whether this service may read it",
        "keep it only if this service is meant to read that path, which will take a CedarPolicy permitting "
        "`AccessSecret` on it; a secret of this team belongs under `finance/`",
    )] if warned else [])
    # a warning, not a refusal: the ExternalSecret is emitted
    assert any(o["kind"] == "ExternalSecret" for o in outcome.objects)
