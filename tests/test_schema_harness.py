"""The schema harness really validates: good objects pass, bad ones fail with useful messages."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from tests.support import schemas
from tests.support.schemas import UnknownKind, assert_valid, validate_object, validator_for


def _meta(name: str = "web") -> dict[str, Any]:
    return {"name": name, "namespace": "shop", "labels": {"app.kubernetes.io/name": name}}


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {
                    "serviceAccountName": "web",
                    "containers": [
                        {
                            "name": "web",
                            "image": "ghcr.io/acme/web:1.2.3",
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "128Mi"},
                                "limits": {"cpu": 1, "memory": "1.5Gi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                            "livenessProbe": {"tcpSocket": {"port": 8080}},
                        }
                    ],
                },
            },
        },
    }


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(),
        "spec": {
            "selector": {"app.kubernetes.io/name": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9090},
            ],
        },
    }


def service_account() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(),
        "automountServiceAccountToken": False,
    }


def config_map() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("web-config"), "data": {"A": "1"}}


def secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta("web-secret"),
        "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="},
    }


def pdb() -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}}},
    }


def job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta("migrate"),
        "spec": {
            "backoffLimit": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "ghcr.io/acme/web:1.2.3"}],
                }
            },
        },
    }


def cilium_network_policy() -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": _meta(),
        "spec": {
            "endpointSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "ingress": [
                {
                    "fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "frontend"}}],
                    "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}],
                }
            ],
            "egress": [{"toEntities": ["kube-apiserver"]}, {"toCIDR": ["10.0.0.0/8"]}],
        },
    }


def vm_service_scrape() -> dict[str, Any]:
    return {
        "apiVersion": "operator.victoriametrics.com/v1beta1",
        "kind": "VMServiceScrape",
        "metadata": _meta(),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        },
    }


def scaled_object() -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _meta(),
        "spec": {
            "scaleTargetRef": {"name": "web"},
            "minReplicaCount": 2,
            "maxReplicaCount": 10,
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}],
        },
    }


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Deep-copy ``obj`` and set the dotted ``path`` (``a.b.0.c``; ``0`` indexes a list)."""
    obj = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return obj


VALID = {
    "deployment": deployment(),
    "service": service(),
    "service-account": service_account(),
    "config-map": config_map(),
    "secret": secret(),
    "pdb": pdb(),
    "pdb-percent": _with(pdb(), "spec.maxUnavailable", "25%"),
    "job": job(),
    "cilium-network-policy": cilium_network_policy(),
    "cilium-log-value-go-pattern": _with(cilium_network_policy(), "spec.log", {"value": "web ingress"}),
    "vm-service-scrape": vm_service_scrape(),
    "keda-scaled-object": scaled_object(),
    "quantity-exponent": _with(
        deployment(), "spec.template.spec.containers.0.resources.limits.memory", "1e9"
    ),
    "list": {"apiVersion": "v1", "kind": "List", "items": [service(), config_map()]},
}


@pytest.mark.parametrize("obj", VALID.values(), ids=VALID.keys())
def test_valid_objects_pass(obj: dict[str, Any]) -> None:
    assert validate_object(obj) == []
    assert_valid([obj])


CONTAINER = "spec.template.spec.containers[0]"

