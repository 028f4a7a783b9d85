"""`lattice policy validate | whatif | schema` end to end (in-process, through typer's runner, real Cedar)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lattice.cli.main import app

runner = CliRunner()

SERVICES = """\
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {name: payments, namespace: commerce}
spec:
  workload:
    containers: {api: {image: "registry.example.com/payments:1.0"}}
    resources:
      db: {type: secret, params: {keys: [dsn]}}
      stripe-api: {type: external-service, params: {endpoints: {api: "https://api.stripe.com"}}}
---
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {name: web, namespace: storefront}
spec:
  workload:
    containers: {web: {image: "registry.example.com/web:latest"}}
    resources:
      session: {type: secret}
---
apiVersion: lattice.dev/v1alpha1
kind: LatticePlatform
metadata: {name: default}
spec: {secrets: {defaultProvider: vault}}
"""

CURRENT = """\
apiVersion: lattice.dev/v1alpha1
kind: CedarPolicy
metadata: {name: team-secrets}
spec:
  policies: |
    permit(principal, action == Lattice::Action::"AccessSecret", resource)
    when { resource.path like "commerce/*" };
    permit(principal, action == Lattice::Action::"AccessSecret", resource)
    when { resource.path like "storefront/*" };
"""

PROPOSED = """\
apiVersion: lattice.dev/v1alpha1
kind: CedarPolicy
metadata: {name: team-secrets}
spec:
  description: storefront loses its permit
  policies: |
    permit(principal, action == Lattice::Action::"AccessSecret", resource)
    when { resource.path like "commerce/*" };
---
apiVersion: lattice.dev/v1alpha1
kind: CedarPolicy
metadata: {name: egress}
spec:
  policies: |
    @id("stripe")
    permit(principal, action == Lattice::Action::"AccessExternalEndpoint", resource)
    when { resource.host == "api.stripe.com" };
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_validate_reports_each_error_at_its_file_line_with_a_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, "policies.yaml", CURRENT + """\
---
apiVersion: lattice.dev/v1alpha1
kind: CedarPolicy
metadata: {name: typo}
spec:
  enabled: false
  policies: |
    // who reads what
    permit(principal, action == Lattice::Action::"AccessSecret", resource)
    when { principal.nmespace == "commerce" };
""")
    result = runner.invoke(app, ["policy", "validate", path])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {path}:19: CedarPolicy typo: spec.policies: line 3: `Lattice::Service` has no attribute "
        "`nmespace`\n"
        "  hint: did you mean `namespace`? `Lattice::Service` has `kind`, `labels`, `name`, `namespace`\n"
        "1 CedarPolicies valid, 1 invalid\n")


def test_validate_accepts_valid_policies_and_the_examples(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "validate", _write(tmp_path, "p.yaml", CURRENT)])
    assert (result.exit_code, result.stderr) == (0, "1 CedarPolicies valid, 0 invalid\n")
    examples = Path(__file__).resolve().parent.parent / "examples"
    assert runner.invoke(app, ["policy", "validate", str(examples)]).exit_code == 0


def test_validate_looks_at_cedar_policies_only(tmp_path: Path) -> None:
    _write(tmp_path, "p.yaml", CURRENT)
    _write(tmp_path, "broken-service.yaml", "apiVersion: lattice.dev/v1alpha1\nkind: LatticeService\n"
           "metadata: {name: x}\nspec: {}\n")
    result = runner.invoke(app, ["policy", "validate", str(tmp_path)])
    assert (result.exit_code, result.stderr) == (0, "1 CedarPolicies valid, 0 invalid\n")


def test_validate_reports_a_syntax_error_in_a_quoted_policy_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", 'apiVersion: lattice.dev/v1alpha1\nkind: CedarPolicy\nmetadata: {name: q}\n'
                  'spec: {policies: "permit(principal, action, resource) when { 1 + };"}\n')
    result = runner.invoke(app, ["policy", "validate", path])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}:4: CedarPolicy q: spec.policies: line 1: Cedar syntax error: "
                                    "unexpected token `}`\n")


def test_whatif_lists_the_decisions_a_change_flips_and_who_is_responsible(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    _write(fleet, "services.yaml", SERVICES)
    _write(fleet, "policies.yaml", CURRENT)
    proposal = _write(tmp_path, "proposal.yaml", PROPOSED)
    result = runner.invoke(app, ["policy", "whatif", "--policies", proposal, str(fleet)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "commerce/payments\n"
        '  denied → allowed: AccessExternalEndpoint on Lattice::ExternalEndpoint::"api.stripe.com:443" '
        "(spec.workload.resources.stripe-api.params.endpoints.api)\n"
        "    permitted by `stripe` (CedarPolicy `egress`, line 1)\n"
        "storefront/web\n"
        '  allowed → denied: AccessSecret on Lattice::SecretPath::"vault:storefront/session" '
        "(spec.workload.resources.session)\n"
        "    no permit any more (was permitted by the `permit` at CedarPolicy `team-secrets`, line 3)\n"
        "2 of 2 services change: 1 requests become denied, 1 become allowed (of 5 decided).\n")


def test_whatif_without_changes_says_so(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    _write(fleet, "services.yaml", SERVICES)
    _write(fleet, "policies.yaml", CURRENT)
    result = runner.invoke(app, ["policy", "whatif", "--policies", str(fleet / "policies.yaml"), str(fleet)])
    assert result.exit_code == 0
    assert result.stdout == "No decision changes: 5 requests of 2 services decide the same.\n"


def test_whatif_refuses_an_invalid_proposal(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    _write(fleet, "services.yaml", SERVICES)
    proposal = _write(tmp_path, "bad.yaml", CURRENT.replace("resource.path like", "resource.pth like", 1))
    result = runner.invoke(app, ["policy", "whatif", "--policies", proposal, str(fleet)])
    assert result.exit_code == 1
    assert f"error: {proposal}:7: CedarPolicy team-secrets: spec.policies: line 2: `Lattice::SecretPath` has no " \
           "attribute `pth`" in result.stderr
    assert "error: no comparison while a policy is invalid" in result.stderr


def test_schema_prints_the_shipped_schema() -> None:
    result = runner.invoke(app, ["policy", "schema"])
    assert result.exit_code == 0
    assert "namespace Lattice {" in result.stdout and "action AllowWildcard" in result.stdout


def test_whatif_shows_a_security_override_that_loses_its_permit(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    _write(fleet, "agent.yaml", """\
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {name: agent, namespace: ops}
spec:
  workload:
    containers:
      main:
        image: registry.example.com/agent@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        security: {capabilities: [NET_ADMIN]}
""")
    permit = """\
apiVersion: lattice.dev/v1alpha1
kind: CedarPolicy
metadata: {name: ops-overrides}
spec:
  policies: |
    permit(principal, action == Lattice::Action::"OverrideSecurity", resource)
    when { principal.namespace == "ops" };
"""
    _write(fleet, "policies.yaml", permit)
    proposal = _write(tmp_path, "proposal.yaml", permit.replace('"ops"', '"platform"'))
    result = runner.invoke(app, ["policy", "whatif", "--policies", proposal, str(fleet)])
    assert result.exit_code == 0, result.output
    assert ('allowed → denied: OverrideSecurity on Lattice::SecurityOverride::"capability:NET_ADMIN" '
            "(spec.workload.containers.main.security.capabilities[0])") in result.stdout
