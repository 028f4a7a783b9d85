"""Templated ExternalSecrets, by what ESO would do with them: every value the template renders is fetched
from the path its resource names (the shared `id`, else `<namespace>/<resource>`) and property, nothing else is
fetched, and the whole secret refreshes as often as its most often refreshed input (the shortest interval
wins), so no input goes stale longer than its own resource allows.

Durations are read here as Go's time.ParseDuration reads them (ESO parses `refreshInterval` with it).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.fleet import FleetResult, Sourced
from tests.support import gotemplate
from tests.support.gates import compile_fleet

NAMESPACE, NAME = "shop", "orders"
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def go_seconds(text: str) -> float:
    parts = re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", text)
    assert "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _docs(secrets: dict[str, dict[str, Any]], variables: dict[str, str], files: dict[str, str] | None = None,
          platform_refresh: str | None = None) -> list[dict[str, Any]]:
    container: dict[str, Any] = {"image": "registry.example.com/app:1", "variables": variables,
                                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
    if files:
        container["files"] = {path: {"content": content, "mode": "0440"} for path, content in files.items()}
    platform: dict[str, Any] = {"secrets": {"defaultProvider": "vault"}}
    if platform_refresh:
        platform["secrets"]["refreshInterval"] = platform_refresh
    return [
        {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
         "spec": platform},
        {"apiVersion": "lattice.dev/v1alpha1", "kind": "SecretProvider", "metadata": {"name": "vault"},
         "spec": {"provider": {"vault": {"server": "https://vault.internal:8200", "path": "secret",
                                         "version": "v2"}}}},
        {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
         "metadata": {"name": NAME, "namespace": NAMESPACE},
         "spec": {"workload": {"containers": {"main": container},
                               "resources": {name: {"type": "secret", **spec} for name, spec in secrets.items()}}}},
    ]


def _compile(docs: list[dict[str, Any]]) -> FleetResult:
    result = compile_fleet([Sourced("test", parse_resource(d)) for d in docs])
    assert result.ok, [e.render() for s in result.services for e in s.errors]
    return result


def _external_secrets(result: FleetResult) -> list[dict[str, Any]]:
    return [o for o in result.objects if o["kind"] == "ExternalSecret"]


def _templated(result: FleetResult) -> list[dict[str, Any]]:
    return [o for o in _external_secrets(result) if "data" in (o["spec"]["target"].get("template") or {})]


def _remote_path(name: str, spec: dict[str, Any]) -> str:
    return spec.get("id") or f"{NAMESPACE}/{name}"


def _render(external_secret: dict[str, Any], backend: dict[tuple[str, str], str]) -> dict[str, str]:
    """What ESO puts in the Secret: fetch each `data` entry from the backend, render the template with them."""
    fetched = {entry["secretKey"]: backend[(entry["remoteRef"]["key"], entry["remoteRef"]["property"])]
               for entry in external_secret["spec"].get("data", [])}
    return {key: gotemplate.render(text, fetched)
            for key, text in external_secret["spec"]["target"]["template"]["data"].items()}


def test_a_shared_id_secret_mixed_with_another_refreshes_at_the_shorter_interval() -> None:
    secrets = {"db": {"id": "platform/shared/postgres", "params": {"keys": ["password"], "refreshInterval": "1h"}},
               "token": {"params": {"keys": ["value"], "refreshInterval": "15m"}}}
    result = _compile(_docs(secrets, {
        "DSN": "postgres://app:${secret.db.password}@db:5432/orders?token=${resources.token.value}"}))
    (templated,) = _templated(result)
    assert templated["spec"]["refreshInterval"] == "15m"
    backend = {("platform/shared/postgres", "password"): "p@ss", (f"{NAMESPACE}/token", "value"): "t0k"}
    assert _render(templated, backend) == {"DSN": "postgres://app:p@ss@db:5432/orders?token=t0k"}
    # the per-resource ExternalSecret of the shared secret reads the shared path, not the namespace's
    plain = {o["metadata"]["name"]: o for o in _external_secrets(result) if o is not templated}
    assert {e["remoteRef"]["key"] for e in plain[f"{NAME}-db"]["spec"]["data"]} == {"platform/shared/postgres"}
    assert plain[f"{NAME}-db"]["spec"]["refreshInterval"] == "1h"
    assert plain[f"{NAME}-token"]["spec"]["refreshInterval"] == "15m"


@pytest.mark.parametrize(("first", "second", "platform", "want"), [
    ("1h30m", "95m", None, "1h30m"),  # by length, not by text
    ("90s", "1m", None, "1m"),
    ("2h", None, "30m", "30m"),  # an input without its own interval refreshes at the platform's
    (None, None, "45m", "45m"),
    ("500ms", "1h", None, "500ms"),
    ("2000000us", "3s", None, "2000000us"),
    ("1500000µs", "2s", None, "1500000µs"),
    ("900000000ns", "1s", None, "900000000ns"),
])
def test_the_shortest_interval_wins_by_length(first: str | None, second: str | None, platform: str | None,
                                              want: str) -> None:
    secrets = {name: {"params": {"keys": ["k"], **({"refreshInterval": every} if every else {})}}
               for name, every in (("a", first), ("b", second))}
    result = _compile(_docs(secrets, {"V": "${secret.a.k}-${secret.b.k}"}, platform_refresh=platform))
    (templated,) = _templated(result)
    assert templated["spec"]["refreshInterval"] == want


_durations = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 600), st.sampled_from(["s", "m", "h"]))
_names = st.sampled_from(["db", "api", "cache", "queue"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names, st.tuples(st.one_of(st.none(), _durations), st.booleans()), min_size=1, max_size=4),
       _durations, st.booleans())
def test_a_templated_secret_fetches_exactly_its_inputs_and_refreshes_with_the_most_urgent(
        chosen: dict[str, tuple[str | None, bool]], platform_refresh: str, in_file: bool) -> None:
    secrets = {}
    for name, (every, shared) in chosen.items():
        params: dict[str, Any] = {"keys": ["key"]}
        if every:
            params["refreshInterval"] = every
        secrets[name] = {"params": params, **({"id": f"shared/{name}"} if shared else {})}
    text = "x=" + ";".join("${secret." + name + ".key}" for name in sorted(chosen)) + ";"
    variables = {} if in_file else {"V": text}
    files = {"/etc/app/conf.ini": text} if in_file else None
    result = _compile(_docs(secrets, variables, files, platform_refresh))
    (templated,) = _templated(result)
    intervals = [every or platform_refresh for every, _ in chosen.values()]
    assert go_seconds(templated["spec"]["refreshInterval"]) == min(go_seconds(i) for i in intervals)
    fetched = {(e["remoteRef"]["key"], e["remoteRef"]["property"]) for e in templated["spec"]["data"]}
    assert fetched == {(_remote_path(name, secrets[name]), "key") for name in chosen}
    backend = {(_remote_path(name, secrets[name]), "key"): f"<{name}>" for name in chosen}
    assert list(_render(templated, backend).values()) == [
        "x=" + ";".join(f"<{name}>" for name in sorted(chosen)) + ";"]
    assert templated["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "vault"}
    assert templated["spec"]["target"]["name"] == templated["metadata"]["name"]


# --- refusals and the objects around the templates ------------------------------------------------------------

def _errors(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    result = compile_fleet([Sourced("test", parse_resource(d)) for d in docs])
    service = next(s for s in result.services if s.ref.name == NAME)
    assert not service.objects  # a failed service produces nothing
    return [(p.path, p.message) for p in service.errors]


@pytest.mark.parametrize("text", ["${secret.db.password}", "v=${resources.db.password}", "${ secret.db.password }",
                                  "a${secret.other.key}b", "${secret.db}"])
def test_a_secret_in_an_annotation_is_refused(text: str) -> None:
    docs = _docs({"db": {"params": {"keys": ["password"]}}, "other": {"params": {"keys": ["key"]}}}, {})
    docs[-1]["metadata"]["annotations"] = {"team.example.com/note": text, "plain": "kept"}
    errors = _errors(docs)
    assert [path for path, _ in errors] == ["metadata.annotations.team.example.com/note"]


def test_a_non_secret_placeholder_in_an_annotation_is_no_secret() -> None:
    docs = _docs({"db": {"params": {"keys": ["password"]}}}, {})
    docs[-1]["metadata"]["annotations"] = {"note": "${metadata.name} $5 ${resources.peer.host} ${secretary.db.x}"}
    result = compile_fleet([Sourced("test", parse_resource(d)) for d in docs])
    assert not [p for s in result.services for p in s.errors if p.path.startswith("metadata.")]


def test_one_value_never_mixes_two_stores() -> None:
    secrets = {"a": {"params": {"keys": ["k"], "provider": "vault"}},
               "b": {"params": {"keys": ["k"], "provider": "aws"}}}
    for variables, files in (({"V": "${secret.a.k}:${secret.b.k}"}, None),
                             ({}, {"/etc/app/x.conf": "${secret.a.k}\n${secret.b.k}\n"})):
        errors = _errors(_docs(secrets, variables, files))
        assert len(errors) == 1 and "different secret providers" in errors[0][1], errors
        assert "`a` from `vault`" in errors[0][1] and "`b` from `aws`" in errors[0][1]


def test_each_secret_resource_gets_one_external_secret_and_nothing_else_does() -> None:
    docs = _docs({"db": {"params": {"keys": ["password"], "secretType": "kubernetes.io/basic-auth"}},
                  "flags": {"id": "shared/flags"}}, {"V": "x${secret.db.password}"})
    docs[-1]["spec"]["workload"]["resources"].update({
        "peer": {"type": "service"}, "data": {"type": "volume", "params": {"size": "1Gi"}},
        "api": {"type": "external-service", "params": {"endpoints": {"api": "https://api.example.com"}}}})
    result = _compile(docs)
    plain = {o["metadata"]["name"]: o for o in _external_secrets(result) if o not in _templated(result)}
    assert set(plain) == {f"{NAME}-db", f"{NAME}-flags"}
    # `secretType` becomes the Secret's type; every synced Secret carries the service's labels
    assert plain[f"{NAME}-db"]["spec"]["target"]["template"]["type"] == "kubernetes.io/basic-auth"
    assert plain[f"{NAME}-flags"]["spec"]["dataFrom"] == [{"extract": {"key": "shared/flags"}}]
    for obj in _templated(result):
        assert obj["spec"]["target"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == NAME
        assert obj["spec"]["target"]["template"]["engineVersion"] == "v2"


def test_registry_credentials_become_a_pull_secret_the_pod_uses() -> None:
    docs = _docs({}, {})
    docs.insert(0, {"apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider", "metadata": {"name": "internal"},
                    "spec": {"registry": "registry.example.com",
                             "credentials": {"provider": "vault", "path": "registry/pull"}}})
    result = _compile(docs)
    (pull,) = [o for o in _external_secrets(result) if "-pull-" in o["metadata"]["name"]]
    template = pull["spec"]["target"]["template"]
    assert template["type"] == "kubernetes.io/dockerconfigjson"
    assert list(template["data"]) == [".dockerconfigjson"]
    assert sorted((e["secretKey"], e["remoteRef"]["key"], e["remoteRef"]["property"]) for e in pull["spec"]["data"]) \
        == [("password", "registry/pull", "password"), ("username", "registry/pull", "username")]
    pod = next(o for o in result.objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": pull["metadata"]["name"]}]


def test_a_registry_prefix_tie_goes_to_the_first_provider_by_name() -> None:
    from lattice.api.image_provider import ImageProviderSpec
    from lattice.compiler.secrets import image_provider_for

    providers = {name: ImageProviderSpec(registry="registry.example.com") for name in ("b", "a", "c")}
    assert image_provider_for("registry.example.com/app:1", providers) == "a"
