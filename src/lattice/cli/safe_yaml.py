"""A safe, exact YAML reader for Lattice inputs: libyaml composes, a small builder here turns nodes into data.

Why not `yaml.safe_load`: it lets the last of two equal keys win silently (a reviewer reads one image, the
cluster gets the other), expands aliases without bound (a 1 KB "billion laughs" file became ~12 GiB and a
minute of work downstream), and turns 5,000-digit integers, dates and `!!binary` into tracebacks or Python
types nothing downstream expects. The builder refuses each of those with the line of the node at fault.

What a scalar means (YAML 1.1 as PyYAML resolves it, with two deliberate differences):

- timestamps (`2024-01-01`) stay the text as written, which is what Kubernetes reads: sigs.k8s.io/yaml decodes
  into `interface{}` with its go-yaml v2 fork (`goyaml.v2`, based on v2.4.0), whose `d.scalar` sets a
  timestamp-looking scalar decoded into `interface{}` as the string, for backward compatibility (the
  `yaml_TIMESTAMP_TAG` case, quoted in go-yaml/yaml issue #405);
- integers must fit in 64 bits (Kubernetes' JSON numbers are int64); longer ones are refused before Python
  parses them, so no 5,000-digit conversion is attempted.

`yes`/`no`/`on`/`off` are booleans, as in go-yaml v2 (which sigs.k8s.io/yaml uses): a bare `on:` key is a
boolean, not text, so it is refused with a hint to quote it rather than read differently from the cluster.

Aliases are bounded like go-yaml's answer to CVE-2019-11253 (billion laughs against kube-apiserver): go-yaml's
`decode.go` counts values decoded through aliases and fails with "document contains excessive aliasing" when
their share exceeds `allowedAliasRatio`. Here values reached through aliases may not outnumber the values
written, beyond a fixed allowance. Shared nodes are built once, so the check costs nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Parser: Any = getattr(yaml, "CParser", None) or getattr(yaml.cyaml, "CParser", None)
if _Parser is None:  # PyYAML built without libyaml: the same steps in Python (slower, same nodes)
    from yaml.composer import Composer as _PyComposer
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader as _PyReader
    from yaml.scanner import Scanner as _PyScanner

    class _PurePython(_PyReader, _PyScanner, _PyParser, _PyComposer):
        def __init__(self, stream: str) -> None:
            _PyReader.__init__(self, stream)
            _PyScanner.__init__(self)
            _PyParser.__init__(self)
            _PyComposer.__init__(self)

    _Parser = _PurePython

MAX_DEPTH = 100
"""Kubernetes objects nest a few dozen levels at most; deeper input is an attack or a mistake."""
ALIAS_ALLOWANCE = 10_000
"""Values reached through aliases beyond those written; more is refused as excessive aliasing."""
INT64 = (-(1 << 63), (1 << 63) - 1)

_TAG = "tag:yaml.org,2002:"
STR, MAP, SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_INT, _FLOAT, _BOOL, _NULL = _TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"
_TIMESTAMP, _MERGE, _VALUE, _BINARY = _TAG + "timestamp", _TAG + "merge", _TAG + "value", _TAG + "binary"
_TEXT_TAGS = frozenset({STR, _TIMESTAMP, _VALUE})
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


_RESOLVED: dict[str, str] = {}
_RESOLVED_LIMIT = 200_000
_BASE_RESOLVE: Any = yaml.resolver.Resolver.resolve


class Composer(_Parser, yaml.resolver.Resolver):  # type: ignore[misc]
    """libyaml's parser and composer (C) with PyYAML's YAML 1.1 resolver: nodes with marks, nothing built.

    The resolver's answer for a plain scalar depends only on its text, and fleets repeat the same texts
    (`type`, `service`, `8080`) thousands of times, so answers are remembered; path resolvers are never used.
    That took a fifth off reading a fleet."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        yaml.resolver.Resolver.__init__(self)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not ScalarNode:
            return SEQ if kind is SequenceNode else MAP
        if not implicit[0]:  # quoted, or tagged: a string unless a tag says otherwise
            return STR
        tag = _RESOLVED.get(value)
        if tag is None:
            if len(_RESOLVED) >= _RESOLVED_LIMIT:
                _RESOLVED.clear()
            tag = _RESOLVED[value] = _BASE_RESOLVE(self, kind, value, implicit)
        return tag


