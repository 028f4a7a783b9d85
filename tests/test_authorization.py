"""The authorization gate with the real Cedar engine (cedarpy): every action, default deny, forbids named by
`@id` and by CedarPolicy, priority order, disabled policies, validation messages and the paste-ready permit."""

from __future__ import annotations

from typing import Any

import cedarpy
import orjson
import pytest

from lattice.api import parse_resource
from lattice.api.cedar_policy import CedarPolicy
from lattice.api.service import LatticeService
from lattice.gates import authorization, cedar_schema, cedar_text, policy_check
from lattice.gates.authorization import Decision, Principal, Request, build_policy_set, decide, permit_for
from lattice.gates.requests import image_resource, secret_path, service_requests, volume_owners

PAYMENTS = Principal("commerce", "payments", labels={"team": "pay", "tier": "critical"})


def policy(name: str, text: str, *, priority: int = 0, enabled: bool = True) -> CedarPolicy:
    resource = parse_resource({"apiVersion": "lattice.dev/v1alpha1", "kind": "CedarPolicy", "metadata": {"name": name},
                               "spec": {"policies": text, "priority": priority, "enabled": enabled}})
    assert isinstance(resource, CedarPolicy)
    return resource


def service(name: str = "payments", namespace: str = "commerce", **workload: Any) -> LatticeService:
    spec = {"containers": {"api": {"image": "registry.example.com/payments:1.0"}}, **workload}
    resource = parse_resource({"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
                               "metadata": {"name": name, "namespace": namespace, "labels": {"team": "pay"}},
                               "spec": {"workload": spec}})
    assert isinstance(resource, LatticeService)
    return resource


def secret(path: str, provider: str = "vault") -> Request:
    return Request(PAYMENTS, "AccessSecret", secret_path(provider, path), "spec.workload.resources.db")


def one(policies: list[CedarPolicy], request: Request) -> Decision:
    decisions = decide(build_policy_set(policies), [request])
    assert len(decisions) == 1
    return decisions[0]


# --- requests of a service, one per action -------------------------------------------------------------------

def test_a_service_asks_for_each_secret_endpoint_volume_image_and_wildcard() -> None:
    svc = service(resources={
        "db": {"type": "secret", "params": {"keys": ["dsn"]}},
        "stripe": {"type": "secret", "id": "shared/stripe", "params": {"provider": "aws"}},
        "stripe-api": {"type": "external-service", "params": {"endpoints": {"api": "https://api.stripe.com"}}},
        "media": {"type": "volume", "id": "media-store"},
        "scratch": {"type": "volume", "params": {"size": "1Gi"}},
        "anyone": {"type": "service", "direction": "inbound", "id": "*"},
    })
    owners = volume_owners([("commerce", "uploader", service(
        "uploader", resources={"store": {"type": "volume", "id": "media-store", "params": {"size": "5Gi"}}}
    ).spec.workload)])
    requests = service_requests(svc, default_provider="vault", volume_owners=owners,
                                deviations=[("capability:NET_ADMIN", "capability",
                                             "spec.workload.containers.api.security.capabilities[0]")])
    assert [(r.action, r.resource.uid, r.path) for r in requests] == [
        ("AllowWildcard", 'Lattice::Mesh::"inbound"', "spec.workload.resources.anyone.id"),
        ("AccessSecret", 'Lattice::SecretPath::"vault:commerce/db"', "spec.workload.resources.db"),
        ("AccessVolume", 'Lattice::Volume::"commerce/media-store"', "spec.workload.resources.media.id"),
        ("AccessSecret", 'Lattice::SecretPath::"aws:shared/stripe"', "spec.workload.resources.stripe"),
        ("AccessExternalEndpoint", 'Lattice::ExternalEndpoint::"api.stripe.com:443"',
         "spec.workload.resources.stripe-api.params.endpoints.api"),
        ("DeployImage", 'Lattice::Image::"registry.example.com/payments:1.0"', "spec.workload.containers.api.image"),
        ("OverrideSecurity", 'Lattice::SecurityOverride::"capability:NET_ADMIN"',
         "spec.workload.containers.api.security.capabilities[0]"),
    ]
    volume = next(r for r in requests if r.action == "AccessVolume")
    assert volume.resource.attrs == {"namespace": "commerce", "id": "media-store", "volume_id": "media-store",
                                     "owner": "commerce/uploader"}
    assert all(r.principal == Principal("commerce", "payments", "service", {"team": "pay"}) for r in requests)


