"""Hypothesis strategies that generate valid LatticeService documents (as users would write them)."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import strategies as st

from lattice import reserved
from lattice.api.platform import DEFAULT_PLATFORM

DIGEST = "@sha256:" + hashlib.sha256(b"image").hexdigest()

# Names the platform owns (a system namespace, `default`, ...) are refused on purpose; generated fleets avoid them.
_PLATFORM_OWNED = frozenset({*reserved.system_namespaces(DEFAULT_PLATFORM),
                             *reserved.reserved_names("x", DEFAULT_PLATFORM)})
labels = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True).filter(
    lambda name: name not in _PLATFORM_OWNED)
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True)
literal_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="$", exclude_categories=("Cs",)), max_size=20
)
cpu = st.sampled_from(["50m", "100m", "250m", "500m", "1", "2"])
memory = st.sampled_from(["64Mi", "128Mi", "512Mi", "1Gi", "2Gi"])
images = st.sampled_from([
    "registry.example.com/app" + DIGEST,
    "registry.example.com/team/app:1.2.3",
    "ghcr.io/org/tool:v2" + DIGEST,
    "nginx:1.27",
])


@st.composite
def variable_value(draw: st.DrawFn, deps: dict[str, dict[str, Any]]) -> str:
    pieces = []
    for _ in range(draw(st.integers(0, 3))):
        choice = draw(st.sampled_from(["lit", "meta", "dep", "escape"]))
        if choice == "lit":
            pieces.append(draw(literal_text))
        elif choice == "meta":
            pieces.append("${metadata." + draw(st.sampled_from(["name", "namespace"])) + "}")
        elif choice == "escape":
            pieces.append("$${literal}")
        else:
            services = [n for n, d in deps.items() if d["type"] in ("service", "external-service")]
            if services:
                name = draw(st.sampled_from(sorted(services)))
                pieces.append("${resources." + name + "." + draw(st.sampled_from(["host", "port", "url"])) + "}")
    return "".join(pieces)


@st.composite
def probe(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["httpGet", "exec", "tcpSocket", "grpc"]))
    handler: dict[str, Any] = {
        "httpGet": {"path": "/healthz", "port": 8080},
        "exec": {"command": ["/bin/check"]},
        "tcpSocket": {"port": 8080},
        "grpc": {"port": 9000},
    }[kind]
    out: dict[str, Any] = {kind: handler}
    if draw(st.booleans()):
        out["periodSeconds"] = draw(st.integers(1, 60))
    return out


@st.composite
def container(draw: st.DrawFn, deps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    limits = {"cpu": draw(cpu), "memory": draw(memory)}
    out: dict[str, Any] = {"image": draw(images), "resources": {"limits": limits}}
    if draw(st.booleans()):
        out["resources"]["requests"] = {"cpu": "10m", "memory": "32Mi"}
    variables = draw(st.dictionaries(env_names, variable_value(deps), max_size=5))
    if variables:
        out["variables"] = variables
    if draw(st.booleans()):
        out["args"] = [draw(variable_value(deps)) for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        out["command"] = ["/app/run"]
    for field in ("livenessProbe", "readinessProbe", "startupProbe"):
        if draw(st.integers(0, 3)) == 0:
            out[field] = draw(probe())
    if draw(st.integers(0, 3)) == 0:
        out["files"] = {"/etc/app/" + draw(labels) + ".conf": {"content": draw(variable_value(deps)),
                                                               "mode": "0440"}}
    return out


@st.composite
def dependencies(draw: st.DrawFn, fleet_names: list[str]) -> dict[str, dict[str, Any]]:
    deps: dict[str, dict[str, Any]] = {}
    targets = draw(st.lists(st.sampled_from(fleet_names), unique=True, max_size=4)) if fleet_names else []
    for name in targets:
        deps[name] = {"type": "service", "direction": draw(st.sampled_from(["outbound", "inbound", "both"]))}
    if draw(st.booleans()):
        deps["partner"] = {"type": "external-service",
                           "params": {"endpoints": {"api": draw(st.sampled_from(
                               ["https://api.partner.com", "tcp://10.1.2.3:5432", "db.example.net:5432"]))}}}
    return deps


@st.composite
def lattice_service(draw: st.DrawFn, name: str, namespace: str, fleet_names: list[str]) -> dict[str, Any]:
    deps = draw(dependencies([n for n in fleet_names if n != name]))
    containers = {cname: draw(container(deps)) for cname in draw(st.lists(labels, min_size=1, max_size=3,
                                                                            unique=True))}
    spec: dict[str, Any] = {"replicas": draw(st.integers(0, 5)), "workload": {"containers": containers}}
    port_names = draw(st.lists(st.sampled_from(["http", "metrics", "grpc", "admin"]), unique=True, max_size=3))
    if port_names:
        spec["workload"]["service"] = {"ports": {p: {"port": 8000 + i} for i, p in enumerate(port_names)}}
    if deps:
        spec["workload"]["resources"] = deps
    if draw(st.booleans()):
        low = max(spec["replicas"], 1)
        spec["replicas"] = low
        spec["autoscaling"] = {"max": draw(st.integers(low, low + 10)),
                               "metrics": [{"metric": "cpu", "target": draw(st.integers(1, 100))}]}
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@st.composite
def fleet(draw: st.DrawFn, max_services: int = 4) -> list[dict[str, Any]]:
    """A small fleet in one namespace where every service dependency names another fleet member with ports."""
    names = draw(st.lists(labels, min_size=1, max_size=max_services, unique=True))
    docs = [draw(lattice_service(name, "team", names)) for name in names]
    for doc in docs:  # every dependency target must expose a port for ${resources.X.port}/url to resolve
        doc["spec"]["workload"].setdefault("service", {"ports": {"http": {"port": 8080}}})
    return docs
