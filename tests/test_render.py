"""Tests for lattice.render: exact layout, tricky scalars, and round-trip properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice.render import dump_json_list, dump_yaml, dump_yaml_stream


def load_c(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def load_py(text: str) -> Any:
    return yaml.load(text, Loader=yaml.SafeLoader)


# --------------------------------------------------------------------------- exact output

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "payments",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/name": "payments", "tier": "backend"},
        "annotations": {"lattice.dev/enabled": "yes", "lattice.dev/port": "8080"},
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "payments"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "payments"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.example.com/payments@sha256:0123abcd",
                        "args": ["--port=8080", "-v", "serve"],
                        "env": [
                            {"name": "EMPTY", "value": ""},
                            {"name": "GREETING", "value": "hello: world"},
                            {"name": "CONFIG", "value": "a: 1\nb: 2\n"},
                        ],
                        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
                        "securityContext": {"readOnlyRootFilesystem": True, "runAsUser": 10001},
                        "ports": [],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
                "nodeSelector": None,
            },
        },
    },
}

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    lattice.dev/enabled: "yes"
    lattice.dev/port: "8080"
  labels:
    app.kubernetes.io/name: payments
    tier: backend
  name: payments
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: payments
  template:
    metadata:
      labels:
        app.kubernetes.io/name: payments
    spec:
      containers:
      - args:
        - --port=8080
        - -v
        - serve
        env:
        - name: EMPTY
          value: ""
        - name: GREETING
          value: "hello: world"
        - name: CONFIG
          value: |
            a: 1
            b: 2
        image: registry.example.com/payments@sha256:0123abcd
        name: app
        ports: []
        resources:
          limits:
            cpu: 500m
            memory: 512Mi
        securityContext:
          readOnlyRootFilesystem: true
          runAsUser: 10001
      nodeSelector: null
      volumes:
      - emptyDir: {}
        name: tmp
"""


def test_deployment_exact_output() -> None:
    assert dump_yaml(DEPLOYMENT) == DEPLOYMENT_YAML
    assert load_c(DEPLOYMENT_YAML) == DEPLOYMENT


def test_key_order_matches_pyyaml_sort_keys() -> None:
    d = {k: 1 for k in ["b", "B", "a", "_x", "10", "9", "é", "Z", "a.b", "a-b", "a/b"]}
    ours = list(load_c(dump_yaml(d)))
    assert ours == list(load_c(yaml.safe_dump(d, sort_keys=True)))
    assert ours == sorted(d)


def test_nested_sequences_and_empties() -> None:
    d = {"a": [[1, [2, 3]], [], {}, [{}], [{"k": []}]], "e": {}, "z": []}
    assert dump_yaml(d) == ("a:\n- - 1\n  - - 2\n    - 3\n- []\n- {}\n- - {}\n- - k: []\ne: {}\nz: []\n")
    assert load_c(dump_yaml(d)) == d


def test_empty_document_and_stream() -> None:
    assert dump_yaml({}) == "{}\n"
    assert dump_yaml_stream([]) == ""
    assert dump_yaml_stream([{"a": 1}, {}, {"b": "x"}]) == "a: 1\n---\n{}\n---\nb: x\n"
    assert list(yaml.load_all(dump_yaml_stream([{"a": 1}, {}, {"b": "x"}]), Loader=yaml.CSafeLoader)) == [
        {"a": 1},
        {},
        {"b": "x"},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\n", "v: |\n  a\n  b\n"),
        ("a\nb", "v: |-\n  a\n  b\n"),
        ("a\nb\n\n", "v: |+\n  a\n  b\n\n"),
        ("  indented\nx\n", "v: |2\n    indented\n  x\n"),
        ("\nlead\n", "v: |2\n\n  lead\n"),
        ("a\n\nb\n", "v: |\n  a\n\n  b\n"),
        ("trailing \nspace\n", 'v: "trailing \\nspace\\n"\n'),
        ("ctl\x01\n", 'v: "ctl\\x01\\n"\n'),
        ("cr\r\nlf\n", 'v: "cr\\r\\nlf\\n"\n'),
        ("\n", 'v: "\\n"\n'),
    ],
)
def test_multiline_styles(text: str, expected: str) -> None:
    out = dump_yaml({"v": text})
    assert out == expected
    assert load_c(out) == {"v": text}
    assert load_py(out) == {"v": text}


