"""Hypothesis strategies for specs that read secrets: each generated value knows what it must render to.

A value is built from pieces: literal text (braces included, so template syntax is exercised), `${metadata.*}`
and secret placeholders. Next to the text the user writes, each value carries the text it must become in the
pod, with every secret replaced by `FAKE_VALUE(resource, key)`, so a test can render the emitted templates
with fake values and compare. Literal pieces of a value that reads a secret carry a unique `SENTINEL` so that
a fragment of such a value leaking into a non-secret object is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.strategies import DIGEST

NAMESPACE = "vault-team"
SERVICE = "svc"
SENTINEL = "sntl"
PROVIDERS = ("vault", "aws")

# Braces, quotes, backslashes, dashes, slashes and line breaks: everything Go's lexer might care about.
template_text = st.text(alphabet='{}ab -/"\\\n*.', max_size=12)


def fake_value(resource: str, key: str) -> str:
    """What a secret "is" in these tests; never written to any input."""
    return f"<<{resource}:{key}>>"


@dataclass
class Value:
    text: str            # what the user writes
    expected: str        # what the pod must see, with fake secret values
    secret: bool         # whether it reads a secret


@dataclass
class SecretSpec:
    doc: dict[str, Any]
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource -> dependency
    variables: dict[tuple[str, str], Value] = field(default_factory=dict)  # (container, var) -> value
    files: dict[tuple[str, str], Value] = field(default_factory=dict)  # (container, target) -> value
    sentinels: list[str] = field(default_factory=list)


@st.composite
def _secret_resources(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(["db", "api", "cache-creds", "tls"]), min_size=1, max_size=3, unique=True))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        params: dict[str, Any] = {}
        if draw(st.booleans()):
            params["keys"] = draw(st.lists(st.sampled_from(["password", "user", "api-key", "tls.crt", "dsn"]),
                                           min_size=1, max_size=3, unique=True))
        if draw(st.integers(0, 3)) == 0:
            params["provider"] = "aws"
        if draw(st.integers(0, 3)) == 0:
            params["refreshInterval"] = draw(st.sampled_from(["5m", "30m", "2h"]))
        dep: dict[str, Any] = {"type": "secret"}
        if params:
            dep["params"] = params
        if draw(st.integers(0, 4)) == 0:
            dep["id"] = f"{NAMESPACE}/shared/{name}"  # a shared path of the team's own (others' paths warn)
        out[name] = dep
    return out


def _store(dep: dict[str, Any]) -> str:
    return str(dep.get("params", {}).get("provider", "vault"))


@st.composite
def _value(draw: st.DrawFn, secrets: dict[str, dict[str, Any]], sentinel: str, allow_secret: bool) -> Value:
    """A value; when it reads secrets, all of them come from one store (two stores in one value are refused)."""
    store = draw(st.sampled_from(sorted({_store(d) for d in secrets.values()})))
    usable = sorted(n for n, d in secrets.items() if _store(d) == store)
    text: list[str] = []
    expected: list[str] = []
    reads_secret = False
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["lit", "lit", "meta", "secret"] if allow_secret else ["lit", "meta"]))
        if kind == "lit":
            lit = draw(template_text)
            text.append(lit)
            expected.append(lit)
        elif kind == "meta":
            field_ = draw(st.sampled_from(["name", "namespace"]))
            text.append("${metadata." + field_ + "}")
            expected.append(SERVICE if field_ == "name" else NAMESPACE)
        else:
            resource = draw(st.sampled_from(usable))
            keys = secrets[resource].get("params", {}).get("keys") or ["password", "token"]
            key = draw(st.sampled_from(keys))
            head = draw(st.sampled_from(["secret", "resources"]))
            text.append("${" + f"{head}.{resource}.{key}" + "}")
            expected.append(fake_value(resource, key))
            reads_secret = True
    if reads_secret and draw(st.booleans()):  # a literal fragment that must never leave the secret path
        text.append(sentinel)
        expected.append(sentinel)
    return Value("".join(text), "".join(expected), reads_secret)


@st.composite
def secret_service(draw: st.DrawFn) -> SecretSpec:
    secrets = draw(_secret_resources())
    spec = SecretSpec(doc={}, secrets=secrets)
    containers: dict[str, Any] = {}
    counter = 0
    for cname in draw(st.lists(st.sampled_from(["main", "sidecar"]), min_size=1, max_size=2, unique=True)):
        container: dict[str, Any] = {"image": "registry.example.com/app" + DIGEST,
                                     "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
        variables: dict[str, str] = {}
        for var in draw(st.lists(st.sampled_from(["A", "B_URL", "C", "DSN"]), max_size=4, unique=True)):
            counter += 1
            value = draw(_value(secrets, f"{SENTINEL}{counter}x", allow_secret=True))
            variables[var] = value.text
            spec.variables[(cname, var)] = value
            if value.secret and SENTINEL in value.text:
                spec.sentinels.append(f"{SENTINEL}{counter}x")
        if variables:
            container["variables"] = variables
        files: dict[str, Any] = {}
        for target in draw(st.lists(st.sampled_from(["/etc/app/a.conf", "/etc/app/b.json", "/run/x"]), max_size=2,
                                    unique=True)):
            counter += 1
            value = draw(_value(secrets, f"{SENTINEL}{counter}x", allow_secret=True))
            files[target] = {"content": value.text}
            if draw(st.booleans()):
                files[target]["mode"] = "0440"
            spec.files[(cname, target)] = value
            if value.secret and SENTINEL in value.text:
                spec.sentinels.append(f"{SENTINEL}{counter}x")
        if files:
            container["files"] = files
        if draw(st.integers(0, 2)) == 0:
            container["envFrom"] = [draw(st.sampled_from(sorted(secrets)))]
        if draw(st.booleans()):
            container["args"] = [draw(_value(secrets, "unused", allow_secret=False)).text or "--x"]
        containers[cname] = container
    spec.doc = {
        "apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {"team": "t"},
                     "annotations": {"example.com/note": draw(template_text)}},
        "spec": {"replicas": 2, "workload": {"containers": containers, "service": {"ports": {"http": {"port": 8080}}},
                                             "resources": secrets}},
    }
    return spec


PLATFORM_DOCS: list[dict[str, Any]] = [
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
     "spec": {"secrets": {"defaultProvider": "vault", "refreshInterval": "1h"}}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "SecretProvider", "metadata": {"name": "vault"},
     "spec": {"provider": {"vault": {"server": "https://vault.internal:8200", "path": "secret", "version": "v2"}}}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "SecretProvider", "metadata": {"name": "aws"},
     "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}}},
    {"apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider", "metadata": {"name": "internal"},
     "spec": {"registry": "registry.example.com", "credentials": {"provider": "vault", "path": "registry/pull"}}},
]
