"""Security overrides (issue 8 item 3): every deviation from the restricted defaults has an override id, read
from the input by `security.deviations`, and each yields exactly its change in the pod spec.

The ids and categories are the public Rust implementation's (`capability:<CAP>`, `privileged`, `runAsRoot`,
...), so its `OverrideSecurity` policies carry over. A host-networked workload is outside the mesh and has the
node's identity: it gets no policy of its own, no peer's policy names it, and both sides are told why.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lattice.api import parse_resource
from lattice.api.service import LatticeService
from lattice.cli.main import app
from lattice.compiler.meta import Obj
from lattice.compiler.security import Deviation, capability_name, deviations
from lattice.errors import LatticeError
from lattice.fleet import FleetResult, Sourced
from tests.conftest import EXAMPLES, load_fleet
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

C = "spec.workload.containers"
POD = "spec.workload.security"


def _doc(name: str = "app", *, pod: dict[str, Any] | None = None, security: dict[str, Any] | None = None,
         resources: dict[str, Any] | None = None, **containers: dict[str, Any] | None) -> dict[str, Any]:
    """A service whose container `main` has `security` (more containers by keyword, each its security)."""
    def container(sec: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"image": "registry.example.com/app:1",
                               "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
        if sec is not None:
            out["security"] = sec
        return out
    workload: dict[str, Any] = {"containers": {"main": container(security),
                                               **{n: container(s) for n, s in containers.items()}},
                                "service": {"ports": {"http": {"port": 8080}}},
                                "resources": resources or {}}
    if pod is not None:
        workload["security"] = pod
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": "team"}, "spec": {"workload": workload}}


def _deviations(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    svc = parse_resource(doc)
    assert isinstance(svc, LatticeService)
    return [(d.id, d.category, d.path) for d in deviations(svc.spec.workload)]


def _compile(*docs: dict[str, Any]) -> FleetResult:
    return compile_fleet([Sourced("test", parse_resource(d)) for d in docs])


def _objects(result: FleetResult, name: str) -> list[Obj]:
    outcome = next(s for s in result.services if s.ref.name == name)
    assert outcome.ok, [e.render() for e in outcome.errors]
    return outcome.objects


def _pod(result: FleetResult, name: str = "app") -> Obj:
    deployment = next(o for o in _objects(result, name) if o["kind"] == "Deployment")
    spec: Obj = deployment["spec"]["template"]
    return spec


# --- every id from its input --------------------------------------------------------------------------

@pytest.mark.parametrize(("doc", "expected"), [
    (_doc(security={"capabilities": ["NET_ADMIN"]}),
     [("capability:NET_ADMIN", "capability", f"{C}.main.security.capabilities[0]")]),
    (_doc(security={"capabilities": ["NET_BIND_SERVICE"]}),  # restricted PSS allows it; Lattice drops ALL
     [("capability:NET_BIND_SERVICE", "capability", f"{C}.main.security.capabilities[0]")]),
    (_doc(security={"privileged": True}), [("privileged", "container", f"{C}.main.security.privileged")]),
    (_doc(security={"runAsUser": 0}), [("runAsRoot", "container", f"{C}.main.security.runAsUser")]),
    (_doc(security={"runAsNonRoot": False}), [("runAsRoot", "container", f"{C}.main.security.runAsNonRoot")]),
    (_doc(security={"runAsUser": 0, "runAsNonRoot": False}),
     [("runAsRoot", "container", f"{C}.main.security.runAsUser")]),
    (_doc(security={"readOnlyRootFilesystem": False}),
     [("readWriteRootFilesystem", "container", f"{C}.main.security.readOnlyRootFilesystem")]),
    (_doc(security={"allowPrivilegeEscalation": True}),
     [("privilegeEscalation", "container", f"{C}.main.security.allowPrivilegeEscalation")]),
    (_doc(security={"seccompProfile": "Unconfined"}),
     [("seccomp:Unconfined", "profile", f"{C}.main.security.seccompProfile")]),
    (_doc(pod={"hostNetwork": True}), [("hostNetwork", "pod", f"{POD}.hostNetwork")]),
    (_doc(pod={"hostPID": True}), [("hostPID", "pod", f"{POD}.hostPID")]),
    (_doc(pod={"shareProcessNamespace": True}), [("shareProcessNamespace", "pod", f"{POD}.shareProcessNamespace")]),
    (_doc(pod={"automountServiceAccountToken": True}),
     [("automountServiceAccountToken", "pod", f"{POD}.automountServiceAccountToken")]),
], ids=lambda v: v[0][0] if isinstance(v, list) else "")
def test_each_deviation_has_its_id_category_and_field(doc: dict[str, Any], expected: list[Any]) -> None:
    assert _deviations(doc) == expected


@pytest.mark.parametrize("doc", [
    _doc(),
    _doc(security={}),
    _doc(pod={}),
    _doc(pod={"hostNetwork": False, "hostPID": False, "shareProcessNamespace": False,
              "automountServiceAccountToken": False}),
    _doc(security={"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                   "allowPrivilegeEscalation": False, "privileged": False, "capabilities": [],
                   "seccompProfile": "RuntimeDefault"}),
    _doc(security={"runAsGroup": 0}),  # the root group is no PSS deviation (and no id of the Rust reference)
], ids=["default", "empty", "empty-pod", "pod-false", "restricted-spelt-out", "root-group"])
def test_the_restricted_defaults_written_out_are_no_deviation(doc: dict[str, Any]) -> None:
    assert _deviations(doc) == []


def test_no_example_service_deviates() -> None:
    for item in load_fleet(EXAMPLES):
        if isinstance(item.resource, LatticeService):
            assert deviations(item.resource.spec.workload) == [], item.ref


def test_one_per_distinct_deviation_in_a_stable_order() -> None:
    """The pod's first, then each container in declaration order; a repeated capability once (at its first
    place); the same id in two containers twice, each with its own path."""
    doc = _doc(pod={"automountServiceAccountToken": True, "hostNetwork": True},
               security={"seccompProfile": "Unconfined", "allowPrivilegeEscalation": True,
                         "readOnlyRootFilesystem": False, "runAsNonRoot": False, "privileged": True,
                         "capabilities": ["SYS_TIME", "NET_ADMIN", "SYS_TIME"]},
               sidecar={"capabilities": ["NET_ADMIN"]})
    assert _deviations(doc) == [
        ("hostNetwork", "pod", f"{POD}.hostNetwork"),
        ("automountServiceAccountToken", "pod", f"{POD}.automountServiceAccountToken"),
        ("capability:SYS_TIME", "capability", f"{C}.main.security.capabilities[0]"),
        ("capability:NET_ADMIN", "capability", f"{C}.main.security.capabilities[1]"),
        ("privileged", "container", f"{C}.main.security.privileged"),
        ("runAsRoot", "container", f"{C}.main.security.runAsNonRoot"),
        ("readWriteRootFilesystem", "container", f"{C}.main.security.readOnlyRootFilesystem"),
        ("privilegeEscalation", "container", f"{C}.main.security.allowPrivilegeEscalation"),
        ("seccomp:Unconfined", "profile", f"{C}.main.security.seccompProfile"),
        ("capability:NET_ADMIN", "capability", f"{C}.sidecar.security.capabilities[0]"),
    ]
    assert _deviations(doc) == _deviations(doc)


def test_a_deviation_is_a_value() -> None:
    one = Deviation("privileged", "container", f"{C}.main.security.privileged")
    assert one == Deviation("privileged", "container", f"{C}.main.security.privileged")
    assert len({one, Deviation("privileged", "container", f"{C}.main.security.privileged")}) == 1
    with pytest.raises(AttributeError):
        one.id = "hostPID"  # type: ignore[misc]


@pytest.mark.parametrize(("written", "name"), [("NET_ADMIN", "NET_ADMIN"), ("CAP_NET_ADMIN", "NET_ADMIN"),
                                               ("cap_sys_time", "SYS_TIME"), ("net_raw", "NET_RAW")])
def test_capability_names_are_normalised(written: str, name: str) -> None:
    assert capability_name(written) == name


def test_a_capability_with_the_prefix_is_refused_with_the_name_to_write() -> None:
    with pytest.raises(LatticeError, match=r"write `NET_ADMIN`"):
        parse_resource(_doc(security={"capabilities": ["CAP_NET_ADMIN"]}))


# --- the input's errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(("doc", "message"), [
    (_doc(pod={"hostPID": True, "shareProcessNamespace": True}),
     f"{POD}.shareProcessNamespace: `hostPID` and `shareProcessNamespace` cannot both be true"),
    (_doc(security={"seccompProfile": {"type": "Unconfined"}}),
     f"{C}.main.security.seccompProfile: `seccompProfile` takes the profile's type alone, not Kubernetes' "
     "`{type: ...}` object (hint: write `seccompProfile: Unconfined`)"),
    (_doc(security={"seccompProfile": "Localhost"}),
     f"{C}.main.security.seccompProfile: a `Localhost` seccomp profile is not supported"),
    (_doc(security={"seccompProfile": "Unconfind"}),
     f"{C}.main.security.seccompProfile: `Unconfind` is not a valid seccompProfile (hint: did you mean "
     "`Unconfined`?"),
    (_doc(pod={"hostPid": True}), f"{POD}.hostPid: unknown field `hostPid` (hint: did you mean `hostPID`?)"),
    (_doc(security={"hostNetwork": True}), f"{C}.main.security.hostNetwork: unknown field `hostNetwork`"),
], ids=["hostPID-and-shared", "seccomp-object", "seccomp-localhost", "seccomp-typo", "hostPid", "in-container"])
def test_bad_overrides_are_refused_with_the_field_and_a_fix(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(LatticeError) as caught:
        parse_resource(doc)
    assert any(p.render().startswith(message) for p in caught.value.problems), \
        [p.render() for p in caught.value.problems]


# --- the pod spec each override yields ----------------------------------------------------------------

def test_host_network_joins_the_nodes_network_and_keeps_cluster_dns() -> None:
    result = _compile(_doc(pod={"hostNetwork": True}))
    template = _pod(result)
    spec = template["spec"]
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"  # else it resolves through the node, not the cluster
    assert spec["containers"][0]["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP",
                                               "hostPort": 8080}]
    assert "hostPID" not in spec and "shareProcessNamespace" not in spec
    # Istio enrolls no host-networked pod: no label claims it is in the mesh.
    assert not any(key.startswith(("istio.io/", "sidecar.istio.io/")) for key in template["metadata"]["labels"])
    assert "ambient.istio.io/dns-capture" not in template["metadata"]["annotations"]
    kinds = {o["kind"] for o in _objects(result, "app")}
    assert "CiliumNetworkPolicy" not in kinds and "AuthorizationPolicy" not in kinds
    assert {"Deployment", "Service", "ServiceAccount"} <= kinds
    (outcome,) = result.services
    (warning,) = [w for w in outcome.warnings if w.path == f"{POD}.hostNetwork"]
    assert "not in the mesh" in warning.message and "(`host`, `remote-node`)" in warning.message
    assert "no CiliumNetworkPolicy or AuthorizationPolicy" in warning.message
    assert "at most one pod runs per node" in warning.message
    assert_valid(outcome.objects)


@pytest.mark.parametrize(("pod", "field"), [({"hostPID": True}, "hostPID"),
                                            ({"shareProcessNamespace": True}, "shareProcessNamespace")])
def test_a_process_namespace_override_sets_its_field_only(pod: dict[str, Any], field: str) -> None:
    result = _compile(_doc(pod=pod))
    spec = _pod(result)["spec"]
    assert spec[field] is True
    assert {"hostNetwork", "hostPID", "shareProcessNamespace", "dnsPolicy"} & spec.keys() == {field}
    assert "hostPort" not in spec["containers"][0]["ports"][0]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    kinds = {o["kind"] for o in _objects(result, "app")}
    assert {"CiliumNetworkPolicy", "AuthorizationPolicy"} <= kinds  # still in the mesh, still governed
    assert_valid(_objects(result, "app"))


def test_the_token_is_mounted_only_when_asked_and_the_account_stays_closed() -> None:
    result = _compile(_doc(pod={"automountServiceAccountToken": True}))
    assert _pod(result)["spec"]["automountServiceAccountToken"] is True
    account = next(o for o in _objects(result, "app") if o["kind"] == "ServiceAccount")
    assert account["automountServiceAccountToken"] is False  # other pods of the account still get none
    (outcome,) = result.services
    assert [w.path for w in outcome.warnings if "API token" in w.message] == [f"{POD}.automountServiceAccountToken"]


def test_unconfined_seccomp_is_the_containers_own_and_the_pod_keeps_the_default() -> None:
    result = _compile(_doc(security={"seccompProfile": "Unconfined"}, sidecar=None))
    spec = _pod(result)["spec"]
    main, sidecar = spec["containers"]
    assert main["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    assert sidecar["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert_valid(_objects(result, "app"))


_pod_security = st.fixed_dictionaries({}, optional={
    "hostNetwork": st.booleans(), "hostPID": st.booleans(), "shareProcessNamespace": st.booleans(),
    "automountServiceAccountToken": st.booleans()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pod_security)
def test_the_pod_spec_has_exactly_the_pod_deviations_asked_for(pod: dict[str, Any]) -> None:
    doc = _doc(pod=pod)
    if pod.get("hostPID") and pod.get("shareProcessNamespace"):
        with pytest.raises(LatticeError):
            parse_resource(doc)
        return
    asked = {field for field, value in pod.items() if value}
    assert {d[0] for d in _deviations(doc)} == asked
    spec = _pod(_compile(doc))["spec"]
    for field in ("hostNetwork", "hostPID", "shareProcessNamespace"):
        assert spec.get(field, False) is (field in asked), field
    assert spec["automountServiceAccountToken"] is ("automountServiceAccountToken" in asked)
    assert ("dnsPolicy" in spec) is ("hostNetwork" in asked)
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True


# --- a host-networked peer ----------------------------------------------------------------------------

def test_no_policy_names_a_host_networked_peer_and_both_sides_hear_why() -> None:
    """The agreement stands, but a rule naming the agent's pod labels or SPIFFE identity would match nothing
    (Cilium sees the node, Istio no identity): the dashboard's policies leave it out, each side is warned."""
    agent = _doc("agent", pod={"hostNetwork": True},
                 resources={"dashboard": {"type": "service", "direction": "both"}})
    dashboard = _doc("dashboard", resources={"agent": {"type": "service", "direction": "both"},
                                             "web": {"type": "service", "direction": "inbound"}})
    web = _doc("web", resources={"dashboard": {"type": "service"}})
    result = _compile(agent, dashboard, web)
    assert result.context.graph.callers_of(("team", "dashboard")) == [("team", "agent"), ("team", "web")]
    objects = _objects(result, "dashboard")
    text = str([o for o in objects if o["kind"] in ("CiliumNetworkPolicy", "AuthorizationPolicy")])
    assert "'agent'" not in text and "sa/agent" not in text
    assert "'web'" in text and "sa/web" in text  # the other caller is admitted as before
    assert "agent.team.svc" not in str(objects)  # nor may the dashboard resolve it
    by_name = {s.ref.name: [w.render() for w in s.warnings] for s in result.services}
    for side in ("agent", "dashboard"):
        assert sum("runs with `hostNetwork: true`" in w for w in by_name[side]) == 2, by_name[side]
    assert not any("hostNetwork" in w for w in by_name["web"])
    assert "team/agent is an agreed caller of team/dashboard, but team/agent runs with `hostNetwork: true`, " \
           "outside the mesh and with its node's network identity, so no policy admits traffic between them " \
           "(hint: remove `hostNetwork` from team/agent (under `spec.workload.security`), or remove the " \
           "declaration)" in [w.split(": ", 1)[1] for w in by_name["dashboard"]]


