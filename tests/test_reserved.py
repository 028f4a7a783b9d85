# ruff: noqa: E501  (the expected texts are whole lines of stderr, as in test_errors.py)
"""Platform names, identities, namespaces and labels are refused on workloads (issue 7, B.2).

Each file in `tests/inputs/reserved/` is a bypass that compiled before: a workload taking the gateway's identity,
a platform object's name, a system namespace, a label the policies key on, or (a mesh member) a compiled
service's pods or identity. The table pairs it with the exact errors of `lattice compile` (warnings about the
refused peer's missing agreement are another rule's business); the property tests then read the output
alone, with the independent policy checker, to show that the bypass is closed: every pod's identity is its
own, every policy selects only its own workload's pods, and nobody reaches a service that never agreed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from lattice.api import parse_resource
from lattice.cli.main import app
from lattice.compiler import naming
from lattice.fleet import FleetResult, Sourced
from tests.policy_checker import Pod, l4_matrix, l7_matrix
from tests.support.gates import admitting, compile_fleet
from tests.test_policy_guarantee import pods

REPO = Path(__file__).resolve().parent.parent
RESERVED = Path("tests/inputs/reserved")
TRUST = "cluster.local"

CASES: list[tuple[str, str]] = [
    (
        'default-service-account.yaml',
        "error: FILE:4: LatticeService demo/default: metadata.name: `default` is reserved: it is every namespace's default service account: pods that name no service account run as it, and would all be trusted as this workload\n"
        '  hint: rename the workload, e.g. `default-app`\n'
    ),
    (
        'gateway-identity.yaml',
        "error: FILE:19: LatticeService demo/lattice-ingress-istio: metadata.name: `lattice-ingress-istio` is reserved: it is the service account of the ingress Gateway's pods (`<gateway>-<class>`); a workload running as it would be trusted as the gateway on every routed port\n"
        '  hint: rename the workload, e.g. `lattice-ingress-istio-app`\n'
    ),
    (
        'gateway-name.yaml',
        "error: FILE:19: LatticeService demo/lattice-ingress: metadata.name: `lattice-ingress` is reserved: it is the name of the namespace's ingress Gateway and of its network policy\n"
        '  hint: rename the workload, e.g. `lattice-ingress-app`\n'
    ),
    (
        'mesh-member-reserved-selector.yaml',
        'error: FILE:6: LatticeMeshMember demo/everything: spec.selector.app.kubernetes.io/managed-by: the selector matches every pod Lattice compiles\n'
        "  hint: select the member's own pods by the labels its chart gives them\n"
        'error: FILE:13: LatticeMeshMember demo/enrolled: spec.selector.istio.io/dataplane-mode: the selector keys on `istio.io/dataplane-mode`, which the platform sets on pods it does not own (Istio enrolls pods in the mesh and reads their identity by it)\n'
        "  hint: select the member's own pods by the labels its chart gives them\n"
    ),
    (
        'mesh-member-selects-service.yaml',
        "error: FILE:18: LatticeMeshMember demo/backdoor: spec.selector: the selector matches the pods of LatticeService demo/payments, which Lattice compiles; the member's policies would admit its peers there\n"
        "  hint: select the member's own pods by the labels its chart gives them\n"
    ),
    (
        'mesh-member-service-account.yaml',
        'error: FILE:19: LatticeMeshMember demo/db: spec.serviceAccount: `payments` is the service account of LatticeService demo/payments; the member would be trusted as that service\n'
        "  hint: name the service account the member's pods really run as\n"
        "error: FILE:29: LatticeMeshMember demo/cache: spec.serviceAccount: `lattice-ingress-istio` is reserved: it is the service account of the ingress Gateway's pods (`<gateway>-<class>`); a workload running as it would be trusted as the gateway on every routed port\n"
        "  hint: name the service account the member's pods really run as\n"
    ),
    (
        'platform-identities.yaml',
        "error: FILE:11: LatticeService observability/vmagent-main: metadata.namespace: `observability` is the metrics scraper's namespace (LatticePlatform `spec.metrics.namespace`); a workload there would share it with the platform's own components and could take their names, identities and policies\n"
        '  hint: deploy it in a namespace of its team\n'
        "error: FILE:21: LatticeService demo/lattice-ingress-cilium: metadata.name: `lattice-ingress-cilium` is reserved: it is the service account of the ingress Gateway's pods (`<gateway>-<class>`); a workload running as it would be trusted as the gateway on every routed port\n"
        '  hint: rename the workload, e.g. `lattice-ingress-cilium-app`\n'
    ),
    (
        'reserved-labels.yaml',
        "error: FILE:23: LatticeService demo/tool: metadata.labels.gateway.networking.k8s.io/gateway-name: the label `gateway.networking.k8s.io/gateway-name` is reserved: the ingress Gateway's pods are selected by it\n"
        '  hint: remove it, or use a key under a domain of your own, e.g. `example.com/gateway-name`\n'
        'error: FILE:24: LatticeService demo/tool: metadata.labels.istio.io/dataplane-mode: the label `istio.io/dataplane-mode` is reserved: Istio enrolls pods in the mesh and reads their identity by it\n'
        '  hint: remove it, or use a key under a domain of your own, e.g. `example.com/dataplane-mode`\n'
        'error: FILE:28: LatticeService demo/tool: spec.workload.labels.sidecar.istio.io/inject: the label `sidecar.istio.io/inject` is reserved: Istio decides sidecar injection by it\n'
        '  hint: remove it, or use a key under a domain of your own, e.g. `example.com/inject`\n'
    ),
    (
        'system-namespace.yaml',
        "error: FILE:4: LatticeService istio-system/allow-nothing: metadata.namespace: `istio-system` is the mesh root namespace (LatticePlatform `spec.mesh.rootNamespace`), whose policies apply to the whole mesh; a workload there would share it with the platform's own components and could take their names, identities and policies\n"
        '  hint: deploy it in a namespace of its team\n'
        'error: FILE:4: LatticeService istio-system/allow-nothing: metadata.name: `allow-nothing` is reserved: it is the name of the mesh-wide allow-nothing policy\n'
        '  hint: rename the workload, e.g. `allow-nothing-app`\n'
    ),
]

# Workloads that still compile (by `app.kubernetes.io/name`); the Gateway comes with a routed service.
SURVIVORS: dict[str, set[str]] = {
    "gateway-identity.yaml": {"shop", "lattice-ingress"},
    "gateway-name.yaml": {"shop", "lattice-ingress"},
    "reserved-labels.yaml": {"shop", "lattice-ingress"},
    "mesh-member-selects-service.yaml": {"payments", "intruder"},
    "mesh-member-service-account.yaml": {"payments", "ledger"},
    "mesh-member-reserved-selector.yaml": {"postgres"},
}


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def compile_(*args: str) -> Result:
    return CliRunner().invoke(app, ["compile", *admitting(*args)])


def errors_only(stderr: str) -> str:
    """The error entries of stderr (each `error:` line and its hint), warnings left out."""
    out, keep = [], False
    for line in stderr.splitlines(True):
        if not line.startswith("  "):
            keep = line.startswith("error: ")
        if keep:
            out.append(line)
    return "".join(out)


def compiled_workloads(stdout: str) -> set[str]:
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(stdout) if d is not None]
    return {d["metadata"]["labels"][naming.NAME_LABEL] for d in docs
            if d["metadata"]["labels"].get("app.kubernetes.io/part-of") != "lattice"}


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[name.removesuffix(".yaml") for name, _ in CASES])
def test_reserved_input_is_refused_exactly(name: str, expected: str) -> None:
    path = str(RESERVED / name)
    result = compile_(path)
    assert errors_only(result.stderr) == expected.replace("FILE", path)
    assert result.exit_code == 1
    assert compiled_workloads(result.stdout) == SURVIVORS.get(name, set())


def test_every_reserved_input_has_a_row_and_a_comment() -> None:
    files = sorted(p.name for p in (REPO / RESERVED).glob("*.yaml"))
    assert files == sorted(name for name, _ in CASES)
    for name in files:
        assert (REPO / RESERVED / name).read_bytes().startswith(b"# "), name


# --- the bypass is closed, read from the output alone ------------------------------------------------------

def _compile(name: str) -> tuple[FleetResult, list[dict[str, Any]]]:
    docs = [d for d in yaml.safe_load_all((REPO / RESERVED / name).read_text()) if d is not None]
    items = []
    for doc in docs:
        items.append(Sourced(name, parse_resource(doc)))
    return compile_fleet(items), docs


def _cluster_pods(result: FleetResult, docs: list[dict[str, Any]]) -> list[Pod]:
    """Every pod the cluster would run: the fleet's (compiled and mesh members'), each namespace's gateway, and
    in each namespace a pod of some chart that names no service account (so it runs as `default`)."""
    namespaces = sorted({d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]})
    strays = [Pod((ns, "stray"), ns, (("app", "stray"),), f"{TRUST}/ns/{ns}/sa/default") for ns in namespaces]
    compiled = {(o.ref.namespace, o.ref.name) for o in result.services if o.ok}
    members = [d for d in docs if (d["metadata"].get("namespace"), d["metadata"]["name"]) in compiled]
    return [*pods(result, members, TRUST), *strays]


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_every_identity_is_held_by_one_workload(name: str) -> None:
    """Today's bypass: `lattice-ingress-istio`, `default` or a claimed `serviceAccount` gave a second workload
    the identity another workload's policies trust."""
    result, docs = _compile(name)
    holders: dict[str, list[tuple[str, str]]] = {}
    for pod in _cluster_pods(result, docs):
        holders.setdefault(pod.principal, []).append(pod.key)
    assert {p: keys for p, keys in holders.items() if len(keys) > 1} == {}


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_every_policy_selects_only_its_own_workload(name: str) -> None:
    """Today's bypass: a user label `gateway.networking.k8s.io/gateway-name` put a pod under the gateway's policy,
    a mesh member's selector put a compiled service's pods under the member's."""
    result, docs = _compile(name)
    cluster_pods = _cluster_pods(result, docs)
    for policy in result.objects:
        spec = policy.get("spec", {})
        selector = spec.get("endpointSelector") if policy["kind"] == "CiliumNetworkPolicy" else \
            spec.get("selector") if policy["kind"] == "AuthorizationPolicy" else None
        if selector is None:  # cluster-wide and mesh-wide policies are the platform's
            continue
        selected = {pod.key for pod in cluster_pods if pod.namespace == policy["metadata"]["namespace"]
                    and all(pod.label_map.get(k) == v for k, v in selector.get("matchLabels", {}).items())}
        assert selected <= {(policy["metadata"]["namespace"], policy["metadata"]["name"])}, policy["metadata"]