class YamlProblem(Exception):
    """A node the builder refuses; `key_of` is set when the problem is a mapping key (its path is the key)."""

    def __init__(self, node: Node, message: str, hint: str, key_of: Node | None = None) -> None:
        super().__init__(message)
        self.node, self.message, self.hint, self.key_of = node, message, hint, key_of


class _Builder:
    """Builds one document. Collections reached twice (aliases) are built once and shared."""

    __slots__ = ("_built", "_busy", "_through_aliases", "_written")

    def __init__(self) -> None:
        self._built: dict[int, tuple[Any, int]] = {}  # id(node) -> (value, values inside it)
        self._busy: set[int] = set()
        self._written = 0
        self._through_aliases = 0

    def build(self, node: Node, depth: int = 0) -> Any:
        if type(node) is ScalarNode:
            self._written += 1
            return _scalar(node)
        key = id(node)
        seen = self._built.get(key)
        if seen is not None:
            self._through_aliases += seen[1]
            if self._through_aliases > self._written + ALIAS_ALLOWANCE:
                raise YamlProblem(node, "the document expands its aliases to more values than it writes out "
                                        f"(more than {ALIAS_ALLOWANCE:,} extra)",
                                  "write the values out, or use fewer nested aliases")
            return seen[0]
        if key in self._busy:
            raise YamlProblem(node, "this value contains an alias to itself (a recursive alias)",
                              "remove the alias inside the anchored value")
        if depth >= MAX_DEPTH:
            raise YamlProblem(node, f"the value is nested more than {MAX_DEPTH} levels deep",
                              "flatten it; no Kubernetes object nests this deep")
        self._busy.add(key)
        before = self._written + self._through_aliases
        value = self._mapping(node, depth) if type(node) is MappingNode else self._sequence(node, depth)
        self._busy.discard(key)
        self._written += 1
        self._built[key] = (value, self._written + self._through_aliases - before)
        return value

    # `_sequence` and `_mapping` build scalar children inline, counting them as `build` does: most nodes are
    # scalars, and the call per node was a third of reading a fleet.

    def _sequence(self, node: Node, depth: int) -> list[Any]:
        if node.tag != SEQ:
            raise _unsupported_tag(node)
        out: list[Any] = []
        for item in node.value:
            if type(item) is ScalarNode:
                self._written += 1
                out.append(item.value if item.tag in _TEXT_TAGS else _scalar(item))
            else:
                out.append(self.build(item, depth + 1))
        return out

    def _mapping(self, node: Node, depth: int) -> dict[str, Any]:
        if node.tag != MAP:
            raise _unsupported_tag(node)
        out: dict[str, Any] = {}
        merged: list[dict[str, Any]] = []
        for key_node, value_node in node.value:
            if type(key_node) is ScalarNode and key_node.tag in _TEXT_TAGS:  # what `_key` returns at once
                key = key_node.value
                self._written += 1
            elif key_node.tag == _MERGE and type(key_node) is ScalarNode:
                merged.extend(self._merge_sources(node, value_node, depth))
                continue
            else:
                key = self._key(node, key_node)
            if key in out:
                raise _duplicate(node, key_node, key)
            if type(value_node) is ScalarNode:
                self._written += 1
                out[key] = value_node.value if value_node.tag in _TEXT_TAGS else _scalar(value_node)
            else:
                out[key] = self.build(value_node, depth + 1)
        for source in merged:  # `<<: *base`: keys written here win, then earlier merge sources
            for key, value in source.items():
                out.setdefault(key, value)
        return out

    def _key(self, mapping: Node, key_node: Node) -> str:
        if type(key_node) is not ScalarNode:
            raise YamlProblem(key_node, "a key must be text, not a mapping or a list", "write a plain text key",
                              key_of=mapping)
        key = _scalar(key_node)
        if type(key) is not str:
            what = {bool: "a boolean", type(None): "null", int: "a number", float: "a number"}[type(key)]
            raise YamlProblem(key_node, f"the key `{key_node.value}` is read as {what}, not as text",
                              f'quote it: `"{key_node.value}":`', key_of=mapping)
        self._written += 1
        return key

    def _merge_sources(self, mapping: Node, value_node: Node, depth: int) -> list[dict[str, Any]]:
        sources = value_node.value if type(value_node) is SequenceNode else [value_node]
        out = []
        for source in sources:
            if type(source) is not MappingNode:
                raise YamlProblem(source, "`<<` merges mappings only", "merge a mapping (`<<: *anchor`) or a "
                                  "list of mappings", key_of=None)
            out.append(self.build(source, depth + 1))
        return out