# (object, JSON path the message must name, text the message must contain)
INVALID = {
    "deployment-unknown-container-field": (
        _with(deployment(), "spec.template.spec.containers.0.imagePullPolice", "Always"),
        f"{CONTAINER}.imagePullPolice",
        "unknown field",
    ),
    "deployment-unknown-top-level-field": (_with(deployment(), "extra", {}), "extra", "unknown field"),
    "deployment-missing-spec": ({k: v for k, v in deployment().items() if k != "spec"}, "<root>", "'spec'"),
    "deployment-bad-quantity": (
        _with(deployment(), "spec.template.spec.containers.0.resources.requests.cpu", "500 m"),
        f"{CONTAINER}.resources.requests.cpu",
        "quantity",
    ),
    "deployment-replicas-overflow-int32": (
        _with(deployment(), "spec.replicas", 2**31),
        "spec.replicas",
        "int32",
    ),
    "deployment-replicas-string": (_with(deployment(), "spec.replicas", "2"), "spec.replicas", "integer"),
    "deployment-label-value-int": (
        _with(deployment(), "metadata.labels.version", 2),
        "metadata.labels.version",
        "string",
    ),
    "service-port-string": (_with(service(), "spec.ports.0.port", "abc"), "spec.ports[0].port", "integer"),
    "service-target-port-float": (
        _with(service(), "spec.ports.0.targetPort", 80.5),
        "spec.ports[0].targetPort",
        "80.5",
    ),
    "secret-data-not-base64": (_with(secret(), "data.password", "hunter2!"), "data.password", "byte"),
    "missing-name": (_with(config_map(), "metadata", {"namespace": "shop"}), "metadata.name", "missing"),
    "cilium-unknown-field": (
        _with(cilium_network_policy(), "spec.ingress.0.fromEndpoint", []),
        "spec.ingress[0].fromEndpoint",
        "unknown field",
    ),
    "cilium-int-port": (
        _with(cilium_network_policy(), "spec.ingress.0.toPorts.0.ports.0.port", 8080),
        "spec.ingress[0].toPorts[0].ports[0].port",
        "string",
    ),
    "cilium-bad-cidr": (
        _with(cilium_network_policy(), "spec.egress.1.toCIDR", ["10.0.0.0"]),
        "spec.egress[1].toCIDR[0]",
        "cidr",
    ),
    "cilium-no-rules": (
        {**cilium_network_policy(), "spec": {"endpointSelector": {}}},
        "spec",
        "not valid under any",
    ),
    "cilium-log-value-control-char": (
        _with(cilium_network_policy(), "spec.log", {"value": "bell\x07"}),
        "spec.log.value",
        "does not match",
    ),
    "cilium-bad-metadata": (
        _with(cilium_network_policy(), "metadata.labls", {}),
        "metadata.labls",
        "unknown field",
    ),
    "keda-metadata-value-int": (
        _with(scaled_object(), "spec.triggers.0.metadata.value", 70),
        "spec.triggers[0].metadata.value",
        "string",
    ),
    "vmservicescrape-missing-endpoints": (
        {**vm_service_scrape(), "spec": {"selector": {}}},
        "spec",
        "'endpoints' is a required property",
    ),
    "list-item-invalid": (
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [service(), _with(service(), "spec.ports.0.port", "x")],
        },
        "items[1].spec.ports[0].port",
        "integer",
    ),
}


@pytest.mark.parametrize(("obj", "path", "text"), INVALID.values(), ids=INVALID.keys())
def test_invalid_objects_fail_naming_the_path(obj: dict[str, Any], path: str, text: str) -> None:
    errors = validate_object(obj)
    assert errors, f"expected a schema error for {json.dumps(obj)[:200]}"
    kind, name = obj["kind"], obj.get("metadata", {}).get("name")
    matching = [e for e in errors if f": {path}: " in e and text in e]
    assert matching, f"no error naming {path!r} and containing {text!r}: {errors}"
    if name and kind != "List":
        assert all(e.startswith(f"{kind}/") and name in e for e in errors), errors
    with pytest.raises(AssertionError, match="schema problem"):
        assert_valid([obj])


def test_error_message_format() -> None:
    bad = _with(deployment(), "spec.template.spec.containers.0.bogus", 1)
    [error] = validate_object(bad)
    assert error == (
        "Deployment/shop/web: spec.template.spec.containers[0].bogus: "
        "unknown field (additionalProperties: false)"
    )