def test_the_owner_of_a_claim_asks_nothing_for_it_and_a_secret_without_provider_is_left_to_the_router() -> None:
    owner = service(resources={"store": {"type": "volume", "id": "media-store", "params": {"size": "5Gi"}},
                               "db": {"type": "secret"}})
    assert [r.action for r in service_requests(owner, default_provider=None)] == ["DeployImage"]


@pytest.mark.parametrize(("image", "attrs"), [
    ("nginx", {"registry": "docker.io", "repository": "library/nginx", "tag": "", "digest": ""}),
    ("team/app:v1", {"registry": "docker.io", "repository": "team/app", "tag": "v1", "digest": ""}),
    ("registry.example.com/a/b@sha256:" + "0" * 64,
     {"registry": "registry.example.com", "repository": "a/b", "tag": "", "digest": "sha256:" + "0" * 64}),
    ("localhost:5000/app:1.2", {"registry": "localhost:5000", "repository": "app", "tag": "1.2", "digest": ""}),
])
def test_image_entities_split_the_reference(image: str, attrs: dict[str, str]) -> None:
    assert image_resource(image).attrs == attrs


ALLOW_ALL_FOR_PAYMENTS = {
    "AccessSecret": secret("commerce/db"),
    "AccessExternalEndpoint": Request(PAYMENTS, "AccessExternalEndpoint", authorization.Resource(
        "ExternalEndpoint", "api.stripe.com:443",
        {"host": "api.stripe.com", "port": 443, "scheme": "https", "protocol": "https"}), "p"),
    "AccessVolume": Request(PAYMENTS, "AccessVolume", authorization.Resource(
        "Volume", "commerce/media", {"namespace": "commerce", "id": "media", "volume_id": "media", "owner": ""}), "p"),
    "OverrideSecurity": Request(PAYMENTS, "OverrideSecurity", authorization.Resource(
        "SecurityOverride", "privileged", {"category": "container", "id": "privileged",
                                           "override_id": "privileged"}), "p"),
    "SkipImageVerification": Request(PAYMENTS, "SkipImageVerification", image_resource("registry.example.com/x:1"),
                                     "p"),
    "AllowWildcard": Request(PAYMENTS, "AllowWildcard", authorization.Resource("Mesh", "inbound"), "p"),
}

# A permit per action, each written on an attribute of its resource (so the schema's names are exercised).
PERMITS = {
    "AccessSecret": 'resource.provider == "vault" && resource.path like "commerce/*"',
    "AccessExternalEndpoint": 'resource.host == "api.stripe.com" && resource.port == 443 && resource.scheme == "https"',
    "AccessVolume": 'resource.namespace == principal.namespace && resource.id == "media"',
    "OverrideSecurity": 'resource.category == "container" && resource.id == "privileged"',
    "SkipImageVerification": 'resource.registry == "registry.example.com" && resource.tag == "1"',
    "AllowWildcard": 'principal.hasTag("tier") && principal.getTag("tier") == "critical"',
}


@pytest.mark.parametrize("action", sorted(ALLOW_ALL_FOR_PAYMENTS))
def test_every_action_is_denied_by_default_and_allowed_by_its_permit(action: str) -> None:
    request = ALLOW_ALL_FOR_PAYMENTS[action]
    denied = one([], request)
    assert not denied.allowed and denied.forbids == ()
    assert denied.problem is not None and "no CedarPolicy permits it (default deny)" in denied.problem.message
    text = f'permit(principal, action == Lattice::Action::"{action}", resource) when {{ {PERMITS[action]} }};'
    allowed = one([policy("p", text)], request)
    assert allowed.allowed and allowed.problem is None
    assert [s.policy for s in allowed.permits] == ["p"]


def test_deploy_image_needs_no_permit_and_a_forbid_refuses_it() -> None:
    request = Request(PAYMENTS, "DeployImage", image_resource("registry.example.com/payments:latest"),
                      "spec.workload.containers.api.image")
    assert one([], request).allowed
    forbid = policy("image-rules", '@id("no-latest")\nforbid(principal, action == Lattice::Action::"DeployImage", '
                                   'resource) when { resource.tag == "latest" };')
    decision = one([forbid], request)
    assert not decision.allowed
    assert decision.problem is not None
    assert decision.problem.render() == (
        'spec.workload.containers.api.image: DeployImage on Lattice::Image::"registry.example.com/payments:latest" '
        'is denied for Lattice::Service::"commerce/payments": forbidden by `no-latest` (CedarPolicy `image-rules`, '
        "line 1) (hint: images need no permit, only no forbid: change or remove it so that it does not match)")
    pinned = Request(PAYMENTS, "DeployImage", image_resource("registry.example.com/payments:1.0"), "p")
    assert one([forbid], pinned).allowed