def test_a_host_networked_workload_cannot_be_routed() -> None:
    """The Gateway's egress names its backends' pods, which a host-networked pod is not: the route would never
    connect, so the service is refused, with nothing emitted."""
    doc = _doc(pod={"hostNetwork": True})
    doc["spec"]["ingress"] = {"routes": {"site": {"hosts": ["app.example.com"]}}}
    (outcome,) = _compile(doc).services
    assert outcome.objects == []
    assert [e.render() for e in outcome.errors] == [
        f"{POD}.hostNetwork: a host-networked workload cannot be routed: the ingress Gateway's policy admits its "
        "backends by their pods' identity, which host-networked pods do not have, so the route would never connect "
        "(hint: remove `hostNetwork`, or remove `spec.ingress`)"]


def test_a_host_networked_pod_is_scraped_in_plain_text_in_a_sidecar_mesh() -> None:
    """No sidecar is injected beside it, so it serves plain text: an mTLS scrape would never connect."""
    platform = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
                "spec": {"mesh": {"mode": "sidecar"}}}
    result = _compile(platform, _doc(pod={"hostNetwork": True}), _doc("meshed"))
    endpoints = {o["metadata"]["name"]: o["spec"]["endpoints"] for s in result.services for o in s.objects
                 if o["kind"] == "VMServiceScrape"}
    assert "tlsConfig" not in endpoints["app"][0] and "scheme" not in endpoints["app"][0]
    assert endpoints["meshed"][0]["scheme"] == "https"  # a pod with its sidecar is scraped over mTLS
    assert "sidecar.istio.io/inject" not in _pod(result)["metadata"]["labels"]


def test_lattice_graph_does_not_draw_a_host_networked_edge_as_open(tmp_path: Any) -> None:
    docs = [_doc("agent", pod={"hostNetwork": True}, resources={"dashboard": {"type": "service",
                                                                              "direction": "inbound"}}),
            _doc("dashboard", resources={"agent": {"type": "service"}})]
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = CliRunner().invoke(app, ["graph", str(path), "--format", "mermaid"])
    assert result.exit_code == 0, result.stdout
    assert ('    n_team_dashboard -.->|"agreed, but no policy admits it: team/agent runs with hostNetwork"| '
            "n_team_agent\n") in result.stdout
