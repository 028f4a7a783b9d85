"""Measure YAML/JSON serialization of a realistic synthetic fleet of Kubernetes objects.

Usage: ``.venv/bin/python bench/serialize.py [--services N] [--repeat R]``

Builds N services x 8 objects (Deployment, Service, ServiceAccount, ConfigMap,
PodDisruptionBudget, VMServiceScrape, ScaledObject, CiliumNetworkPolicy) and times:

* PyYAML ``CSafeDumper`` (``yaml.dump_all(..., sort_keys=True)``),
* ``lattice.render.dump_yaml_stream`` (the hand-written emitter),
* rapidyaml (tree built node by node from Python, same quoting decisions), if installed,
* JSON: stdlib ``json.dumps(indent=2)``, orjson, and ``lattice.render.dump_json_list``.

The best of R runs is reported; each emitter starts with cold memo caches.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from lattice import render

Obj = dict[str, Any]


def _labels(name: str, team: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "lattice",
        "app.kubernetes.io/part-of": team,
        "lattice.dev/team": team,
        "lattice.dev/tier": "backend",
    }


def service_objects(i: int) -> list[Obj]:
    """Eight Kubernetes-like objects for synthetic service number ``i``."""
    name = f"svc-{i:05d}"
    team = f"team-{i % 37}"
    ns = f"ns-{i % 50}"
    labels = _labels(name, team)
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
    meta = {"name": name, "namespace": ns, "labels": labels}
    digest = f"{i:064x}"
    env = [{"name": f"VAR_{j}", "value": f"value-{j}-{i % 7}"} for j in range(8)]
    env += [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "FEATURE_ENABLED", "value": "true"},
        {"name": "PORT", "value": "8080"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "password"}},
        },
    ]
    container = {
        "name": "app",
        "image": f"registry.example.com/{team}/{name}@sha256:{digest}",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", "--metrics-port=9090", f"--service-name={name}"],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "env": env,
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            **meta,
            "annotations": {
                "lattice.dev/source": f"services/{name}.yaml",
                "lattice.dev/description": f"Service {name} owned by {team}",
                "lattice.dev/config-hash": f"{(i * 2654435761) % 2**32:08x}",
            },
        },
        "spec": {
            "replicas": 2 + i % 3,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"lattice.dev/restart": "no"}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": f"{name}-config"}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta,
        "automountServiceAccountToken": False,
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {**meta, "name": f"{name}-config"},
        "data": {
            "app.yaml": (
                f"server:\n  port: 8080\n  name: {name}\n"
                f"logging:\n  level: info\n  format: json\n"
                f"features:\n  - a\n  - b\n"
            ),
            "nginx.conf": f"server {{\n  listen 8080;\n  location / {{ proxy_pass http://{name}; }}\n}}",
            "ENABLED": "yes",
            "TIMEOUT": "30",
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    scrape = {
        "apiVersion": "operator.victoriametrics.com/v1beta1",
        "kind": "VMServiceScrape",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": selector},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}],
        },
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": 2,
            "maxReplicaCount": 20,
            "triggers": [
                {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}},
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": "http://vmselect.monitoring:8481/select/0/prometheus",
                        "query": f'sum(rate(http_requests_total{{service="{name}"}}[1m]))',
                        "threshold": "100",
                    },
                },
            ],
        },
    }
    cnp = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": meta,
        "spec": {
            "endpointSelector": {"matchLabels": selector},
            "ingress": [
                {
                    "fromEndpoints": [
                        {"matchLabels": {"app.kubernetes.io/name": f"svc-{(i + 1) % 1000:05d}"}}
                    ],
                    "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}],
                }
            ],
            "egress": [
                {"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}]},
                {"toFQDNs": [{"matchPattern": "*.example.com"}]},
            ],
        },
    }
    return [deployment, service, sa, configmap, pdb, scrape, scaled, cnp]


# --------------------------------------------------------------------------- contenders


def pyyaml_c(objs: list[Obj]) -> str:
    return yaml.dump_all(objs, Dumper=yaml.CSafeDumper, sort_keys=True)


def lattice_yaml(objs: list[Obj]) -> str:
    return render.dump_yaml_stream(objs)


def _make_ryml() -> Callable[[list[Obj]], str] | None:
    try:
        import ryml  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None

    style_cache: dict[str, int] = {}

    def flags(s: str) -> int:
        f = style_cache.get(s)
        if f is None:
            r = render._value_scalar(s)
            f = ryml.VAL_LITERAL if r == "" else (0 if r == s else ryml.VAL_DQUO)
            style_cache[s] = f
        return f

    def scalar(v: Any) -> tuple[str, int]:
        if type(v) is str:
            return v, flags(v)
        return render._other_scalar(v), 0

    def build(t: Any, node: int, v: Any) -> None:
        for k in sorted(v):
            x = v[k]
            c = t.append_child(node)
            key = t.to_arena(k)
            if isinstance(x, dict):
                t.to_map(c, key)
                build(t, c, x)
            elif isinstance(x, list):
                t.to_seq(c, key)
                build_seq(t, c, x)
            else:
                s, f = scalar(x)
                t.to_keyval(c, key, t.to_arena(s), f)

    def build_seq(t: Any, node: int, v: list[Any]) -> None:
        for x in v:
            c = t.append_child(node)
            if isinstance(x, dict):
                t.to_map(c)
                build(t, c, x)
            elif isinstance(x, list):
                t.to_seq(c)
                build_seq(t, c, x)
            else:
                s, f = scalar(x)
                t.to_val(c, t.to_arena(s), f)

    def dump(objs: list[Obj]) -> str:
        t = ryml.Tree()
        root = t.root_id()
        t.to_stream(root)
        for o in objs:
            d = t.append_child(root)
            t.to_map(d, ryml.DOC)
            build(t, d, o)
        return str(ryml.emit_yaml(t))

    return dump


def json_stdlib(objs: list[Obj]) -> str:
    doc = {"apiVersion": "v1", "items": objs, "kind": "List"}
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def lattice_json(objs: list[Obj]) -> str:
    return render.dump_json_list(objs)


def _make_orjson() -> Callable[[list[Obj]], str] | None:
    try:
        import orjson
    except ImportError:
        return None

    def dump(objs: list[Obj]) -> str:
        doc = {"apiVersion": "v1", "items": objs, "kind": "List"}
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"

    return dump


def _clear_caches() -> None:
    render._VALUE_CACHE.clear()
    render._KEY_CACHE.clear()
    render._BLOCK_CACHE.clear()


def _time(fn: Callable[[list[Obj]], str], objs: list[Obj], repeat: int) -> tuple[float, int]:
    best = float("inf")
    size = 0
    for _ in range(repeat):
        _clear_caches()
        t0 = time.perf_counter()
        out = fn(objs)
        best = min(best, time.perf_counter() - t0)
        size = len(out)
    return best, size


def _check_roundtrip(name: str, text: str, objs: Iterable[Mapping[str, Any]], is_json: bool) -> str:
    loaded = json.loads(text)["items"] if is_json else list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    return "ok" if loaded == list(objs) else "MISMATCH"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    objs = [o for i in range(args.services) for o in service_objects(i)]
    n = args.services
    contenders: list[tuple[str, Callable[[list[Obj]], str] | None, bool]] = [
        ("PyYAML CSafeDumper", pyyaml_c, False),
        ("lattice.render (hand-written)", lattice_yaml, False),
        ("rapidyaml (ryml tree)", _make_ryml(), False),
        ("json stdlib (indent=2)", json_stdlib, True),
        ("orjson (indent 2)", _make_orjson(), True),
        ("lattice.render.dump_json_list", lattice_json, True),
    ]
    print(f"{n} services x 8 objects = {len(objs)} objects, best of {args.repeat}")
    print(f"{'serializer':32} {'total s':>8} {'ms/svc':>8} {'10k svc s':>10} {'MB':>7}  round-trip")
    for name, fn, is_json in contenders:
        if fn is None:
            print(f"{name:32} {'(not installed)':>8}")
            continue
        secs, size = _time(fn, objs, args.repeat)
        rt = _check_roundtrip(name, fn(objs), objs, is_json) if "rapidyaml" not in name else "-"
        print(
            f"{name:32} {secs:8.3f} {secs / n * 1000:8.3f} {secs / n * 10000:10.2f} {size / 1e6:7.1f}  {rt}"
        )


if __name__ == "__main__":
    main()