def test_block_scalar_inside_sequences() -> None:
    d = {"l": ["x\ny\n", ["  a\nb"], {"k": "p\nq\n"}]}
    out = dump_yaml(d)
    assert out == "l:\n- |\n  x\n  y\n- - |2-\n      a\n    b\n- k: |\n    p\n    q\n"
    assert load_c(out) == d
    assert load_py(out) == d


# --------------------------------------------------------------------------- tricky scalars

QUOTED = [
    "",
    " ",
    "yes",
    "no",
    "Yes",
    "NO",
    "on",
    "off",
    "On",
    "OFF",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "False",
    "TRUE",
    "null",
    "Null",
    "NULL",
    "~",
    "0",
    "123",
    "-1",
    "+1",
    "007",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1:20",
    "190:20:30",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "1E+3",
    "1.0e-5",
    "-.inf",
    ".inf",
    ".NaN",
    ".nan",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "2024-1-1",
    "1.2.3",
    "=",
    "<<",
    " lead",
    "trail ",
    "a: b",
    "a #b",
    "end:",
    "-",
    "- x",
    "?",
    "? x",
    ":",
    ":x",
    ",x",
    "[x",
    "]x",
    "{x",
    "}x",
    "#x",
    "&x",
    "*x",
    "!x",
    "|x",
    ">x",
    "'x",
    '"x',
    "%x",
    "@x",
    "`x",
    "---",
    "---x",
    "...",
    "tab\there",
    "ctl\x00",
    "bell\x07",
    "del\x7f",
    "nel\x85",
    "ls\u2028",
    "bom\ufeff",
    "café",
    "日本語",
    "emoji 🎉",
    "{{ .Values.x }}",
    "10.0.0.1",
]
PLAIN = [
    "payments",
    "registry.example.com/payments@sha256:0123abcd",
    "500m",
    "512Mi",
    "apps/v1",
    "--port=8080",
    "-v",
    "http://example.com:8080/path?x=1&y=2",
    "a b c",
    "a#b",
    "a:b",
    "${VAR}",
    "$(VAR)",
    "key=value",
    "a\\b\"c'd",
    "1.2.3.4/32",
    "v1.2.3",
    "x-y_z.w",
    "/etc/app",
    "_private",
    "sum(rate(x[1m]))",
    "it's",
    ".example.com",
    "1a2b3c",
    "0:20",
    "k8s:io.kubernetes.pod.namespace",
]


@pytest.mark.parametrize("s", QUOTED + PLAIN)
def test_scalar_round_trips_as_value_and_key(s: str) -> None:
    for d in ({"v": s}, {s: "v"}, {"l": [s]}):
        out = dump_yaml(d)
        assert load_c(out) == d, out
        assert load_py(out) == d, out


@pytest.mark.parametrize("s", QUOTED)
def test_ambiguous_scalars_are_quoted(s: str) -> None:
    assert dump_yaml({"v": s}).startswith('v: "'), dump_yaml({"v": s})


@pytest.mark.parametrize("s", PLAIN)
def test_safe_scalars_are_plain(s: str) -> None:
    assert dump_yaml({"v": s}) == f"v: {s}\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-7, "-7"),
        (2**70, str(2**70)),
        (1.5, "1.5"),
        (1e20, "1.0e+20"),
        (1e-7, "1.0e-07"),
        (float("inf"), ".inf"),
        (float("-inf"), "-.inf"),
        (-0.0, "-0.0"),
    ],
)
def test_non_string_scalars(value: object, text: str) -> None:
    out = dump_yaml({"v": value})
    assert out == f"v: {text}\n"
    assert load_c(out) == {"v": value}