def test_assert_valid_lists_every_problem() -> None:
    objs = [
        service(),
        _with(service(), "spec.ports.0.port", "abc"),
        _with(deployment(), "spec.template.spec.containers.0.bogus", 1),
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    ]
    with pytest.raises(AssertionError) as info:
        assert_valid(objs)
    text = str(info.value)
    assert "3 schema problem(s) in 4 object(s)" in text
    assert "[1] Service/shop/web: spec.ports[0].port:" in text
    assert "[2] Deployment/shop/web: spec.template.spec.containers[0].bogus:" in text
    assert "[3] Widget/w: no schema for apiVersion='example.com/v1' kind='Widget'" in text


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("example.com/v1", "Widget"),
        ("lattice.dev/v1alpha1", "LatticeService"),
        ("cilium.io/v1", "CiliumNetworkPolicy"),  # known group and kind, unknown version
        ("apps/v1", "DeploymentSpec"),  # a schema file exists but it is not a top-level kind
        ("policy.example.com/v1", "PodDisruptionBudget"),  # would alias policy/v1 by file name
    ],
)
def test_unknown_kind_raises(api_version: str, kind: str) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    with pytest.raises(UnknownKind, match=kind):
        validate_object(obj)
    with pytest.raises(AssertionError, match="no schema"):
        assert_valid([obj])


def test_unknown_kind_inside_list_raises() -> None:
    with pytest.raises(UnknownKind):
        validate_object(
            {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "x.io/v1", "kind": "Y"}]}
        )


def test_missing_api_version_is_an_error() -> None:
    assert validate_object({"kind": "Service", "metadata": {"name": "x"}})


def test_extra_schemas_for_own_crds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}},
                "additionalProperties": False,
            },
        },
    }
    extra = {("lattice.dev/v1alpha1", "LatticeService"): schema}
    obj = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService", "metadata": {"name": "a"}}
    assert validate_object({**obj, "spec": {"replicas": 1}}, extra_schemas=extra) == []
    errors = validate_object({**obj, "spec": {"replica": 1}}, extra_schemas=extra)
    assert errors == ["LatticeService/a: spec.replica: unknown field (additionalProperties: false)"]


def test_validators_are_cached() -> None:
    validator_for.cache_clear()
    objs = []
    for i in range(500):
        obj = deployment()
        obj["metadata"]["name"] = f"web-{i}"
        objs.append(obj)
    assert_valid(objs)
    info = validator_for.cache_info()
    assert info.misses == 1
    assert info.hits == 499
    # The 1.8 MB core _definitions.json is parsed at most once per process.
    assert schemas._core_registry.cache_info().misses <= 1


def test_crd_schemas_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("LATTICE_SCHEMAS_DIR", str(tmp_path))
    assert schemas.crd_schemas_dir() == tmp_path
    monkeypatch.delenv("LATTICE_SCHEMAS_DIR")
    assert (schemas.crd_schemas_dir() / "cilium.io" / "ciliumnetworkpolicy_v2.json").is_file()


@pytest.mark.parametrize(
    ("go_pattern", "matches", "rejects"),
    [
        (r"^\PC*$", ["web ingress", "ünïcode ✓"], ["bell\x07", "zero\u200bwidth"]),
        (r"^(?i)(abort|warn)?$", ["", "Abort", "WARN"], ["ignore"]),
        (r"^[a-z]+$", ["abc"], ["ABC", "abc\n"]),  # Go's `$` is the end of the text, not before a newline
        (r"^[$a-z]+$", ["a$b"], ["a$b\n"]),       # `$` in a class stays a character
        (r"^[]$]+$", ["]$"], ["]$\n"]),
        (r"^(0|(([0-9]+)s)?)$", ["0", "30s"], ["30s\n"]),
    ],
)
def test_go_patterns_are_translated(go_pattern: str, matches: list[str], rejects: list[str]) -> None:
    python_pattern = schemas.go_pattern_to_python(go_pattern)
    assert all(re.search(python_pattern, text) for text in matches)
    assert not any(re.search(python_pattern, text) for text in rejects)


def test_register_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "_REGISTERED", {})
    obj = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeJob", "metadata": {"name": "j"}, "spec": 1}
    with pytest.raises(UnknownKind):
        validate_object(obj)
    schema = {"properties": {"spec": {"type": "object"}}}
    schemas.register_schema("lattice.dev/v1alpha1", "LatticeJob", schema)
    try:
        assert validate_object(obj) == ["LatticeJob/j: spec: 1 is not of type 'object'"]
    finally:
        validator_for.cache_clear()