def test_a_forbid_is_named_by_its_id_else_by_its_cedar_policy() -> None:
    allow = 'permit(principal, action == Lattice::Action::"AccessSecret", resource);'
    by_id = policy("secrets", allow + '\n@id("no-prod")\nforbid(principal, action, resource) '
                   'when { resource has path && resource.path like "*/prod-*" };')
    denied = one([by_id], secret("commerce/prod-db"))
    assert [s.label for s in denied.forbids] == ["no-prod"]
    assert denied.problem is not None
    assert "forbidden by `no-prod` (CedarPolicy `secrets`, line 2)" in denied.problem.message
    anonymous = policy("secrets", allow + '\nforbid(principal, action, resource) '
                       'when { resource has path && resource.path like "*/prod-*" };')
    denied = one([anonymous], secret("commerce/prod-db"))
    assert [s.label for s in denied.forbids] == ["secrets"]
    assert denied.problem is not None
    assert "forbidden by the `forbid` at CedarPolicy `secrets`, line 2" in denied.problem.message
    assert one([anonymous], secret("commerce/db")).allowed


def test_denials_list_forbids_in_priority_order() -> None:
    allow = policy("allow", 'permit(principal, action, resource);')
    low = policy("low", '@id("low-rule") forbid(principal, action, resource);', priority=1)
    high = policy("high", '@id("high-rule") forbid(principal, action, resource);', priority=10)
    same = policy("a-same", '@id("same-rule") forbid(principal, action, resource);', priority=1)
    policy_set = build_policy_set([low, allow, high, same])
    assert policy_set.policies == ("high", "a-same", "low", "allow")
    [decision] = decide(policy_set, [secret("commerce/db")])
    assert [s.label for s in decision.forbids] == ["high-rule", "same-rule", "low-rule"]


def test_a_disabled_policy_decides_nothing() -> None:
    text = 'permit(principal, action == Lattice::Action::"AccessSecret", resource);'
    assert one([policy("p", text)], secret("commerce/db")).allowed
    assert not one([policy("p", text, enabled=False)], secret("commerce/db")).allowed
    forbid = policy("f", 'forbid(principal, action, resource);', enabled=False)
    assert one([policy("p", text), forbid], secret("commerce/db")).allowed


def test_the_paste_ready_permit_allows_exactly_the_denied_request() -> None:
    request = secret("commerce/payments-db")
    denied = one([], request)
    assert denied.problem is not None
    assert denied.problem.hint == (
        "to allow exactly this, add to a CedarPolicy: `permit(principal == Lattice::Service::\"commerce/payments\", "
        'action == Lattice::Action::"AccessSecret", resource == Lattice::SecretPath::"vault:commerce/payments-db");`')
    pasted = denied.problem.hint.split("`")[1]
    assert pasted == permit_for(request)
    assert policy_check.validate(policy("pasted", pasted)) == []
    decisions = decide(build_policy_set([policy("pasted", pasted)]), [request, secret("commerce/other-db")])
    assert [d.allowed for d in decisions] == [True, False]


@pytest.mark.parametrize("request_", list(ALLOW_ALL_FOR_PAYMENTS.values()), ids=list(ALLOW_ALL_FOR_PAYMENTS))
def test_the_paste_ready_permit_works_for_every_action(request_: Request) -> None:
    assert one([policy("pasted", permit_for(request_))], request_).allowed


def test_paste_ready_permits_quote_what_cedar_needs_quoted() -> None:
    odd = Request(Principal("ns", "svc"), "AccessSecret", secret_path("vault", 'a"b\\c'), "p")
    assert 'Lattice::SecretPath::"vault:a\\"b\\\\c"' in permit_for(odd)
    assert one([policy("pasted", permit_for(odd))], odd).allowed


def test_one_batch_decides_many_requests_in_order() -> None:
    text = ('permit(principal, action == Lattice::Action::"AccessSecret", resource) '
            'when { resource.path like "commerce/*" };')
    paths = [f"commerce/s{i}" if i % 3 else f"other/s{i}" for i in range(30)]
    decisions = decide(build_policy_set([policy("p", text)]), [secret(p) for p in paths])
    assert [d.allowed for d in decisions] == [not p.startswith("other/") for p in paths]
    assert [d.request.resource.attrs["path"] for d in decisions] == paths


