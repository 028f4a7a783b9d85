"""Fast, deterministic YAML and JSON serialization of compiled Kubernetes objects.

Why this module exists: the compiler emits tens of thousands of plain dict/list
trees (``str``/``int``/``float``/``bool``/``None`` leaves, ``str`` keys) and they
have to be written out quickly. PyYAML's ``CSafeDumper`` only moves the *emitter*
to C; its representer and serializer (the walk over the Python objects, node
construction, implicit-tag resolution) stay pure Python, which measured at
~1.7 ms per service. The data here is so restricted that a direct, hand-written
emitter with memoized scalar rendering is several times faster, and it is
deterministic by construction. ``bench/serialize.py`` holds the measurement
(PyYAML C dumper vs this emitter vs rapidyaml).

Output style (stable; tests pin it):

* block style, keys sorted exactly like ``yaml.dump(sort_keys=True)``,
  two-space indentation, sequences indented like kubectl (``key:\\n- a``);
* plain scalars wherever YAML 1.1 (PyYAML's resolver, go-yaml v2) and YAML 1.2
  both read them back as the same string, else double-quoted with escapes;
* multi-line strings as literal block scalars (``|``, ``|-``, ``|+``) when that
  round-trips exactly, else double-quoted;
* empty mappings/sequences as ``{}``/``[]``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson
import yaml.resolver

__all__ = ["dump_json_list", "dump_yaml", "dump_yaml_stream"]

# --------------------------------------------------------------------------- scalars

# A conservative plain-scalar shape: ASCII only, a safe first character (no YAML
# indicator, no leading space), no tabs or control characters, no trailing space
# and no trailing ':'. ": " and " #" are excluded separately.
_PLAIN_SHAPE: Final = re.compile(r"(?:[A-Za-z0-9_/$(]|-[A-Za-z0-9_/-]|\.[A-Za-z0-9_/])[\x20-\x7e]*")
_NOT_PLAIN_TAIL: Final = re.compile(r"[ :]\Z")

# Strings that some YAML reader would resolve to a non-string when plain.
_YAML12_NON_STR: Final = re.compile(
    r"""(?x)
      null | Null | NULL | ~
    | true | True | TRUE | false | False | FALSE
    | [-+]? [0-9]+
    | 0o [0-7]+ | 0x [0-9a-fA-F]+
    | [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    | [-+]? \. ( inf | Inf | INF ) | \. ( nan | NaN | NAN )
    """
)
_YAML11_EXTRA_NON_STR: Final = re.compile(
    r"""(?x)
      y | Y | n | N | yes | Yes | YES | no | No | NO | on | On | ON | off | Off | OFF
    | [-+]? ( [0-9] [0-9_]* )? \. [0-9.]* ( [eE] [-+] [0-9]+ )?   # YAML 1.1 spec float (e.g. 1.2.3)
    | [-+]? 0b [01_]+ | [-+]? 0 [0-7_]+ | [-+]? 0x [0-9a-fA-F_]+ | [-+]? [0-9][0-9_]*
    | [-+]? [1-9] [0-9_]* ( : [0-5]? [0-9] )+ ( \. [0-9_]* )?   # sexagesimal
    | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2} .*                          # timestamps
    | = | <<
    """
)

_RESOLVER: Final = yaml.resolver.Resolver()
_STR_TAG: Final = "tag:yaml.org,2002:str"
_PLAIN_IMPLICIT: Final = (True, False)

_ESCAPES: Final[dict[str, str]] = {
    "\0": "\\0",
    "\x07": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\x0b": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
# Everything a double-quoted scalar must (or, for readability/safety, should) escape.
_NEEDS_ESCAPE: Final = re.compile('["\\\\\x00-\x1f\x7f-\xa0\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')

# Characters that forbid a literal block scalar (anything escaped above except
# '\n' and '\t', which literal blocks carry verbatim).
_NOT_BLOCK_SAFE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
)
_TRAILING_WS: Final = re.compile(r"[ \t](?:\n|\Z)")

# Longer keys cannot be implicit ("simple") keys; they get "? key\n: value".
_MAX_SIMPLE_KEY: Final = 1000
_CACHE_LIMIT: Final = 500_000
_ORJSON_OPTS: Final = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    esc = _ESCAPES.get(ch)
    if esc is not None:
        return esc
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}"


def _double_quoted(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


# Most strings compiled are names, hosts and label keys: lowercase, digits, `.`, `_`, `/`, `-`, starting with a
# letter. Of those, exactly these words resolve to a non-string (YAML 1.1 booleans and null, YAML 1.2 booleans
# and null); every other one passes each check below (tests/test_render.py compares the two on random names).
_SIMPLE: Final = re.compile(r"[a-z][a-z0-9._/-]*")
_SIMPLE_NON_STR: Final = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _is_plain_safe(s: str) -> bool:
    if _SIMPLE.fullmatch(s) is not None:
        return s not in _SIMPLE_NON_STR
    return _is_plain_safe_slow(s)


def _is_plain_safe_slow(s: str) -> bool:
    if _PLAIN_SHAPE.fullmatch(s) is None or _NOT_PLAIN_TAIL.search(s) is not None:
        return False
    if ": " in s or " #" in s or s.startswith("---"):
        return False
    if _YAML12_NON_STR.fullmatch(s) is not None or _YAML11_EXTRA_NON_STR.fullmatch(s) is not None:
        return False
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, s, _PLAIN_IMPLICIT)  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


def _is_block_safe(s: str) -> bool:
    """Whether ``s`` (which contains a newline) round-trips as a literal block scalar."""
    if s.strip(" \n") == "" or _NOT_BLOCK_SAFE.search(s) is not None:
        return False
    return _TRAILING_WS.search(s) is None


def _render_single(s: str) -> str:
    """Single-line rendering of a string: plain if safe, else double-quoted."""
    return s if _is_plain_safe(s) else _double_quoted(s)


# str -> single-line rendering, or "" meaning "emit as a literal block scalar".
_VALUE_CACHE: dict[str, str] = {}
# str -> rendered key (without the ':').
_KEY_CACHE: dict[str, str] = {}
# str -> (block header such as "|-" or "|2", body lines without indentation).
_BLOCK_CACHE: dict[str, tuple[str, list[str]]] = {}


def _value_scalar(s: str) -> str:
    r = _VALUE_CACHE.get(s)
    if r is None:
        if len(_VALUE_CACHE) > _CACHE_LIMIT:
            _VALUE_CACHE.clear()
        r = "" if "\n" in s and _is_block_safe(s) else _render_single(s)
        _VALUE_CACHE[s] = r
    return r


def _key_scalar(k: object) -> str:
    if type(k) is not str:
        if isinstance(k, str):
            k = str(k)
        else:
            raise TypeError(f"mapping keys must be str, got {type(k).__name__}: {k!r}")
    r = _KEY_CACHE.get(k)
    if r is None:
        if len(_KEY_CACHE) > _CACHE_LIMIT:
            _KEY_CACHE.clear()
        r = _render_single(k)
        _KEY_CACHE[k] = r
    return r


def _block_parts(s: str) -> tuple[str, list[str]]:
    parts = _BLOCK_CACHE.get(s)
    if parts is None:
        if len(_BLOCK_CACHE) > _CACHE_LIMIT:
            _BLOCK_CACHE.clear()
        if s.endswith("\n\n"):
            chomp = "+"
        elif s.endswith("\n"):
            chomp = ""
        else:
            chomp = "-"
        # An explicit indentation indicator when the content would otherwise fool
        # indentation auto-detection (leading space, tab or empty lines; libyaml
        # rejects a tab where it is still looking for the indentation).
        indicator = "2" if s[0] in " \t\n" else ""
        body = s[:-1] if s.endswith("\n") else s
        parts = ("|" + indicator + chomp, body.split("\n"))
        _BLOCK_CACHE[s] = parts
    return parts


def _emit_block(s: str, indent: str, out: list[str]) -> None:
    """Append `` |...\\n`` and the indented body (the caller already wrote ``key:`` or ``-``)."""
    header, lines = _block_parts(s)
    out.append(" " + header + "\n")
    out.extend([indent + line + "\n" if line else "\n" for line in lines])


def _float_scalar(f: float) -> str:
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    r = repr(f)
    if "." not in r:
        # PyYAML's YAML 1.1 float needs a '.': 1e+16 -> 1.0e+16
        mant, _, exp = r.partition("e")
        r = mant + ".0" + ("e" + exp if exp else "")
    return r


def _other_scalar(v: object) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return _float_scalar(v)
    if isinstance(v, str):
        return _render_single(str(v))
    raise TypeError(f"cannot serialize {type(v).__name__}: {v!r}")


# --------------------------------------------------------------------------- emitter


_SCALARS: Final = frozenset({int, float, bool, type(None)})
# str -> rendered key followed by ": " (keys of at most _MAX_SIMPLE_KEY characters only).
_KEY_COLON: Final[dict[str, str]] = {}
# str -> single-line rendering followed by "\n", or "" meaning "emit as a literal block scalar".
_VALUE_LINE: Final[dict[str, str]] = {}


def _key_colon(k: object) -> str | None:
    """`key: ` for a simple key; None for a key too long to be one (written `? key` then `: value`)."""
    ks = _key_scalar(k)
    if len(ks) > _MAX_SIMPLE_KEY:
        return None
    if len(_KEY_COLON) > _CACHE_LIMIT:
        _KEY_COLON.clear()
    _KEY_COLON[k] = kc = ks + ": "  # type: ignore[index]
    return kc


def _value_line(s: str) -> str:
    r = _value_scalar(s)
    line = r + "\n" if r else ""
    if len(_VALUE_LINE) > _CACHE_LIMIT:
        _VALUE_LINE.clear()
    _VALUE_LINE[s] = line
    return line


def _emit_mapping(m: Mapping[str, Any], indent: str, first: str, out: list[str]) -> None:
    """Emit a non-empty mapping whose keys start at column ``len(indent)``.

    ``first`` replaces ``indent`` before the first key (e.g. ``"- "`` in a sequence);
    it always has the same width as ``indent``.

    The hot loop of rendering: the exact types the compiler emits are tested first (an ``isinstance`` against
    an ABC costs several times more), and each key's ``key: `` and each string's rendered line are cached.
    """
    prefix = first
    child = indent + "  "
    append = out.append
    for k in sorted(m):
        v = m[k]
        kc = _KEY_COLON.get(k)
        if kc is None:
            kc = _key_colon(k)
            if kc is None:  # a long key: "? key" on its own line, then ": value"
                append(prefix + "? " + _key_scalar(k) + "\n")
                prefix = indent
                kc = ": "
        t = type(v)
        if t is str:
            line = _VALUE_LINE.get(v)
            if line is None:
                line = _value_line(v)
            if line:
                append(prefix + kc + line)
            else:
                append(prefix + kc[:-1])
                _emit_block(v, child, out)
        elif t is dict:
            if v:
                append(prefix + kc[:-1] + "\n")
                _emit_mapping(v, child, child, out)
            else:
                append(prefix + kc + "{}\n")
        elif t is list:
            if v:
                append(prefix + kc[:-1] + "\n")
                _emit_sequence(v, indent, indent, out)
            else:
                append(prefix + kc + "[]\n")
        elif t in _SCALARS:
            append(prefix + kc + _other_scalar(v) + "\n")
        elif isinstance(v, Mapping):
            _emit_mapping({k: dict(v)}, indent, prefix, out)
        elif isinstance(v, Sequence) and not isinstance(v, str | bytes):
            _emit_mapping({k: list(v)}, indent, prefix, out)
        else:
            append(prefix + kc + _other_scalar(v) + "\n")
        prefix = indent


def _emit_sequence(seq: Sequence[Any], indent: str, first: str, out: list[str]) -> None:
    """Emit a non-empty sequence whose dashes sit at column ``len(indent)``."""
    prefix = first
    child = indent + "  "
    append = out.append
    for v in seq:
        t = type(v)
        if t is str:
            line = _VALUE_LINE.get(v)
            if line is None:
                line = _value_line(v)
            if line:
                append(prefix + "- " + line)
            else:
                append(prefix + "-")
                _emit_block(v, child, out)
        elif t is dict:
            if v:
                _emit_mapping(v, child, prefix + "- ", out)
            else:
                append(prefix + "- {}\n")
        elif t is list:
            if v:
                _emit_sequence(v, child, prefix + "- ", out)
            else:
                append(prefix + "- []\n")
        elif t in _SCALARS:
            append(prefix + "- " + _other_scalar(v) + "\n")
        elif isinstance(v, Mapping):
            _emit_sequence([dict(v)], indent, prefix, out)
        elif isinstance(v, Sequence) and not isinstance(v, str | bytes):
            _emit_sequence([list(v)], indent, prefix, out)
        else:
            append(prefix + "- " + _other_scalar(v) + "\n")
        prefix = indent


def _emit_document(obj: Mapping[str, Any], out: list[str]) -> None:
    if not isinstance(obj, Mapping):
        raise TypeError(f"a document must be a mapping, got {type(obj).__name__}")
    if obj:
        _emit_mapping(obj, "", "", out)
    else:
        out.append("{}\n")


# --------------------------------------------------------------------------- public API


def dump_yaml(obj: Mapping[str, Any]) -> str:
    """Serialize one mapping as a single block-style YAML document (no ``---``)."""
    out: list[str] = []
    _emit_document(obj, out)
    return "".join(out)


def dump_yaml_stream(objs: Iterable[Mapping[str, Any]]) -> str:
    """Serialize mappings as a multi-document YAML stream, documents separated by ``---``."""
    out: list[str] = []
    for i, obj in enumerate(objs):
        if i:
            out.append("---\n")
        _emit_document(obj, out)
    return "".join(out)


def dump_json_list(objs: Iterable[Mapping[str, Any]]) -> str:
    """Serialize mappings as a Kubernetes ``v1`` ``List`` in JSON (sorted keys, indent 2, final newline).

    orjson does the work (about 18x faster than ``json.dumps(indent=2)``, which is
    slower than the YAML emitter above); what orjson refuses (integers beyond 64
    bits, lone surrogates) falls back to the stdlib with the same layout. Note
    that orjson writes non-finite floats as ``null``; the stdlib fallback rejects them.
    """
    doc = {"apiVersion": "v1", "items": list(objs), "kind": "List"}
    try:
        return orjson.dumps(doc, option=_ORJSON_OPTS).decode() + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
