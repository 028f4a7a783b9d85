"""Secret routing (DESIGN §3): the five routes, template escaping, store choice, rotation and refusals.

Template text is checked by rendering it with `tests/support/gotemplate.py`, a minimal evaluator of the only
two actions the router emits; anything else in a template fails the render.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice import render
from lattice.api import parse_resource
from lattice.api.secret_provider import SecretProviderSpec
from lattice.compiler import naming
from lattice.compiler.meta import Obj
from lattice.compiler.resolve import SecretRef
from lattice.compiler.secrets import (
    cluster_secret_stores,
    docker_config_template,
    escape_template_text,
    image_provider_for,
    render_template,
)
from lattice.fleet import FleetResult, ServiceOutcome, Sourced
from tests.conftest import EXAMPLES, load_fleet
from tests.secret_strategies import PLATFORM_DOCS, SENTINEL, SecretSpec, fake_value, secret_service, template_text
from tests.support import gotemplate
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

SECRET_KINDS = {"ExternalSecret", "Secret"}


# --- the tiny evaluator is faithful where escaping matters --------------------------------------------------

def test_evaluator_reads_go_delimiters_like_go() -> None:
    assert gotemplate.render('a{{ "{{" }}b}}c', {}) == "a{{b}}c"
    assert gotemplate.render('x{{ index . "db.password" }}y', {"db.password": "S"}) == "xSy"
    # a `{` right before an action makes Go start the action one character early
    with pytest.raises(gotemplate.TemplateError):
        gotemplate.render('{{{ index . "k" }}', {"k": "v"})
    for bad in ("{{ .Secret }}", "{{- .x }}", "{{/* c */}}", '{{ printf "%s" . }}', "{{ index . }}", "{{ x"):
        with pytest.raises(gotemplate.TemplateError):
            gotemplate.render(bad, {})


# --- escaping -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "", "plain", "{{", "}}", "{", "}", "{{{", "}}}", "{{{{", "a{", "{{ .Secret }}", "{{- .x -}}",
    '{{ "{{" }}', "{{/* comment */}}", "}{", "{}{}{", '{{ index . "db.password" }}', "{{`raw`}}",
])
def test_escaped_user_text_renders_to_itself(text: str) -> None:
    assert gotemplate.render(escape_template_text(text), {}) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(template_text, st.sampled_from([SecretRef("db", "password"), SecretRef("api", "tls.crt")])),
                max_size=8))
def test_rendered_values_are_exactly_the_user_text_with_the_secrets(pieces: list[Any]) -> None:
    parts: list[str | SecretRef] = []
    for piece in pieces:  # the resolver merges adjacent text; so do we
        if isinstance(piece, str) and parts and isinstance(parts[-1], str):
            parts[-1] += piece
        elif piece != "":
            parts.append(piece)
    values = {"db.password": "<pw>", "api.tls.crt": "<crt>"}
    expected = "".join(p if isinstance(p, str) else values[f"{p.resource}.{p.key}"] for p in parts)
    assert gotemplate.render(render_template(parts), values) == expected


def test_the_pull_secret_template_renders_a_docker_config() -> None:
    text = docker_config_template("registry.example.com/team")
    # the one action it holds: base64 of `username:password`
    action = re.fullmatch(r'(.*)\{\{ printf "%s:%s" \.username \.password \| b64enc \}\}(.*)', text)
    assert action is not None
    rendered = action[1] + base64.b64encode(b'robot:p"a}}ss').decode() + action[2]
    config = json.loads(rendered)
    auth = config["auths"]["registry.example.com/team"]["auth"]
    assert base64.b64decode(auth) == b'robot:p"a}}ss'


def test_image_provider_is_the_longest_registry_prefix() -> None:
    from lattice.api.image_provider import ImageProviderSpec

    providers = {"a": ImageProviderSpec(registry="registry.example.com"),
                 "b": ImageProviderSpec(registry="registry.example.com/team")}
    assert image_provider_for("registry.example.com/team/app:1", providers) == "b"
    assert image_provider_for("registry.example.com/other/app:1", providers) == "a"
    assert image_provider_for("registry.example.community/app:1", providers) is None
    assert image_provider_for("nginx:1.27", providers) is None


# --- the examples: DESIGN §1 payments compiles whole ----------------------------------------------------------

def _outcome(fleet: FleetResult, name: str) -> ServiceOutcome:
    return next(s for s in fleet.services if s.ref.name == name)


def _by(objects: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _container(objects: list[Obj], deployment: str, container: str) -> Obj:
    pod = _by(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == container)


def test_payments_reads_its_secrets_only_through_external_secrets(examples_fleet: FleetResult) -> None:
    payments = _outcome(examples_fleet, "payments")
    assert payments.ok, payments.errors
    api = _container(payments.objects, "payments", "api")
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in api["env"]}
    assert env == {"DATABASE_URL": {"name": "payments-api-env-vault", "key": "DATABASE_URL"},
                   "STRIPE_KEY": {"name": "payments-stripe", "key": "api-key"}}
    templated = _by(payments.objects, "ExternalSecret", "payments-api-env-vault")["spec"]
    assert gotemplate.render(templated["target"]["template"]["data"]["DATABASE_URL"],
                             {"payments-db.dsn": "S3CRET"}) == "postgres://app:S3CRET@db:5432/orders"
    assert templated["data"] == [{"secretKey": "payments-db.dsn",
                                  "remoteRef": {"key": "commerce/payments-db", "property": "dsn"}}]
    stripe = _by(payments.objects, "ExternalSecret", "payments-stripe")["spec"]
    assert stripe["data"] == [{"secretKey": "api-key", "remoteRef": {"key": "commerce/stripe", "property": "api-key"}}]
    assert stripe["refreshInterval"] == "15m"
    config_map = _by(payments.objects, "ConfigMap", "payments-api-env")
    assert set(config_map["data"]) == {"ORDERS_URL", "STRIPE_API", "SERVICE_NAME", "LOG_FORMAT"}


def test_the_examples_use_every_route(examples_fleet: FleetResult) -> None:
    objects = examples_fleet.objects
    secrets = [o for o in objects if o["kind"] == "ExternalSecret"]
    env_refs = [e for o in objects if o["kind"] == "Deployment"
                for c in o["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])]
    assert any(e["valueFrom"]["secretKeyRef"]["key"] != e["name"] for e in env_refs)  # route 1
    assert any(s["spec"]["target"].get("template", {}).get("data", {}).keys() & {"DATABASE_URL"}
               for s in secrets)  # route 2
    orders = _container(objects, "orders", "main")
    assert any(m["name"].startswith("secret-files-") and m["readOnly"] for m in orders["volumeMounts"])  # route 3
    pulls = [s for s in secrets
             if s["spec"]["target"].get("template", {}).get("type") == "kubernetes.io/dockerconfigjson"]
    assert {p["metadata"]["namespace"] for p in pulls} == {"commerce", "storefront"}  # route 4
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        assert dep["spec"]["template"]["spec"]["imagePullSecrets"] == [
            {"name": naming.pull_secret(dep["metadata"]["name"], "internal")}]
    worker = _container(objects, "worker", "worker")
    assert {"secretRef": {"name": "worker-feature-flags"}} in worker["envFrom"]  # route 5
    flags = _by(objects, "ExternalSecret", "worker-feature-flags")["spec"]
    assert flags["dataFrom"] == [{"extract": {"key": "commerce/shared/feature-flags"}}]


def test_nothing_secret_is_in_plain_text_in_the_examples(examples_fleet: FleetResult) -> None:
    for obj in examples_fleet.objects:
        if obj["kind"] in SECRET_KINDS:
            continue
        text = json.dumps(obj)
        assert "${secret." not in text and "{{" not in text, obj["metadata"]
        for secret in ("payments-db.dsn", "stripe.api-key", "orders-db-creds.password"):
            assert f"${{resources.{secret}}}" not in text, obj["metadata"]


def test_every_external_secret_is_labelled_named_and_targets_itself(examples_fleet: FleetResult) -> None:
    for obj in examples_fleet.objects:
        if obj["kind"] != "ExternalSecret":
            continue
        meta, spec = obj["metadata"], obj["spec"]
        service = meta["labels"][naming.NAME_LABEL]
        assert meta["name"].startswith(f"{service}-")
        assert meta["labels"][naming.MANAGED_BY_LABEL] == naming.MANAGER
        assert spec["secretStoreRef"]["kind"] == "ClusterSecretStore"
        assert spec["target"]["name"] == meta["name"]
        assert spec["target"]["creationPolicy"] == "Owner"


def test_cluster_secret_stores_pass_the_provider_through() -> None:
    items = load_fleet(EXAMPLES)
    providers = {i.resource.name: i.resource.spec for i in items if i.resource.kind == "SecretProvider"}
    stores = cluster_secret_stores(providers)
    assert [s["metadata"]["name"] for s in stores] == ["vault"]
    assert stores[0]["spec"]["provider"] == providers["vault"].provider
    assert "namespace" not in stores[0]["metadata"]
    assert stores[0]["metadata"]["labels"][naming.MANAGED_BY_LABEL] == naming.MANAGER
    assert_valid(stores)
    more = cluster_secret_stores({
        "aws": SecretProviderSpec(provider={"aws": {"service": "SecretsManager", "region": "eu-west-1"}}),
        "vault": providers["vault"],
    })
    assert [s["metadata"]["name"] for s in more] == ["aws", "vault"]
    assert_valid(more)


# --- store choice, warnings, refusals ----------------------------------------------------------------------

def _service(resources: dict[str, Any], variables: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    main: dict[str, Any] = {"image": "registry.example.com/app:1",
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, **container}
    if variables:
        main["variables"] = variables
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": "svc", "namespace": "team"},
            "spec": {"workload": {"containers": {"main": main}, "resources": resources,
                                  "service": {"ports": {"http": {"port": 8080}}}}}}


def _compile(*docs: dict[str, Any]) -> ServiceOutcome:
    result = compile_fleet([Sourced("test", parse_resource(doc)) for doc in docs])
    assert result.errors == []
    return result.services[0]


def test_store_is_the_resource_provider_else_the_platform_default() -> None:
    outcome = _compile(_service({"a": {"type": "secret", "params": {"provider": "aws"}}, "b": {"type": "secret"}},
                                {"A": "${secret.a.x}", "B": "${secret.b.y}"}), *PLATFORM_DOCS)
    assert outcome.ok and outcome.warnings == [], (outcome.errors, outcome.warnings)
    stores = {o["metadata"]["name"]: o["spec"]["secretStoreRef"]["name"]
              for o in outcome.objects if o["kind"] == "ExternalSecret"}
    assert stores == {"svc-a": "aws", "svc-b": "vault", "svc-pull-internal": "vault"}


def test_no_store_anywhere_is_an_error_naming_both_ways_to_name_one() -> None:
    outcome = _compile(_service({"db": {"type": "secret"}}, {"X": "${secret.db.x}"}))
    assert [p.path for p in outcome.errors] == ["spec.workload.resources.db.params.provider"]
    hint = outcome.errors[0].hint
    assert "params" in hint and "defaultProvider" in hint


def test_an_undefined_provider_compiles_with_a_warning() -> None:
    outcome = _compile(_service({"db": {"type": "secret", "params": {"provider": "gone"}}}, {"X": "${secret.db.x}"}),
                       *PLATFORM_DOCS)
    assert outcome.ok
    assert [(w.path, "gone" in w.message) for w in outcome.warnings] == [
        ("spec.workload.resources.db.params.provider", True)]


def test_an_unused_secret_still_gets_its_external_secret() -> None:
    outcome = _compile(_service({"db": {"type": "secret", "params": {"keys": ["a"]}}}), *PLATFORM_DOCS)
    assert "svc-db" in {o["metadata"]["name"] for o in outcome.objects if o["kind"] == "ExternalSecret"}


def test_a_secret_key_that_no_secret_key_can_be_is_refused() -> None:
    outcome = _compile(_service({"db": {"type": "secret"}}, {"X": "${secret.db.a b}"}), *PLATFORM_DOCS)
    assert [p.path for p in outcome.errors] == ["spec.workload.containers.main.variables.X"]


def test_secret_in_command_is_refused_with_the_reason() -> None:
    outcome = _compile(_service({"db": {"type": "secret"}}, command=["/bin/app", "${secret.db.password}"]),
                       *PLATFORM_DOCS)
    assert [p.path for p in outcome.errors] == ["spec.workload.containers.main.command[1]"]
    assert "ps" in outcome.errors[0].message and "variables" in outcome.errors[0].hint


def test_a_resource_named_like_a_generated_secret_is_refused() -> None:
    outcome = _compile(_service({"db": {"type": "secret"}, "main-env-vault": {"type": "secret"}},
                                {"X": "a${secret.db.x}"}), *PLATFORM_DOCS)
    assert [p.path for p in outcome.errors] == ["spec.workload.resources.main-env-vault"]


# --- rotation: the config hash covers the ExternalSecret specs ------------------------------------------------

def _hash(doc: dict[str, Any]) -> str:
    outcome = _compile(doc, *PLATFORM_DOCS)
    assert outcome.ok, outcome.errors
    return str(_by(outcome.objects, "Deployment", "svc")["spec"]["template"]["metadata"]["annotations"][
        naming.CONFIG_HASH_ANNOTATION])


def test_a_change_to_a_secret_changes_the_config_hash() -> None:
    base = _hash(_service({"db": {"type": "secret", "params": {"keys": ["a"]}}}, {"X": "x:${secret.db.a}"}))
    assert _hash(_service({"db": {"type": "secret", "params": {"keys": ["a"]}}}, {"X": "x:${secret.db.a}"})) == base
    changed = [
        _service({"db": {"type": "secret", "params": {"keys": ["a", "b"]}}}, {"X": "x:${secret.db.a}"}),  # keys
        _service({"db": {"type": "secret", "params": {"keys": ["a"]}}}, {"X": "y:${secret.db.a}"}),  # template
        _service({"db": {"type": "secret", "params": {"keys": ["a"], "provider": "aws"}}},
                 {"X": "x:${secret.db.a}"}),  # store
        _service({"db": {"type": "secret", "id": "elsewhere", "params": {"keys": ["a"]}}},
                 {"X": "x:${secret.db.a}"}),  # remote path
    ]
    hashes = [_hash(doc) for doc in changed]
    assert base not in hashes and len(set(hashes)) == len(hashes)


# --- the property -------------------------------------------------------------------------------------------

def _walk_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_walk_strings(k), *_walk_strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in _walk_strings(item)]
    return []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(secret_service())
def test_secrets_never_leave_the_secret_path(spec: SecretSpec) -> None:
    outcome = _compile(spec.doc, *PLATFORM_DOCS)
    assert outcome.ok, [p.render() for p in outcome.errors]
    assert outcome.warnings == []
    objects = outcome.objects
    providers = {d["metadata"]["name"]: SecretProviderSpec.model_validate(d["spec"])
                 for d in PLATFORM_DOCS if d["kind"] == "SecretProvider"}
    assert_valid([*objects, *cluster_secret_stores(providers)])
    secret_names = sorted(spec.secrets)

    # nothing outside a Secret or ExternalSecret holds a placeholder, template syntax or a fragment of a value
    for obj in objects:
        if obj["kind"] in SECRET_KINDS:
            continue
        for text in _walk_strings(obj):
            assert "${secret." not in text, (obj["kind"], text)
            assert not any(f"${{resources.{name}." in text for name in secret_names), (obj["kind"], text)
            assert not any(sentinel in text for sentinel in spec.sentinels), (obj["kind"], text)
            assert "{{ index" not in text, (obj["kind"], text)

    # every value reaches the pod as written, secrets included (rendered with fake values)
    templates: dict[tuple[str, str], str] = {}
    inputs: dict[str, dict[str, str]] = {}
    for obj in objects:
        if obj["kind"] == "ExternalSecret" and "template" in obj["spec"]["target"]:
            template = obj["spec"]["target"]["template"]
            if template.get("type") == "kubernetes.io/dockerconfigjson":
                continue
            name = obj["metadata"]["name"]
            for key, text in template.get("data", {}).items():
                templates[(name, key)] = text
            inputs[name] = {d["secretKey"]: fake_value(*d["secretKey"].split(".", 1))
                            for d in obj["spec"].get("data", [])}
    config_maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    pod = _by(objects, "Deployment", "svc")["spec"]["template"]["spec"]
    for (cname, var), value in spec.variables.items():
        container = next(c for c in pod["containers"] if c["name"] == cname)
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])}
        if not value.secret:
            assert config_maps[naming.env_config_map("svc", cname)][var] == value.expected
            continue
        ref = env[var]
        if (ref["name"], ref["key"]) in templates:
            rendered = gotemplate.render(templates[(ref["name"], ref["key"])], inputs[ref["name"]])
        else:  # route 1: exactly one key of the resource's own Secret
            resource = ref["name"].removeprefix("svc-")
            rendered = fake_value(resource, ref["key"])
        assert rendered == value.expected
    for (cname, target), value in spec.files.items():
        container = next(c for c in pod["containers"] if c["name"] == cname)
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == target)
        assert mount["readOnly"] is True
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        if not value.secret:
            assert config_maps[volume["configMap"]["name"]][mount["subPath"]] == value.expected
            continue
        secret = volume["secret"]["secretName"]
        assert gotemplate.render(templates[(secret, mount["subPath"])], inputs[secret]) == value.expected


def test_the_property_generator_reaches_every_route() -> None:
    """A smoke check that the strategy is not degenerate: a fixed draw uses templated env and files."""
    kinds: set[str] = set()

    @settings(max_examples=40, deadline=None, database=None)
    @given(secret_service())
    def collect(spec: SecretSpec) -> None:
        outcome = _compile(spec.doc, *PLATFORM_DOCS)
        for obj in outcome.objects:
            if obj["kind"] == "ExternalSecret":
                name = obj["metadata"]["name"]
                kinds.add("files" if "-files-" in name else "env" if "-env-" in name
                          else "pull" if "-pull-" in name else "resource")
        if any(SENTINEL in v.text for v in spec.variables.values()):
            kinds.add("sentinel")

    collect()
    assert kinds == {"files", "env", "pull", "resource", "sentinel"}


def test_rendered_examples_mention_no_secret_value_path_outside_external_secrets(examples_fleet: FleetResult) -> None:
    text = render.dump_yaml_stream([o for o in examples_fleet.objects if o["kind"] not in SECRET_KINDS])
    assert "commerce/payments-db" not in text and "registry/pull" not in text