def test_labels_are_tags_and_a_set() -> None:
    by_tag = ('permit(principal, action, resource) '
              'when { principal.hasTag("team") && principal.getTag("team") == "pay" };')
    by_set = 'permit(principal, action, resource) when { principal.labels.contains("tier=critical") };'
    assert one([policy("t", by_tag)], secret("x/y")).allowed
    assert one([policy("s", by_set)], secret("x/y")).allowed
    other = Request(Principal("commerce", "web"), "AccessSecret", secret("x/y").resource, "p")
    assert not one([policy("t", by_tag)], other).allowed


# --- validation -------------------------------------------------------------------------------------------

def problems(text: str) -> list[tuple[int, str, str]]:
    return [(p.line, p.problem.message, p.problem.hint) for p in policy_check.validate(policy("p", text))]


def test_a_misspelt_attribute_is_named_with_its_line_and_the_attributes_that_exist() -> None:
    text = ('permit(principal, action == Lattice::Action::"AccessSecret", resource)\n'
            'when {\n  principal.nmespace == "commerce" };')
    assert problems(text) == [(3, "line 3: `Lattice::Service` has no attribute `nmespace`",
                               "did you mean `namespace`? `Lattice::Service` has `kind`, `labels`, `name`, "
                               "`namespace`")]


def test_an_attribute_of_another_entity_type_asks_for_a_narrower_scope() -> None:
    [(line, message, hint)] = problems('permit(principal, action, resource) when { resource.path == "x" };')
    assert line == 1
    assert message.startswith("line 1: attribute `path` does not exist on `Lattice::ExternalEndpoint`")
    assert message.endswith("(only `Lattice::SecretPath` has it)")
    assert 'action == Lattice::Action::"AccessSecret"' in hint


def test_an_unknown_entity_type_and_action_are_named_with_the_ones_that_exist() -> None:
    found = problems('permit(principal, action, resource);\n\n'
                     '@id("x")\nforbid(principal, action == Lattice::Action::"AccesSecret",\n'
                     '  resource is Lattice::Secret);')
    assert [(line, message) for line, message, _ in found] == [
        (4, 'line 4: unknown action `Lattice::Action::"AccesSecret"`'),
        (5, "line 5: unknown entity type `Lattice::Secret`"),
    ]
    assert found[0][2].startswith('did you mean `Lattice::Action::"AccessSecret"`?')
    assert found[1][2].startswith("did you mean `Lattice::SecretPath`?")


def test_a_syntax_error_is_reported_at_its_line() -> None:
    text = 'permit(principal, action, resource);\npermit(principal, action, resource)\nwhen { principal.name ==\n};'
    assert problems(text) == [(4, "line 4: Cedar syntax error: unexpected token `}`",
                               "each statement is `permit(principal, action, resource) when { ... };` or "
                               "`forbid(...)`, ending with `;`")]


def test_a_missing_semicolon_is_reported_at_the_last_line() -> None:
    [(line, message, _)] = problems('permit(principal, action, resource)\nwhen { true }\n\n')
    assert (line, message) == (2, "line 2: Cedar syntax error: unexpected end of input")


def test_an_unguarded_tag_and_a_type_mismatch_are_explained() -> None:
    found = problems('permit(principal, action, resource) when { principal.getTag("team") == "x" };\n'
                     'permit(principal, action == Lattice::Action::"AccessExternalEndpoint", resource)\n'
                     '  when { resource.port == "443" };')
    assert found[0][:2] == (1, 'line 1: `getTag("team")` may read a label the service does not have')
    assert found[1][:2] == (2, "line 2: the types Long and String are not compatible")
    assert "`resource.port == 443`" in found[1][2]


def test_templates_and_empty_policies_are_refused() -> None:
    assert problems("permit(principal == ?principal, action, resource);")[0][1].startswith(
        "line 1: the statement is a Cedar template")
    assert problems("// nothing yet\n")[0][1] == "the policies hold no statement (only comments or blank lines)"


def test_an_invalid_policy_set_decides_nothing() -> None:
    broken = policy("broken", 'permit(principal, action, resource) when { principal.nmespace == "x" };')
    allow = policy("allow", "permit(principal, action, resource);")
    policy_set = build_policy_set([allow, broken])
    assert not policy_set.valid
    [decision] = decide(policy_set, [secret("commerce/db")])
    assert not decision.allowed
    assert decision.problem is not None and "CedarPolicy `broken` is invalid" in decision.problem.message