def test_nan() -> None:
    out = dump_yaml({"v": float("nan")})
    assert out == "v: .nan\n"
    v = load_c(out)["v"]
    assert v != v


def test_long_key_uses_explicit_key_syntax() -> None:
    for d in ({"k" * 2000: "v"}, {"k" * 2000: {"a": 1}}, {"k" * 2000: ["a"]}, {"x" * 1500 + " #": "a\nb\n"}):
        out = dump_yaml(d)
        assert out.startswith("? ")
        assert load_c(out) == d
        assert load_py(out) == d


def test_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        dump_yaml({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        dump_yaml({"x": object()})
    with pytest.raises(TypeError):
        dump_yaml(["x"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- json


def test_dump_json_list_layout() -> None:
    out = dump_json_list([{"kind": "A", "b": [], "a": {}}])
    assert out == (
        '{\n  "apiVersion": "v1",\n  "items": [\n    {\n      "a": {},\n      "b": [],\n'
        '      "kind": "A"\n    }\n  ],\n  "kind": "List"\n}\n'
    )


def test_dump_json_list_matches_stdlib_layout() -> None:
    objs = [DEPLOYMENT, {"u": 'é\u2028\x01"\\', "n": None, "f": 1.5}]
    expected = json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": objs}, sort_keys=True, indent=2, ensure_ascii=False
    )
    assert dump_json_list(objs) == expected + "\n"
    # what orjson refuses falls back to the stdlib
    assert json.loads(dump_json_list([{"big": 2**70}]))["items"] == [{"big": 2**70}]


# --------------------------------------------------------------------------- properties

FRAGMENTS = st.sampled_from(
    [
        "{{",
        "}}",
        "${",
        "#",
        " #",
        ": ",
        ":",
        "-",
        "- ",
        "? ",
        "'",
        '"',
        "\\",
        "\n",
        "\n\n",
        "\t",
        " ",
        "  ",
        "\r",
        "\x00",
        "\x85",
        "\u2028",
        "\ufeff",
        "é",
        "🎉",
        "yes",
        "null",
        "1",
        "0x",
        ".",
        "e3",
        "---",
        "|",
        ">",
    ]
)
TEXT = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(FRAGMENTS, st.text(alphabet="abcxyz019 ", max_size=4)), max_size=8).map("".join),
)
LEAF = st.one_of(
    TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False)
)
TREE = st.recursive(
    LEAF,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=25,
)
DOCUMENT = st.dictionaries(TEXT, TREE, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_yaml_round_trips(doc: dict[str, Any]) -> None:
    out = dump_yaml(doc)
    assert load_c(out) == doc, out
    assert load_py(out) == doc, out
    assert dump_yaml(doc) == out
    assert dump_yaml(dict(reversed(list(doc.items())))) == out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DOCUMENT, max_size=4))
def test_stream_and_json_round_trip(docs: list[dict[str, Any]]) -> None:
    stream = dump_yaml_stream(docs)
    assert list(yaml.load_all(stream, Loader=yaml.CSafeLoader)) == docs, stream
    out = dump_json_list(docs)
    assert json.loads(out) == {"apiVersion": "v1", "kind": "List", "items": docs}
    assert dump_json_list(docs) == out


_NAME_LIKE = st.from_regex(r"\A[a-z][a-z0-9._/-]{0,12}\Z") | st.sampled_from(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "e1", "o", "t"])


@settings(max_examples=2000)
@given(_NAME_LIKE)
def test_the_fast_path_for_names_decides_as_every_check_does(s: str) -> None:
    """`_is_plain_safe` answers names from a short list; the full checks (and a YAML reader) must agree."""
    from lattice import render

    assert render._is_plain_safe(s) == render._is_plain_safe_slow(s)
    assert yaml.safe_load(render.dump_yaml({"k": s}))["k"] == s