def test_a_gateway_label_no_longer_reaches_the_routed_service() -> None:
    result, docs = _compile("reserved-labels.yaml")
    cluster_pods = _cluster_pods(result, docs)
    reached = {(src, dst) for src, dst, _ in l4_matrix(result.objects, cluster_pods, {(8080, "TCP")})}
    assert (("demo", "lattice-ingress"), ("demo", "shop")) in reached  # the real gateway still routes
    callers = {src for src, dst in reached if dst == ("demo", "shop")}
    assert callers == {("demo", "lattice-ingress"), ("monitoring", "vmagent-lattice")}  # the scraper on the metrics port


def test_a_mesh_member_no_longer_opens_a_compiled_service() -> None:
    result, docs = _compile("mesh-member-selects-service.yaml")
    cluster_pods = _cluster_pods(result, docs)
    reached = {(src, dst) for src, dst, _ in l4_matrix(result.objects, cluster_pods, {(8080, "TCP")})}
    assert (("demo", "intruder"), ("demo", "payments")) not in reached
    admitted = {(principal, dst) for principal, dst, _ in l7_matrix(result.objects, cluster_pods)}
    assert (f"{TRUST}/ns/demo/sa/intruder", ("demo", "payments")) not in admitted


def test_validate_refuses_them_too_and_counts_objects_not_problems() -> None:
    result = CliRunner().invoke(app, ["validate", str(RESERVED / "system-namespace.yaml")])
    assert result.exit_code == 1
    assert result.stderr.endswith("`allow-nothing-app`\n0 objects valid, 1 invalid\n")