def test_statement_lines_skip_comments_and_strings() -> None:
    text = '// a; comment\n@id("a;b")\npermit(principal, action, resource)\nwhen { principal.name == "x;" };\n' \
           '\nforbid(principal, action, resource); permit(principal, action, resource);\n'
    assert cedar_text.statement_lines(text) == [2, 6, 6]


def test_the_schema_declares_the_design_entities_and_actions() -> None:
    decl = cedar_schema.declarations()
    assert {name: sorted(e.attributes) for name, e in decl.entities.items()} == {
        "ExternalEndpoint": ["host", "port", "protocol", "scheme"],
        "Image": ["digest", "registry", "repository", "tag"],
        "Mesh": [],
        "SecretPath": ["namespace", "path", "provider"],
        "SecurityOverride": ["category", "id", "override_id"],
        "Service": ["kind", "labels", "name", "namespace"],
        "Volume": ["id", "namespace", "owner", "volume_id"],
    }
    assert decl.entities["Service"].tags == "String"
    assert decl.actions == {
        "AccessExternalEndpoint": ("Service", "ExternalEndpoint"), "AccessSecret": ("Service", "SecretPath"),
        "AccessVolume": ("Service", "Volume"), "AllowWildcard": ("Service", "Mesh"),
        "DeployImage": ("Service", "Image"), "OverrideSecurity": ("Service", "SecurityOverride"),
        "SkipImageVerification": ("Service", "Image"),
    }


def test_the_entities_the_gate_builds_conform_to_the_schema() -> None:
    prepared = authorization.prepare([*ALLOW_ALL_FOR_PAYMENTS.values(), Request(
        PAYMENTS, "DeployImage", image_resource("nginx"), "p")])
    # Cedar validates entities against a schema when given one; a wrong attribute or type raises.
    cedarpy.Entities.from_json_str(str(prepared.entities), cedar_schema.schema())
    # The service, each resource and nginx, each once.
    assert len(orjson.loads(str(prepared.entities))) == 1 + len(ALLOW_ALL_FOR_PAYMENTS) + 1


def test_a_forbid_that_fails_to_evaluate_denies() -> None:
    endpoint = ALLOW_ALL_FOR_PAYMENTS["AccessExternalEndpoint"]
    allow = policy("allow", 'permit(principal, action, resource);')
    # Valid against the schema, but the sum overflows a Long when evaluated; Cedar would skip the forbid.
    overflow = policy("guard", '@id("overflowing") forbid(principal, '
                      'action == Lattice::Action::"AccessExternalEndpoint", resource) '
                      "when { resource.port + 9223372036854775807 > 0 };")
    assert policy_check.validate(overflow) == []
    decision = one([allow, overflow], endpoint)
    assert not decision.allowed
    assert [s.label for s in decision.forbids] == ["overflowing"]
    assert decision.problem is not None and "overflow" in decision.problem.message


@pytest.mark.parametrize("guard", [
    "",  # no forbid at all
    '@id("no-secrets") forbid(principal, action == Lattice::Action::"AccessSecret", resource) '
    'when { resource.path like "root/*" };',
    '@id("no-latest") forbid(principal, action == Lattice::Action::"DeployImage", resource) '
    'when { resource.tag == "latest" };',
    '@id("no-latest-anywhere") forbid(principal, action, resource) when { principal.name == "payments" };',
])
def test_images_decided_without_the_engine_match_the_engine(guard: str) -> None:
    """Where no forbid can name DeployImage, images are allowed by the implicit permit without evaluating them
    (they are most of a fleet's requests); the answers must equal Cedar's own, request by request."""
    policies = [policy("allow", 'permit(principal, action == Lattice::Action::"AccessSecret", resource);')]
    if guard:
        policies.append(policy("guard", guard))
    policy_set = build_policy_set(policies)
    asked = [Request(PAYMENTS, "DeployImage", image_resource(ref), "p")
             for ref in ("registry.example.com/a:1", "registry.example.com/b:latest", "nginx")]
    asked += [secret("commerce/db"), secret("root/ca")]
    shortcut = decide(policy_set, asked)
    engine = decide(policy_set, authorization.prepare(asked))  # prepared requests always go through Cedar
    assert [(d.allowed, [s.label for s in d.forbids]) for d in shortcut] == \
        [(d.allowed, [s.label for s in d.forbids]) for d in engine]
    assert (policy_set.forbiddable is not None and "DeployImage" not in policy_set.forbiddable) == (
        "DeployImage" not in guard and "forbid(principal, action," not in guard)
