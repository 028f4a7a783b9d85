"""Pod security, read off the emitted pod spec as the kubelet reads it: a container's own securityContext
wins over the pod's, field by field (Kubernetes API reference, SecurityContext / PodSecurityContext).

The restricted profile holds for every container and init container unless that container's own `security`
block asks for the deviation; asking for root is honoured only when asked without contradiction:
`runAsUser: 0` together with `runAsNonRoot: true` never yields a container that may run as root (the kubelet
refuses to start a container whose `runAsNonRoot` is true and whose user is 0). Every deviation the pod spec
shows has its override id in `security.deviations`, so the authorization gate cannot miss one.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.api.service import LatticeService
from lattice.compiler.pod import NON_ROOT_USER
from lattice.compiler.security import deviations
from lattice.errors import LatticeError
from lattice.fleet import FleetResult, Sourced
from tests.support.gates import compile_fleet

ROOT_ASKS = ["runAsUser", "runAsNonRoot"]


def _service(securities: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    containers = {}
    for name, security in securities.items():
        container: dict[str, Any] = {"image": f"registry.example.com/{name}:1",
                                     "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
        if security is not None:
            container["security"] = security
        containers[name] = container
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": "app", "namespace": "team"},
            "spec": {"workload": {"containers": containers, "service": {"ports": {"http": {"port": 8080}}}}}}


def _compile(securities: dict[str, dict[str, Any] | None]) -> FleetResult:
    return compile_fleet([Sourced("test", parse_resource(_service(securities)))])


def _pod_spec(result: FleetResult) -> dict[str, Any]:
    return next(o for o in result.objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]


def _effective(pod: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    """The value the kubelet applies: the container's own, else the pod's (for the fields the pod has)."""
    own = container.get("securityContext") or {}
    return own[field] if field in own else (pod.get("securityContext") or {}).get(field)


def _may_run_as_root(pod: dict[str, Any], container: dict[str, Any]) -> bool:
    """Whether nothing stops the process from being uid 0: only `runAsNonRoot: true` does (with user 0 the
    kubelet refuses to start the container; without a user it checks the image's)."""
    return _effective(pod, container, "runAsNonRoot") is not True


def _asks_root(security: dict[str, Any] | None) -> bool:
    security = security or {}
    return security.get("runAsNonRoot") is False or \
        (security.get("runAsUser") == 0 and security.get("runAsNonRoot") is not True)


def _contradicts(security: dict[str, Any] | None) -> bool:
    return (security or {}).get("runAsUser") == 0 and (security or {}).get("runAsNonRoot") is True


def _parsed(securities: dict[str, dict[str, Any] | None]) -> LatticeService:
    svc = parse_resource(_service(securities))
    assert isinstance(svc, LatticeService)
    return svc


def _shown_deviations(pod: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """The override ids a reader of the pod spec sees for one container."""
    ctx = container["securityContext"]
    shown = {f"capability:{cap}" for cap in ctx["capabilities"].get("add", [])}
    if ctx["privileged"]:
        shown.add("privileged")
    if _may_run_as_root(pod, container) or _effective(pod, container, "runAsUser") == 0:
        shown.add("runAsRoot")
    if not ctx["readOnlyRootFilesystem"]:
        shown.add("readWriteRootFilesystem")
    if ctx["allowPrivilegeEscalation"]:
        shown.add("privilegeEscalation")
    if _effective(pod, container, "seccompProfile") == {"type": "Unconfined"}:
        shown.add("seccomp:Unconfined")
    return shown


def check_pod(securities: dict[str, dict[str, Any] | None]) -> None:
    try:
        result = _compile(securities)
    except LatticeError as refused:  # at parse time
        assert any(_contradicts(s) for s in securities.values()), str(refused)
        assert all(".security" in p.path for p in refused.problems), str(refused)
        return
    errors = [e for s in result.services for e in s.errors]
    if errors and any(_contradicts(s) for s in securities.values()):
        # refusing the contradiction at parse time is as good as compiling it safely
        assert all(".security" in e.path for e in errors), [e.render() for e in errors]
        return
    assert result.ok, [e.render() for e in errors]
    pod = _pod_spec(result)
    workload = _parsed(securities).spec.workload
    ids: dict[str, set[str]] = {name: set() for name in securities}
    for deviation in deviations(workload):
        ids[deviation.path.split(".")[3]].add(deviation.id)
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False  # no other service's address leaks into the environment
    # the pod runs as the service's own identity (its mesh principal), whose token is not mounted
    account = next(o for o in result.objects if o["kind"] == "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"] == "app"
    assert account["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for host_field in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
        assert not pod.get(host_field), host_field
    containers = [*pod["containers"], *pod.get("initContainers", [])]
    assert {c["name"] for c in containers} == set(securities)
    if not any(_asks_root(s) or (s or {}).get("runAsUser") == 0 for s in securities.values()):
        assert pod["securityContext"]["runAsNonRoot"] is True  # what containers added later would inherit
    for container in containers:
        asked = securities[container["name"]] or {}
        ctx = container["securityContext"]
        name = container["name"]
        assert _may_run_as_root(pod, container) == _asks_root(asked), (name, asked, ctx, pod["securityContext"])
        if "runAsUser" in asked:
            assert _effective(pod, container, "runAsUser") == asked["runAsUser"], name
        elif _asks_root(asked):
            assert _effective(pod, container, "runAsUser") is None, name  # the image's own user, as asked
        else:
            # A non-root container that names no user runs as the platform's non-root user, so the kubelet can
            # verify non-root whatever the image's USER says (see NON_ROOT_USER in compiler/pod.py).
            assert _effective(pod, container, "runAsUser") == NON_ROOT_USER, name
        if "runAsGroup" in asked:
            assert _effective(pod, container, "runAsGroup") == asked["runAsGroup"], name
        assert ctx["readOnlyRootFilesystem"] is (asked.get("readOnlyRootFilesystem") is not False), name
        assert ctx["privileged"] is (asked.get("privileged") is True), name
        escalation = asked.get("allowPrivilegeEscalation") is True or asked.get("privileged") is True
        assert ctx["allowPrivilegeEscalation"] is escalation, name
        assert ctx["capabilities"]["drop"] == ["ALL"], name
        assert sorted(ctx["capabilities"].get("add", [])) == sorted(set(asked.get("capabilities", []))), name
        assert _effective(pod, container, "seccompProfile") == {"type": asked.get("seccompProfile", "RuntimeDefault")}
        # The authorization gate sees every deviation the pod spec shows, and no other.
        shown = _shown_deviations(pod, container)
        implied = {"privilegeEscalation"} if ctx["privileged"] else set()  # Kubernetes requires it of privileged
        assert shown - implied <= ids[name] <= shown, (name, shown, ids[name])
        # the image deployed is the image written; a tag is pulled every time, a digest never changes
        assert container["image"] == f"registry.example.com/{name}:1"
        assert container["imagePullPolicy"] == "Always"
        resources = container["resources"]
        assert resources["requests"] == resources["limits"] == {"cpu": "100m", "memory": "64Mi"}  # quota counts it
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert "/tmp" in mounts, name  # a read-only root still has a writable /tmp


@pytest.mark.parametrize("security", [
    None,
    {},
    {"runAsUser": 0},
    {"runAsNonRoot": False},
    {"runAsUser": 0, "runAsNonRoot": True},
    {"runAsUser": 0, "runAsNonRoot": False},
    {"runAsUser": 1000},
    {"runAsUser": 1},
    {"runAsUser": 1000, "runAsNonRoot": False},
    {"runAsNonRoot": True},
    {"readOnlyRootFilesystem": False},
    {"readOnlyRootFilesystem": True},
    {"allowPrivilegeEscalation": True},
    {"privileged": True},
    {"privileged": False, "allowPrivilegeEscalation": False},
    {"capabilities": ["NET_BIND_SERVICE", "SYS_TIME"]},
    {"runAsGroup": 0},
    {"seccompProfile": "Unconfined"},
    {"seccompProfile": "RuntimeDefault"},
    {"privileged": True, "allowPrivilegeEscalation": True},
], ids=str)
def test_a_deviation_applies_to_its_own_container_only(security: dict[str, Any] | None) -> None:
    check_pod({"main": security, "sidecar": None})


def test_the_contradiction_never_yields_a_root_container() -> None:
    try:
        result = _compile({"main": {"runAsUser": 0, "runAsNonRoot": True}})
    except LatticeError:
        return  # refused at parse time: as good as compiling it safely
    if result.ok:  # refusing the input would be as good; compiling it must keep non-root in force
        pod = _pod_spec(result)
        assert all(not _may_run_as_root(pod, c) for c in [*pod["containers"], *pod.get("initContainers", [])])


def test_a_negative_user_is_refused() -> None:
    with pytest.raises(LatticeError, match="runAsUser"):
        parse_resource(_service({"main": {"runAsUser": -1}}))


_security = st.fixed_dictionaries({}, optional={
    "runAsUser": st.sampled_from([0, 1, 1000, 65534]),
    "runAsGroup": st.sampled_from([0, 1000]),
    "runAsNonRoot": st.booleans(),
    "readOnlyRootFilesystem": st.booleans(),
    "allowPrivilegeEscalation": st.booleans(),
    "privileged": st.booleans(),
    "capabilities": st.lists(st.sampled_from(["NET_ADMIN", "NET_BIND_SERVICE", "SYS_TIME"]), max_size=3, unique=True),
    "seccompProfile": st.sampled_from(["RuntimeDefault", "Unconfined"]),
})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["api", "proxy", "worker"]), st.one_of(st.none(), _security),
                       min_size=1, max_size=3))
