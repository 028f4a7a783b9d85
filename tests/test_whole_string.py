"""Every pattern check matches the whole string.

Python's `$` also matches before a trailing newline (and `re.match` ignores whatever follows a match), so a check
written `re.match(r"^[a-z]+$", value)` accepts `"shop\\n"`, and the newline would reach the emitted objects. The
table below names every field whose text is checked against a pattern, in every kind; each is given a valid value
with a trailing line break, space, tab or other control or separator character, and must be refused at parse time.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.errors import LatticeError

SRC = Path(__file__).resolve().parent.parent / "src" / "lattice"

# Characters that must never be accepted at the end of a checked value. The first is the one Python's `$` lets
# through; the others are whitespace or controls a lax check (`\s`, `strip()`, `\S+`) could let through.
TRAILERS = ["\n", "\r\n", "\r", " ", "\t", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028",
            "\ufeff"]

IMAGE = "registry.example.com/shop@sha256:" + "a" * 64

SERVICE: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticeService",
    "metadata": {"name": "shop", "namespace": "demo", "labels": {"team": "web"}},
    "spec": {
        "replicas": 2,
        "workload": {
            "containers": {
                "main": {
                    "image": IMAGE,
                    "variables": {"MODE": "prod"},
                    "files": {"/etc/shop/app.conf": {"content": "x", "mode": "0644"}},
                    "volumes": {"/data": {"source": "${resources.data}", "path": "cache"}},
                    "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http",
                                                  "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
                    "readinessProbe": {"tcpSocket": {"port": "http"}},
                    "security": {"capabilities": ["NET_BIND_SERVICE"]},
                },
            },
            "service": {"ports": {"http": {"port": 8080}}},
            "resources": {
                "db": {"type": "secret", "params": {"keys": ["password"], "provider": "vault",
                                                    "refreshInterval": "1h"}},
                "orders": {"type": "service", "namespace": "sales", "id": "orders-api"},
                "stripe": {"type": "external-service", "params": {"endpoints": {"api": "https://api.stripe.com"}}},
                "data": {"type": "volume", "params": {"size": "1Gi", "storageClass": "fast",
                                                      "accessMode": "ReadWriteMany"}},
                "shared": {"type": "volume", "id": "shared-claim", "params": {"accessMode": "ReadWriteMany"}},
                "accel": {"type": "gpu", "params": {"count": 1, "model": "nvidia-h100", "memory": "80Gi"}},
            },
            "labels": {"tier": "front"},
        },
        "ingress": {"routes": {"public": {"hosts": ["shop.example.com"], "port": "http",
                                          "paths": [{"value": "/shop"}],
                                          "tls": {"secretName": "shop-tls", "issuer": "letsencrypt"}}}},
    },
}

MESH_MEMBER: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticeMeshMember",
    "metadata": {"name": "db", "namespace": "demo"},
    "spec": {"selector": {"app": "postgres"}, "serviceAccount": "postgres",
             "ports": {"pg": {"port": 5432}}, "resources": {"shop": {"type": "service", "direction": "inbound"}}},
}

JOB: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticeJob",
    "metadata": {"name": "nightly", "namespace": "demo"},
    "spec": {"schedule": "0 3 * * *", "queue": "batch", "tasks": {"run": {"workload": {"containers": {
        "main": {"image": IMAGE, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}}}}}},
}

MODEL: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticeModel",
    "metadata": {"name": "llm", "namespace": "demo"},
    "spec": {"modelSource": {"uri": "hf://org/model"}, "workload": {"containers": {
        "main": {"image": IMAGE, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}}}},
}

QUOTA: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticeQuota",
    "metadata": {"name": "budget", "namespace": "demo"},
    "spec": {"limits": {"cpu": "8", "nvidia.com/gpu": "0"}, "maxPerWorkload": {"memory": "2Gi"}},
}

IMAGE_PROVIDER: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "ImageProvider",
    "metadata": {"name": "internal"},
    "spec": {"registry": "registry.example.com",
             "trust": {"authorities": [{"name": "release", "key": "-----BEGIN PUBLIC KEY-----\nx\n"}]},
             "credentials": {"provider": "vault", "path": "registry/pull"}},
}

PLATFORM: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticePlatform",
    "metadata": {"name": "default"},
    "spec": {
        "clusterDomain": "cluster.local",
        "mesh": {"trustDomain": "cluster.local", "controlPlaneNamespace": "istio-system",
                 "controlPlaneLabels": {"app": "istiod"}},
        "secrets": {"defaultProvider": "vault", "refreshInterval": "1h"},
        "metrics": {"interval": "30s", "namespace": "monitoring", "serviceAccount": "vmagent",
                    "podLabels": {"app.kubernetes.io/name": "vmagent"}},
        "dns": {"namespace": "kube-system", "podLabels": {"k8s-app": "kube-dns"}, "searchDomains": ["ec2.internal"]},
        "ingress": {"gatewayClass": "istio", "issuer": "letsencrypt"},
        "systemNamespaces": ["kube-system"],
    },
}

KEY = "<key>"  # a path ending here means: the last mapping key, not a value

# (document, path to a checked text): every pattern-checked field of every kind.
FIELDS: list[tuple[dict[str, Any], tuple[str | int, ...]]] = [
    (SERVICE, ("metadata", "name")),
    (SERVICE, ("metadata", "namespace")),
    (SERVICE, ("metadata", "labels", "team", KEY)),
    (SERVICE, ("metadata", "labels", "team")),
    (SERVICE, ("spec", "workload", "containers", "main", KEY)),
    (SERVICE, ("spec", "workload", "containers", "main", "image")),
    (SERVICE, ("spec", "workload", "containers", "main", "variables", "MODE", KEY)),
    (SERVICE, ("spec", "workload", "containers", "main", "files", "/etc/shop/app.conf", KEY)),
    (SERVICE, ("spec", "workload", "containers", "main", "files", "/etc/shop/app.conf", "mode")),
    (SERVICE, ("spec", "workload", "containers", "main", "volumes", "/data", KEY)),
    (SERVICE, ("spec", "workload", "containers", "main", "volumes", "/data", "source")),
    (SERVICE, ("spec", "workload", "containers", "main", "volumes", "/data", "path")),
    (SERVICE, ("spec", "workload", "containers", "main", "resources", "requests", "cpu")),
    (SERVICE, ("spec", "workload", "containers", "main", "resources", "limits", "memory")),
    (SERVICE, ("spec", "workload", "containers", "main", "livenessProbe", "httpGet", "port")),
    (SERVICE, ("spec", "workload", "containers", "main", "livenessProbe", "httpGet", "httpHeaders", 0, "name")),
    (SERVICE, ("spec", "workload", "containers", "main", "readinessProbe", "tcpSocket", "port")),
    (SERVICE, ("spec", "workload", "containers", "main", "security", "capabilities", 0)),
    (SERVICE, ("spec", "workload", "service", "ports", "http", KEY)),
    (SERVICE, ("spec", "workload", "resources", "db", KEY)),
    (SERVICE, ("spec", "workload", "resources", "db", "params", "keys", 0)),
    (SERVICE, ("spec", "workload", "resources", "db", "params", "provider")),
    (SERVICE, ("spec", "workload", "resources", "db", "params", "refreshInterval")),
    (SERVICE, ("spec", "workload", "resources", "orders", "namespace")),
    (SERVICE, ("spec", "workload", "resources", "orders", "id")),
    (SERVICE, ("spec", "workload", "resources", "stripe", "params", "endpoints", "api", KEY)),
    (SERVICE, ("spec", "workload", "resources", "stripe", "params", "endpoints", "api")),
    (SERVICE, ("spec", "workload", "resources", "data", "params", "size")),
    (SERVICE, ("spec", "workload", "resources", "data", "params", "storageClass")),
    (SERVICE, ("spec", "workload", "resources", "shared", "id")),
    (SERVICE, ("spec", "workload", "resources", "accel", "params", "model")),
    (SERVICE, ("spec", "workload", "resources", "accel", "params", "memory")),
    (SERVICE, ("spec", "workload", "labels", "tier", KEY)),
    (SERVICE, ("spec", "workload", "labels", "tier")),
    (SERVICE, ("spec", "ingress", "routes", "public", KEY)),
    (SERVICE, ("spec", "ingress", "routes", "public", "hosts", 0)),
    (SERVICE, ("spec", "ingress", "routes", "public", "paths", 0, "value")),
    (SERVICE, ("spec", "ingress", "routes", "public", "tls", "secretName")),
    (SERVICE, ("spec", "ingress", "routes", "public", "tls", "issuer")),
    (MESH_MEMBER, ("metadata", "name")),
    (MESH_MEMBER, ("spec", "selector", "app", KEY)),
    (MESH_MEMBER, ("spec", "selector", "app")),
    (MESH_MEMBER, ("spec", "serviceAccount")),
    (MESH_MEMBER, ("spec", "ports", "pg", KEY)),
    (MESH_MEMBER, ("spec", "resources", "shop", KEY)),
    (JOB, ("spec", "schedule")),
    (JOB, ("spec", "queue")),
    (JOB, ("spec", "tasks", "run", KEY)),
    (MODEL, ("spec", "modelSource", "uri")),
    (QUOTA, ("spec", "limits", "nvidia.com/gpu", KEY)),
    (QUOTA, ("spec", "limits", "cpu")),
    (QUOTA, ("spec", "maxPerWorkload", "memory")),
    (IMAGE_PROVIDER, ("metadata", "name")),
    (IMAGE_PROVIDER, ("spec", "registry")),
    (IMAGE_PROVIDER, ("spec", "trust", "authorities", 0, "name")),
    (IMAGE_PROVIDER, ("spec", "credentials", "provider")),
    (PLATFORM, ("spec", "clusterDomain")),
    (PLATFORM, ("spec", "mesh", "trustDomain")),
    (PLATFORM, ("spec", "mesh", "controlPlaneNamespace")),
    (PLATFORM, ("spec", "mesh", "controlPlaneLabels", "app")),
    (PLATFORM, ("spec", "secrets", "defaultProvider")),
    (PLATFORM, ("spec", "secrets", "refreshInterval")),
    (PLATFORM, ("spec", "metrics", "interval")),
    (PLATFORM, ("spec", "metrics", "serviceAccount")),
    (PLATFORM, ("spec", "metrics", "podLabels", "app.kubernetes.io/name", KEY)),
    (PLATFORM, ("spec", "dns", "searchDomains", 0)),
    (PLATFORM, ("spec", "ingress", "gatewayClass")),
    (PLATFORM, ("spec", "ingress", "issuer")),
    (PLATFORM, ("spec", "systemNamespaces", 0)),
]


def _with_suffix(doc: dict[str, Any], path: tuple[str | int, ...], suffix: str) -> dict[str, Any]:
    """A copy of `doc` whose text (or mapping key) at `path` has `suffix` appended."""
    out = copy.deepcopy(doc)
    node: Any = out
    segments = path[:-1] if path[-1] == KEY else path
    for seg in segments[:-1]:
        node = node[seg]
    last = segments[-1]
    if path[-1] == KEY:
        node[f"{last}{suffix}"] = node.pop(last)
    else:
        assert isinstance(node[last], str), path
        node[last] = node[last] + suffix
    return out


@pytest.mark.parametrize("doc", [SERVICE, MESH_MEMBER, JOB, MODEL, QUOTA, IMAGE_PROVIDER, PLATFORM],
                         ids=lambda d: d["kind"])
def test_the_base_documents_are_valid(doc: dict[str, Any]) -> None:
    parse_resource(doc)


@pytest.mark.parametrize(("doc", "path"), FIELDS,
                         ids=[f"{d['kind']}:{'.'.join(map(str, p))}" for d, p in FIELDS])
def test_a_trailing_character_is_refused(doc: dict[str, Any], path: tuple[str | int, ...]) -> None:
    accepted = []
    for suffix in TRAILERS:
        try:
            parse_resource(_with_suffix(doc, path, suffix))
        except LatticeError:
            continue
        accepted.append(suffix)
    assert accepted == [], f"{'.'.join(map(str, path))} accepts a trailing {accepted!r}"


# Any control, format or separator character, anywhere in Unicode (not only the table above).
_UNSEEN = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), char=_UNSEEN)
def test_no_control_or_separator_passes_at_the_end(field: tuple[dict[str, Any], tuple[str | int, ...]],
                                                    char: str) -> None:
    doc, path = field
    with pytest.raises(LatticeError):
        parse_resource(_with_suffix(doc, path, char))


def test_no_pattern_in_the_source_relies_on_anchors() -> None:
    """Patterns are matched with `fullmatch`: an anchored pattern is a sign of `match`/`search` with `$`."""
    anchored = re.compile(r'r?"\^|\$"')
    offenders = [f"{path.relative_to(SRC)}:{n}" for path in sorted(SRC.rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if "re." in line and anchored.search(line)]
    assert offenders == []
    uses_match = [f"{path.relative_to(SRC)}:{n}" for path in sorted(SRC.rglob("*.py"))
                  for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                  if re.search(r"\.match\(|re\.match\(", line)]
    assert uses_match == [], "use fullmatch (or search for a deliberate substring check)"
