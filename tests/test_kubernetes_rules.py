"""Rules Lattice applies because Kubernetes (and the controllers it feeds) would refuse, or silently misread, the
output otherwise. Each table pins one rule as upstream states it, with the exact problem it reports; how the CLI
prints a problem (file, line, object) is pinned by `test_errors.py`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lattice.api import parse_resource
from lattice.api.duration import go_duration_ns, prometheus_duration_ns
from lattice.compiler import expansion
from lattice.errors import LatticeError
from lattice.fleet import Sourced
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

# --- `$(VAR)` as the kubelet expands it (third_party/forked/golang/expansion/expand.go) ----------------------


@pytest.mark.parametrize(("text", "names"), [
    ("$(A)", ["A"]),
    ("--password=$(DB_PASSWORD)", ["DB_PASSWORD"]),
    ("$(A)$(B)", ["A", "B"]),
    ("$$(A)", []),             # an escaped `$`: the kubelet prints `$(A)` and expands nothing
    ("$$$(A)", ["A"]),         # `$$` then a reference
    ("$(A", []),               # incomplete: copied as it is
    ("$(A $(B)", ["A $(B"]),   # the name runs to the first `)`, whatever it holds
    ("$x$(A)", ["A"]),         # `$` before anything else is text, and scanning goes on after it
    ("cost: 5$", []),
    ("$()", [""]),
    ("${A}", []),              # shell syntax is not Kubernetes syntax
])
def test_references_are_read_as_the_kubelet_reads_them(text: str, names: list[str]) -> None:
    assert expansion.referenced_names(text) == names


# --- durations (Go's time.ParseDuration; Prometheus' model.ParseDuration) -----------------------------------

MAX_GO = 2**63 - 1


@pytest.mark.parametrize(("text", "nanoseconds"), [
    ("1h", 3600 * 10**9),
    ("1h30m", 5400 * 10**9),
    ("1.5h", 5400 * 10**9),
    ("90us", 90_000),
    ("90µs", 90_000),           # U+00B5 micro sign
    ("90μs", 90_000),           # U+03BC Greek mu: Go accepts both
    ("2562047h47m16.854775807s", MAX_GO),
    ("2562047h47m16.854775808s", None),  # one nanosecond past int64: Go refuses it
    ("0s", None),               # zero: Lattice wants a positive interval
    ("1d", None),               # Go has no day unit
    ("1h\n", None),
    ("", None),
    ("-1h", None),
])
def test_go_durations(text: str, nanoseconds: int | None) -> None:
    assert go_duration_ns(text) == nanoseconds


@pytest.mark.parametrize(("text", "nanoseconds"), [
    ("30s", 30 * 10**9),
    ("1m30s", 90 * 10**9),
    ("1y2w3d4h5m6s7ms", ((365 + 14 + 3) * 86400 + 4 * 3600 + 5 * 60 + 6) * 10**9 + 7 * 10**6),
    ("1.5m", None),             # Go syntax, refused by the ServiceMonitor CRD's pattern
    ("30s1m", None),            # units out of order
    ("90us", None),
    ("0", None),
    ("", None),
    ("30s\n", None),
])
def test_prometheus_durations(text: str, nanoseconds: int | None) -> None:
    assert prometheus_duration_ns(text) == nanoseconds


# --- parse-time refusals -------------------------------------------------------------------------------------

SERVICE: dict[str, Any] = {
    "apiVersion": "lattice.dev/v1alpha1",
    "kind": "LatticeService",
    "metadata": {"name": "shop", "namespace": "demo"},
    "spec": {"workload": {
        "containers": {"main": {"image": "registry.example.com/shop:1.0",
                                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}},
        "service": {"ports": {"http": {"port": 8080}}},
    }},
}


def _service(**changes: Any) -> dict[str, Any]:
    """SERVICE with values set at dotted paths (`spec.workload.containers.main.args`)."""
    doc = copy.deepcopy(SERVICE)
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return doc


MAIN = "spec__workload__containers__main"
INT32_MAX = 2**31 - 1

REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("replicas over int32", _service(spec__replicas=INT32_MAX + 1)),
    ("replicas as text", _service(spec__replicas="3")),
    ("runAsUser: no (YAML's false, never user 0)", _service(**{f"{MAIN}__security": {"runAsUser": False}})),
    ("runAsUser 1337 (the mesh proxy's)", _service(**{f"{MAIN}__security": {"runAsUser": 1337}})),
    ("runAsGroup 1337 (the mesh proxy's)", _service(**{f"{MAIN}__security": {"runAsGroup": 1337}})),
    ("command[0] blank", _service(**{f"{MAIN}__command": [" ", "x"]})),
    ("privileged as text", _service(**{f"{MAIN}__security": {"privileged": "false"}})),
    ("autoscaling max over int32", _service(spec__autoscaling={"max": INT32_MAX + 1})),
    ("probe period over int32", _service(**{f"{MAIN}__livenessProbe": {
        "tcpSocket": {"port": 8080}, "periodSeconds": INT32_MAX + 1}})),
    ("runAsUser over int32", _service(**{f"{MAIN}__security": {"runAsUser": INT32_MAX + 1}})),
    ("grpc probe port 0", _service(**{f"{MAIN}__livenessProbe": {"grpc": {"port": 0}}})),
    ("probe port 70000", _service(**{f"{MAIN}__livenessProbe": {"tcpSocket": {"port": 70000}}})),
    ("probe port name with --", _service(**{f"{MAIN}__livenessProbe": {"tcpSocket": {"port": "a--b"}}})),
    ("probe port true", _service(**{f"{MAIN}__livenessProbe": {"tcpSocket": {"port": True}}})),
    ("probe port 80.5", _service(**{f"{MAIN}__livenessProbe": {"httpGet": {"port": 80.5}}})),
    ("probe port quoted number", _service(**{f"{MAIN}__livenessProbe": {"tcpSocket": {"port": "8080"}}})),
    ("probe named port on a second container", _service(**{
        "spec__workload__containers__side": {"image": "registry.example.com/side:1.0",
                                             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                                             "livenessProbe": {"tcpSocket": {"port": "http"}}}})),
    ("startup successThreshold 2", _service(**{f"{MAIN}__startupProbe": {
        "tcpSocket": {"port": 8080}, "successThreshold": 2}})),
    ("empty httpGet path", _service(**{f"{MAIN}__livenessProbe": {"httpGet": {"path": "", "port": 8080}}})),
    ("header name with a space", _service(**{f"{MAIN}__livenessProbe": {"httpGet": {
        "port": 8080, "httpHeaders": [{"name": "X Probe", "value": "1"}]}}})),
    ("memory limit 0", _service(**{f"{MAIN}__resources": {"limits": {"cpu": "1", "memory": "0"}}})),
    ("volume at /tmp", _service(**{f"{MAIN}__volumes": {"/tmp": {"source": "${resources.data}"}},
                                   "spec__workload__resources": {"data": {"type": "volume",
                                                                          "params": {"size": "1Gi"}}}})),
    ("volume subPath with ..", _service(**{f"{MAIN}__volumes": {"/data": {"source": "${resources.data}",
                                                                          "path": "a/../../etc"}},
                                           "spec__workload__resources": {"data": {"type": "volume",
                                                                                  "params": {"size": "1Gi"}}}})),
    ("volume of size 0", _service(**{f"{MAIN}__volumes": {"/data": {"source": "${resources.data}"}},
                                     "spec__workload__resources": {"data": {"type": "volume",
                                                                            "params": {"size": "0"}}}})),
    ("file target with a trailing /", _service(**{f"{MAIN}__files": {"/etc/app/": {"content": "x"}}})),
    ("file target /", _service(**{f"{MAIN}__files": {"/": {"content": "x"}}})),
    ("file target with a bidi override", _service(**{f"{MAIN}__files": {"/etc/\u202eapp": {"content": "x"}}})),
    ("volume mounted below a file", _service(**{
        f"{MAIN}__files": {"/data": {"content": "x"}},
        f"{MAIN}__volumes": {"/data/more": {"source": "${resources.data}"}},
        "spec__workload__resources": {"data": {"type": "volume", "params": {"size": "1Gi"}}}})),
    ("service id not a DNS label", _service(spec__workload__resources={"o": {"type": "service", "id": "Orders"}})),
    ("id with a placeholder", _service(spec__workload__resources={"s": {"type": "secret",
                                                                          "id": "${metadata.name}/db"}})),
    ("secret key ..", _service(spec__workload__resources={"s": {"type": "secret", "params": {"keys": ["..x"]}}})),
    ("secret key of 254 characters", _service(spec__workload__resources={
        "s": {"type": "secret", "params": {"keys": ["k" * 254]}}})),
    ("catch-all IPv6 endpoint", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"all": "[::/0]:443"}}}})),
    ("endpoint inside the cluster", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"o": "http://orders.shop.svc.cluster.local"}}}})),
    ("endpoint with a single-label host", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"r": "tcp://redis:6379"}}}})),
    ("endpoint range as a netmask", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"net": "[10.0.0.0/255.0.0.0]:443"}}}})),
    ("endpoint with a Kelvin sign", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"api": "https://api.\u212aey.com"}}}})),
    ("variable name of 254 characters", _service(**{f"{MAIN}__variables": {"V" * 254: "x"}})),
    ("image repository of 256 characters", _service(**{f"{MAIN}__image": "registry.example.com/" + "a" * 256 + ":1"})),
    ("image tag with a non-ASCII letter", _service(**{f"{MAIN}__image": "registry.example.com/shop:v1é"})),
    ("route path with %2F", _service(spec__ingress={"routes": {"r": {"hosts": ["a.example.com"],
                                                                     "paths": [{"value": "/a%2Fb"}]}}})),
    ("route path ending in /.", _service(spec__ingress={"routes": {"r": {"hosts": ["a.example.com"],
                                                                         "paths": [{"value": "/a/."}]}}})),
    ("route path with a space", _service(spec__ingress={"routes": {"r": {"hosts": ["a.example.com"],
                                                                         "paths": [{"value": "/a b"}]}}})),
    ("route path not absolute", _service(spec__ingress={"routes": {"r": {"hosts": ["a.example.com"],
                                                                         "paths": [{"value": "api"}]}}})),
]


# What each refusal says (`path: message (hint: ...)`); the CLI prints it at the field's line (test_errors.py).
EXPECTED: dict[str, str] = {
    'replicas over int32':
        'spec.replicas: 2147483648 is too large (the maximum is 2147483647) (hint: write a value of at most 2147483647)',
    'replicas as text':
        'spec.replicas: `3` is not a whole number (hint: write a number without quotes, e.g. `3`)',
    "runAsUser: no (YAML's false, never user 0)":
        'spec.workload.containers.main.security.runAsUser: expected a whole number, got a boolean `false` (hint: YAML reads a bare true/false/yes/no/on/off as a boolean: write a number)',
    "runAsUser 1337 (the mesh proxy's)":
        "spec.workload.containers.main.security.runAsUser: 1337 is the mesh proxy's user: Istio lets its traffic bypass the proxy, so this container's traffic could leave the mesh unencrypted (hint: run as another user, e.g. `runAsUser: 1338`)",
    "runAsGroup 1337 (the mesh proxy's)":
        "spec.workload.containers.main.security.runAsGroup: 1337 is the mesh proxy's group: Istio lets its traffic bypass the proxy, so this container's traffic could leave the mesh unencrypted (hint: run as another group, e.g. `runAsGroup: 1338`)",
    'command[0] blank':
        "spec.workload.containers.main.command[0]: `command[0]`, the program to run, is blank (hint: write the program's path or name, e.g. `/app/server`, or remove `command` to use the image's entrypoint)",
    'privileged as text':
        'spec.workload.containers.main.security.privileged: expected true or false, got the text `false` (hint: write `true` or `false` without quotes)',
    'autoscaling max over int32':
        'spec.autoscaling.max: 2147483648 is too large (the maximum is 2147483647) (hint: write a value of at most 2147483647)',
    'probe period over int32':
        'spec.workload.containers.main.livenessProbe.periodSeconds: 2147483648 is too large (the maximum is 2147483647) (hint: write a value of at most 2147483647)',
    'runAsUser over int32':
        'spec.workload.containers.main.security.runAsUser: 2147483648 is too large (the maximum is 2147483647) (hint: write a value of at most 2147483647)',
    'grpc probe port 0':
        'spec.workload.containers.main.livenessProbe.grpc.port: 0 is too small (the minimum is 1) (hint: write a value of at least 1)',
    'probe port 70000':
        'spec.workload.containers.main.livenessProbe.tcpSocket.port: port 70000 is outside 1-65535 (hint: write the port the container listens on, e.g. `8080`)',
    'probe port name with --':
        'spec.workload.containers.main.livenessProbe.tcpSocket.port: port name `a--b` has two hyphens in a row, which Kubernetes does not allow in a port name (hint: write `a-b`)',
    'probe port true':
        'spec.workload.containers.main.livenessProbe.tcpSocket.port: a port cannot be true or false (YAML reads a bare yes/no/on/off as one) (hint: write the port number, e.g. `8080`, or a port name, e.g. `http`)',
    'probe port 80.5':
        'spec.workload.containers.main.livenessProbe.httpGet.port: `80.5` is not a port (hint: write the port number, e.g. `8080`, or a port name, e.g. `http`)',
    'probe port quoted number':
        'spec.workload.containers.main.livenessProbe.tcpSocket.port: port `"8080"` is text, so Kubernetes would read it as a port name (hint: write the number without quotes: `8080`)',
    'probe named port on a second container':
        'spec.workload.containers.side.livenessProbe.tcpSocket.port: the probe names the port `http`, but only the first container (`main`) has named ports (hint: write the port number the container listens on)',
    'startup successThreshold 2':
        'spec.workload.containers.main.startupProbe.successThreshold: successThreshold of a startupProbe must be 1, not 2 (hint: remove `successThreshold` (only a readinessProbe may ask for more successes))',
    'empty httpGet path':
        "spec.workload.containers.main.livenessProbe.httpGet.path: the probe's path is empty (hint: write the path to check, e.g. `/healthz`, or remove `path` to check `/`)",
    'header name with a space':
        "spec.workload.containers.main.livenessProbe.httpGet.httpHeaders[0].name: `X Probe` is not an HTTP header name (letters, digits and '-') (hint: write e.g. `X-Probe`)",
    'memory limit 0':
        'spec.workload.containers.main.resources.limits.memory: a limit of `0` is no limit: Kubernetes leaves a container with a zero memory limit unlimited (hint: write the most the container may use, e.g. `memory: 512Mi`)',
    'volume at /tmp':
        "spec.workload.containers.main.volumes./tmp: the platform already mounts a writable emptyDir at `/tmp` in every container (the root filesystem is read-only) (hint: mount the volume at another path, e.g. `/data` (an emptyDir volume there needs no mount: the platform's /tmp is one emptyDir that all the pod's containers share))",
    'volume subPath with ..':
        'spec.workload.containers.main.volumes./data.path: the path `a/../../etc` is not a relative path inside the volume (hint: name a directory inside the volume, without `..`)',
    'volume of size 0':
        'spec.workload.resources.data.params.size: a volume of size `0` holds nothing (hint: write the size it needs, e.g. `1Gi`)',
    'file target with a trailing /':
        'spec.workload.containers.main.files./etc/app/: the target `/etc/app/` is not a normalized path (no `//`, `.` or `..` parts, no trailing `/`) (hint: write `/etc/app`)',
    'file target /':
        'spec.workload.containers.main.files./: the target `/` is not a normalized path (no `//`, `.` or `..` parts, no trailing `/`) (hint: name a file or directory below `/`)',
    'file target with a bidi override':
        'spec.workload.containers.main.files./etc/\\u202eapp: the target `/etc/\\u202eapp` contains the control or invisible character U+202E (hint: write a plain path)',
    'volume mounted below a file':
        'spec.workload.containers.main.volumes./data/more: `/data/more` lies below `/data`, which is a file, so nothing can be mounted there (hint: move one of them: `/data` cannot be a file and a directory at once)',
    'service id not a DNS label':
        "spec.workload.resources.o.id: id `Orders` cannot name a service (a DNS label: lower-case letters, digits and '-') (hint: write the other service's `metadata.name`, or `*` for any caller)",
    'id with a placeholder':
        'spec.workload.resources.s.id: id `${metadata.name}/db` contains a placeholder; ids are never resolved (hint: write the plain name, or for a secret the plain path)',
    'secret key ..':
        "spec.workload.resources.s.params.keys[0]: secret key `..x` cannot name a Secret key (it starts with `..`) (hint: use at most 253 letters, digits, '-', '_' and '.', not starting with `..`)",
    'secret key of 254 characters':
        'spec.workload.resources.s.params.keys[0]: secret key `' + "k" * 254 + "` cannot name a Secret key (at most 253 characters) (hint: use at most 253 letters, digits, '-', '_' and '.', not starting with `..`)",
    'catch-all IPv6 endpoint':
        'spec.workload.resources.e.params.endpoints.all: endpoint `[::/0]:443` is every address (`::/0`), not an external service (hint: name the hosts the service calls, or the narrowest address range it needs)',
    'endpoint inside the cluster':
        'spec.workload.resources.e.params.endpoints.o: endpoint `http://orders.shop.svc.cluster.local` names a Service inside the cluster; external-service endpoints are for destinations outside it (hint: declare it as a service dependency, which its owner must agree to: `orders: {type: service, namespace: shop}`)',
    'endpoint with a single-label host':
        "spec.workload.resources.e.params.endpoints.r: endpoint `tcp://redis:6379` names the single-label host `redis`, which resolves through the cluster's search path (to a Service of this cluster first), never as written (hint: write the fully qualified name, e.g. `redis.example.com`; for a Service of this cluster, declare a service dependency (`redis: {type: service}`), which its owner must agree to)",
    'endpoint range as a netmask':
        'spec.workload.resources.e.params.endpoints.net: endpoint `[10.0.0.0/255.0.0.0]:443` writes its range with a netmask (hint: write the prefix length: `10.0.0.0/8`)',
    'endpoint with a Kelvin sign':
        'spec.workload.resources.e.params.endpoints.api: endpoint `https://api.\u212aey.com` has non-ASCII characters (hint: write an internationalized host name in its ASCII (`xn--`) form)',
    'variable name of 254 characters':
        'spec.workload.containers.main.variables.' + "V" * 254 + ': the variable name is 254 characters long; at most 253 are allowed (hint: shorten it)',
    'image repository of 256 characters':
        "spec.workload.containers.main.image: the image's repository path is 256 characters long; a reference allows at most 255 (hint: use the registry's shorter name for the repository)",
    'image tag with a non-ASCII letter':
        'spec.workload.containers.main.image: image `registry.example.com/shop:v1é` contains `é` (U+00E9); image references are ASCII only (hint: write the reference as the registry spells it: lower-case ASCII letters, digits, `.`, `_`, `-`, `/`)',
    'route path with %2F':
        'spec.ingress.routes.r.paths[0].value: the path `/a%2Fb` contains `%2F`, which Gateway API does not allow in a path match (hint: write the path without it (routes match normalized paths))',
    'route path ending in /.':
        'spec.ingress.routes.r.paths[0].value: the path `/a/.` ends with `/.`, which Gateway API does not allow in a path match (hint: write the path without it (routes match normalized paths))',
    'route path with a space':
        'spec.ingress.routes.r.paths[0].value: the path `/a b` has characters an HTTP path cannot have (hint: percent-encode them (a space is `%20`))',
    'route path not absolute':
        'spec.ingress.routes.r.paths[0].value: the path `api` does not start with `/` (hint: write `/api`)',
}


@pytest.mark.parametrize(("name", "doc"), REFUSED, ids=[name for name, _ in REFUSED])
def test_what_kubernetes_would_refuse_is_refused_at_parse_time(name: str, doc: dict[str, Any]) -> None:
    with pytest.raises(LatticeError) as caught:
        parse_resource(doc)
    assert [p.render() for p in caught.value.problems] == [EXPECTED[name]]


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("replicas at int32 max", _service(spec__replicas=INT32_MAX)),
    ("probe on a named port", _service(**{f"{MAIN}__livenessProbe": {"httpGet": {"path": "/", "port": "http"}}})),
    ("file below /tmp", _service(**{f"{MAIN}__files": {"/tmp/seed.txt": {"content": "x"}}})),
    ("volume below a volume", _service(**{
        f"{MAIN}__volumes": {"/data": {"source": "${resources.a}"}, "/data/b": {"source": "${resources.b}"}},
        "spec__workload__resources": {"a": {"type": "volume", "params": {"size": "1Gi"}},
                                      "b": {"type": "volume", "params": {"size": "1Gi"}}}})),
    ("runAsUser 1338", _service(**{f"{MAIN}__security": {"runAsUser": 1338, "runAsGroup": 1338}})),
    ("a request of 0", _service(**{f"{MAIN}__resources": {"requests": {"cpu": "0"},
                                                          "limits": {"cpu": "1", "memory": "1Gi"}}})),
    ("inbound from any caller", _service(spec__workload__resources={"any": {"type": "service", "id": "*",
                                                                            "direction": "inbound"}})),
    ("a host with a `svc` first label", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"a": "https://svc.example.com"}}}})),
    ("a /8 endpoint", _service(spec__workload__resources={
        "e": {"type": "external-service", "params": {"endpoints": {"net": "[10.0.0.0/8]:443"}}}})),
    ("a route path with `:`, `@` and an escape", _service(spec__ingress={"routes": {"r": {"hosts": ["a.example.com"],
                                                                               "paths": [{"value": "/a:b@c%20d"}]}}})),
]


@pytest.mark.parametrize("doc", [doc for _, doc in ACCEPTED], ids=[name for name, _ in ACCEPTED])
def test_what_kubernetes_accepts_still_parses(doc: dict[str, Any]) -> None:
    parse_resource(doc)


# --- compile-time: probes are resolved like args; secrets never reach them ----------------------------------


def _compile(doc: dict[str, Any]) -> list[dict[str, Any]]:
    result = compile_fleet([Sourced("test", parse_resource(doc))])
    assert result.ok, [p.render() for s in result.services for p in s.errors]
    return result.objects


def test_probe_placeholders_are_resolved() -> None:
    doc = _service(**{
        f"{MAIN}__livenessProbe": {"exec": {"command": ["/bin/check", "--name=${metadata.name}"]}},
        f"{MAIN}__readinessProbe": {"httpGet": {"path": "/ready/${metadata.namespace}", "port": "http",
                                                "httpHeaders": [{"name": "X-Peer",
                                                                 "value": "${resources.orders.host}"}]}},
        "spec__workload__resources": {"orders": {"type": "service"}},
    })
    objects = _compile(doc)
    assert_valid(objects)
    container = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["exec"]["command"] == ["/bin/check", "--name=shop"]
    ready = container["readinessProbe"]["httpGet"]
    assert ready["path"] == "/ready/demo"
    assert ready["httpHeaders"] == [{"name": "X-Peer", "value": "orders.demo.svc.cluster.local"}]


def test_plain_variables_may_be_expanded_in_args() -> None:
    doc = _service(**{f"{MAIN}__variables": {"PORT": "8080"}, f"{MAIN}__args": ["--port=$(PORT)"]})
    container = next(o for o in _compile(doc) if o["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"][0]
    assert container["args"] == ["--port=$(PORT)"]


def test_a_listed_envfrom_secret_leaves_other_names_plain() -> None:
    doc = _service(**{f"{MAIN}__envFrom": ["api"], f"{MAIN}__variables": {"PORT": "8080"},
                      f"{MAIN}__args": ["--port=$(PORT)"],
                      "spec__workload__resources": {"api": {"type": "secret",
                                                            "params": {"keys": ["TOKEN"], "provider": "vault"}}}})
    _compile(doc)
    doc["spec"]["workload"]["containers"]["main"]["args"] = ["--token=$(TOKEN)"]
    result = compile_fleet([Sourced("test", parse_resource(doc))])
    assert [p.path for s in result.services for p in s.errors] == ["spec.workload.containers.main.args[0]"]


@pytest.mark.parametrize(("doc", "message"), [
    (_service(spec__ingress={"routes": {"r": {"hosts": ["10.0.0.1"]}}}),
     "spec.ingress.routes.r.hosts[0]: host `10.0.0.1` is an IP address; routes match host names only"),
    (_service(spec__workload__service={"ports": {"http": {"port": 80, "appProtocol": "HTTP 2"}}}),
     "spec.workload.service.ports.http.appProtocol: qualified name `HTTP 2` is invalid"),
], ids=["route host is an IP", "appProtocol not a qualified name"])
def test_gateway_and_service_names(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(LatticeError) as caught:
        parse_resource(doc)
    assert caught.value.problems[0].render().startswith(message)


def test_topology_keys_are_label_keys() -> None:
    platform = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
                "spec": {"topology": {"zoneKey": "zone key"}}}
    with pytest.raises(LatticeError):
        parse_resource(platform)


@pytest.mark.parametrize(("limits", "rendered"), [
    ({"cpu": "0"}, "spec.defaults.resources.limits.cpu: a default limit of `0` is no limit: Kubernetes leaves a "
                   "container with a zero cpu limit unlimited, and every container that sets none would get it "
                   "(hint: write the most a container may use by default, e.g. `cpu: 500m`)"),
    ({"memory": "0Mi"}, "spec.defaults.resources.limits.memory: a default limit of `0Mi` is no limit: Kubernetes "
                        "leaves a container with a zero memory limit unlimited, and every container that sets none "
                        "would get it (hint: write the most a container may use by default, e.g. `memory: 512Mi`)"),
], ids=["cpu", "memory"])
def test_a_default_limit_is_never_zero(limits: dict[str, str], rendered: str) -> None:
    """The platform's default limits obey the rule a workload's own limits obey: a zero limit is none."""
    platform = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
                "spec": {"defaults": {"resources": {"limits": limits}}}}
    with pytest.raises(LatticeError) as caught:
        parse_resource(platform)
    assert [p.render() for p in caught.value.problems] == [rendered]


@pytest.mark.parametrize(("params", "message"), [
    ({"keys": ["tls.crt"], "secretType": "kubernetes.io/tls"},
     "a Secret of type `kubernetes.io/tls` needs `tls.key`, which `keys` does not list"),
    ({"keys": ["token"], "secretType": "kubernetes.io/basic-auth"},
     "a Secret of type `kubernetes.io/basic-auth` needs `username` or `password`, which `keys` does not list"),
    ({"keys": ["auth"], "secretType": "kubernetes.io/dockerconfigjson"},
     "a Secret of type `kubernetes.io/dockerconfigjson` needs `.dockerconfigjson`, which `keys` does not list"),
    ({"secretType": "kubernetes.io/service-account-token"},
     "a synced Secret cannot be a service-account token (Kubernetes fills those itself)"),
], ids=["tls", "basic-auth", "dockerconfigjson", "service-account-token"])
def test_a_secret_type_needs_its_keys(params: dict[str, Any], message: str) -> None:
    """Kubernetes refuses a Secret of these types without these keys (core validation, ValidateSecret)."""
    with pytest.raises(LatticeError) as caught:
        parse_resource(_service(spec__workload__resources={"s": {"type": "secret", "params": params}}))
    assert caught.value.problems[0].message == message


@pytest.mark.parametrize("params", [
    {"keys": ["tls.crt", "tls.key"], "secretType": "kubernetes.io/tls"},
    {"keys": ["password"], "secretType": "kubernetes.io/basic-auth"},
    {"secretType": "kubernetes.io/tls"},  # every key is read: what arrives is not known here
    {"keys": ["a"], "secretType": "example.com/custom"},
], ids=["tls", "basic-auth", "all-keys", "custom-type"])
def test_a_secret_type_with_its_keys_parses(params: dict[str, Any]) -> None:
    parse_resource(_service(spec__workload__resources={"s": {"type": "secret", "params": params}}))


def test_a_mesh_member_name_is_a_dns_label() -> None:
    """Its name becomes the `app.kubernetes.io/name` label of its policies: at most 63 characters, no dots."""
    member = {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeMeshMember",
              "metadata": {"name": "db.primary", "namespace": "demo"}, "spec": {"selector": {"app": "db"}}}
    with pytest.raises(LatticeError) as caught:
        parse_resource(member)
    assert caught.value.problems[0].render() == (
        "metadata.name: `db.primary` cannot name a mesh member (a DNS label: lower-case letters, digits and '-', at "
        "most 63 characters) (hint: rename it, e.g. after the Service in front of its pods)")
    member["metadata"]["name"] = "db-primary"
    parse_resource(member)


# --- routes: what Gateway API's route CRDs refuse (maxItems, CEL on parentRefs), and one TLS per host ----------

def _routes(routes: dict[str, Any]) -> dict[str, Any]:
    return _service(spec__ingress={"routes": routes})


@pytest.mark.parametrize(("routes", "rendered"), [
    ({"r": {"hosts": [f"h{i}.example.com" for i in range(17)]}},
     "spec.ingress.routes.r.hosts: a route has 17 hosts; Gateway API allows at most 16 in one route "
     "(hint: split the hosts over several routes)"),
    ({"r": {"hosts": ["a.example.com"], "paths": [{"value": f"/p{i}"} for i in range(65)]}},
     "spec.ingress.routes.r.paths: a route has 65 paths; Gateway API allows at most 64 in one route "
     "(hint: match a common prefix instead of listing every path (a `PathPrefix` match covers every path below it))"),
    ({"r": {"hosts": ["a.example.com", "b.example.com", "a.example.com"]}},
     "spec.ingress.routes.r.hosts[2]: host `a.example.com` is listed twice (first at [0]) (hint: list each host once)"),
    ({"r": {"hosts": ["a.example.com"], "tls": {"issuer": "le"}},
      "s": {"hosts": ["b.example.com", "a.example.com"], "paths": [{"value": "/x"}]}},
     "spec.ingress.routes.s.hosts[1]: host `a.example.com` is also routed by route `r`, and one of the two sets "
     "`tls`: the Gateway has one certificate and one redirect per host (hint: route every path of `a.example.com` "
     "from one route (add them to `r`'s `paths`))"),
    ({"r": {"hosts": ["a.example.com"], "tls": {"issuer": "le"}},
      "s": {"hosts": ["a.example.com"], "tls": {"secretName": "own"}, "paths": [{"value": "/x"}]}},
     "spec.ingress.routes.s.hosts[0]: host `a.example.com` is also routed by route `r`, and one of the two sets "
     "`tls`: the Gateway has one certificate and one redirect per host (hint: route every path of `a.example.com` "
     "from one route (add them to `r`'s `paths`))"),
], ids=["17 hosts", "65 paths", "a host twice", "tls and plain", "two certificates"])
def test_routes_the_gateway_api_would_refuse_or_misread(routes: dict[str, Any], rendered: str) -> None:
    with pytest.raises(LatticeError) as caught:
        parse_resource(_routes(routes))
    assert [p.render() for p in caught.value.problems] == [rendered]


def test_plain_routes_may_share_a_host_and_split_its_paths() -> None:
    objects = _compile(_routes({"r": {"hosts": ["a.example.com"]},
                                "s": {"hosts": ["a.example.com"], "paths": [{"value": "/x"}]},
                                "t": {"hosts": [f"h{i}.example.com" for i in range(16)],
                                      "paths": [{"value": f"/p{i}"} for i in range(64)]}}))
    assert_valid(objects)
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "HTTPRoute") == ["shop-r", "shop-s", "shop-t"]


def _routed(index: int) -> dict[str, Any]:
    doc = copy.deepcopy(SERVICE)
    doc["metadata"]["name"] = f"s{index}"
    doc["spec"]["ingress"] = {"routes": {"r": {"hosts": [f"h{index}.example.com"], "tls": {"issuer": "le"}}}}
    return doc


def test_a_namespace_gateway_holds_at_most_64_listeners() -> None:
    """Gateway API's Gateway allows 64 listeners: 32 TLS hosts (HTTPS and the redirect each) fit; one more and
    every routed service of the namespace fails, rather than a Gateway the API server would refuse."""
    fits = compile_fleet([Sourced("t", parse_resource(_routed(i))) for i in range(32)])
    assert all(s.ok for s in fits.services)
    (gateway,) = [o for o in fits.namespace_objects if o["kind"] == "Gateway"]
    assert len(gateway["spec"]["listeners"]) == 64
    assert_valid([gateway])
    over = compile_fleet([Sourced("t", parse_resource(_routed(i))) for i in range(33)])
    assert [s.ok for s in over.services] == [False] * 33
    assert {p.render() for s in over.services for p in s.errors} == {
        "spec.ingress: the routes of namespace `demo` need 66 listeners on its Gateway (a TLS host takes two: HTTPS "
        "and the HTTP redirect); Gateway API allows at most 64, so the Gateway would be refused and no route of the "
        "namespace served (hint: route fewer distinct hosts from this namespace: one wildcard host (`*.example.com`) "
        "covers many, or move some services to another namespace)"}
    assert over.objects == [*over.cluster_objects]