def test_every_container_gets_exactly_the_deviations_it_asks_for(securities: dict[str, Any]) -> None:
    check_pod(securities)


def test_an_image_by_digest_is_deployed_as_written_and_not_pulled_again() -> None:
    image = "registry.example.com/app@sha256:" + "a" * 64
    doc = _service({"main": None})
    doc["spec"]["workload"]["containers"]["main"]["image"] = image
    result = compile_fleet([Sourced("test", parse_resource(doc))])
    (container,) = _pod_spec(result)["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (image, "IfNotPresent")


def test_mounts_keep_the_access_and_modes_they_declare() -> None:
    """A read-only volume is mounted read-only; every file (plain or rendered from a secret) is mounted
    read-only with the mode written, never the default 0644."""
    doc = _service({"main": None})
    doc["spec"]["workload"]["resources"] = {
        "data": {"type": "volume", "params": {"size": "1Gi"}},
        "db": {"type": "secret", "params": {"keys": ["password"], "provider": "vault"}}}
    doc["spec"]["workload"]["containers"]["main"].update({
        "volumes": {"/data": {"source": "${resources.data}", "readOnly": True}},
        "files": {"/etc/app/plain.conf": {"content": "a = 1\n", "mode": "0640"},
                  "/etc/app/secret.conf": {"content": "pw = ${secret.db.password}\n", "mode": "0440"}}})
    result = compile_fleet([Sourced("test", parse_resource(doc))])
    assert result.ok, [e.render() for s in result.services for e in s.errors]
    pod = _pod_spec(result)
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/data"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    modes = {}
    for path in ("/etc/app/plain.conf", "/etc/app/secret.conf"):
        mount = mounts[path]
        assert mount["readOnly"] is True, path
        source = volumes[mount["name"]].get("configMap") or volumes[mount["name"]]["secret"]
        (item,) = [i for i in source["items"] if i["key"] == mount["subPath"]]
        modes[path] = item["mode"]
    assert modes == {"/etc/app/plain.conf": 0o640, "/etc/app/secret.conf": 0o440}