def _scalar(node: Node) -> Any:
    tag, text = node.tag, node.value
    if tag in _TEXT_TAGS:
        return text
    if tag == _INT:
        return _integer(node, text)
    if tag == _BOOL:
        return _BOOLS[text.lower()]
    if tag == _NULL:
        return None
    if tag == _FLOAT:
        return _float(text)
    if tag == _MERGE:
        return text  # `<<` as a value is just text
    if tag == _BINARY:
        raise YamlProblem(node, "`!!binary` values are not supported",
                          "write the base64 text as a plain string")
    raise _unsupported_tag(node)


def _integer(node: Node, text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    digits = digits.lstrip("+-")
    if len(digits) > 70:  # 64 binary digits plus a prefix: anything longer cannot fit in 64 bits
        raise _out_of_range(node, text)
    if digits == "0":
        value = 0
    elif digits.startswith("0b"):
        value = int(digits[2:], 2)
    elif digits.startswith("0x"):
        value = int(digits[2:], 16)
    elif digits[0] == "0":
        value = int(digits, 8)
    elif ":" in digits:  # YAML 1.1 sexagesimal, e.g. 1:30 = 90
        value = 0
        for part in digits.split(":"):
            value = value * 60 + int(part)
    else:
        value = int(digits)
    value *= sign
    if not INT64[0] <= value <= INT64[1]:
        raise _out_of_range(node, text)
    return value


def _float(text: str) -> float:
    value = text.replace("_", "").lower()
    sign = -1.0 if value[0] == "-" else 1.0
    value = value.lstrip("+-")
    if value == ".inf":
        return sign * float("inf")
    if value == ".nan":
        return float("nan")
    if ":" in value:
        total = 0.0
        for part in value.split(":"):
            total = total * 60 + float(part)
        return sign * total
    return sign * float(value)


def _out_of_range(node: Node, text: str) -> YamlProblem:
    shown = text if len(text) <= 40 else f"{text[:20]}…{text[-6:]} ({len(text)} characters)"
    return YamlProblem(node, f"the number {shown} does not fit in 64 bits, as Kubernetes numbers must",
                       "write a smaller number, or quote it if you meant text")


def _unsupported_tag(node: Node) -> YamlProblem:
    return YamlProblem(node, f"the tag `{node.tag}` is not supported",
                       "remove the tag; Lattice reads plain YAML values (text, numbers, booleans, null, lists, "
                       "mappings)")


def _duplicate(mapping: Node, key_node: Node, key: str) -> YamlProblem:
    first = next(k for k, _ in mapping.value if type(k) is ScalarNode and k.value == key_node.value)
    return YamlProblem(key_node, f"the key `{key}` is written twice (first at line {first.start_mark.line + 1}); "
                       "YAML readers disagree on which one counts", "keep exactly one of them", key_of=mapping)


def build_document(node: Node) -> Any:
    """The data of one composed document; raises YamlProblem for what Lattice refuses."""
    try:
        return _Builder().build(node)
    except RecursionError:  # cannot happen below MAX_DEPTH; kept so a pathological input is never a traceback
        raise YamlProblem(node, f"the value is nested more than {MAX_DEPTH} levels deep",
                          "flatten it; no Kubernetes object nests this deep") from None


def compose_documents(text: str) -> Iterator[Node]:
    """Every document's root node, in order; raises yaml.YAMLError on a syntax error."""
    composer: Any = Composer(text)
    try:
        while composer.check_node():
            yield composer.get_node()
    finally:
        composer.dispose()


def path_to(root: Node, target: Node) -> list[str | int] | None:
    """The shortest data path of `target` inside `root` (for an aliased node, usually where it is anchored).
    Slow, breadth-first: used only to report a problem."""
    queue: deque[tuple[Node, list[str | int]]] = deque([(root, [])])
    seen: set[int] = set()
    while queue:
        node, path = queue.popleft()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is MappingNode:
            for key, value in node.value:
                queue.append((value, [*path, str(key.value) if type(key) is ScalarNode else "?"]))
        elif type(node) is SequenceNode:
            for index, item in enumerate(node.value):
                queue.append((item, [*path, index]))
    return None
