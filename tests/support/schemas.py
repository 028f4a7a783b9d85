"""Schema validation harness: every object the compiler emits must pass a real schema.

Public API
----------
``validate_object(obj, *, extra_schemas=None) -> list[str]``
    Human-readable problems, ``"<Kind>/[<namespace>/]<name>: <JSON path>: <message>"``, e.g.
    ``"Deployment/shop/web: spec.template.spec.containers[0].bogus: unknown field ..."``;
    an empty list means valid. Raises :class:`UnknownKind` when no schema exists.
``assert_valid(objs, *, extra_schemas=None)``
    Validates every object and raises one ``AssertionError`` listing all problems (unknown kinds
    included, so an unknown kind is always a failure, never a silent pass).
``UnknownKind``
    No schema for an (apiVersion, kind).
``validator_for(api_version, kind)``
    The cached (``functools.lru_cache``) validator factory; ``validator_for.cache_info()`` shows
    that repeated validation of one kind builds its validator once.
``register_schema(api_version, kind, schema)``
    Hook for the repository's own CRDs (group ``lattice.dev``); ``extra_schemas`` does the same
    per call with a mapping ``{(apiVersion, kind): schema dict or Path}``.
``go_pattern_to_python(pattern)``
    CRD ``pattern``\\ s are Go RE2; the two constructs in the shared schemas that Python's ``re``
    rejects (``\\PC`` in Cilium, a mid-pattern ``(?i)`` in PrometheusRule) are translated.

Where schemas come from
-----------------------
* Core Kubernetes kinds: the *strict* schemas shipped inside ``kubernetes-validate``
  (``kubernetes-json-schema/v<K8S_VERSION>-local-strict``). Each kind file (``deployment-apps-v1.json``)
  is small and ``$ref``\\ s into one 1.8 MB ``_definitions.json`` (``$id``
  ``https://kubernetes.io/api/_definitions.json``). ``kubernetes_validate.validate()`` re-reads and
  re-parses that file for every object (~8 ms/object); here it is parsed once into a
  ``referencing.Registry`` and one Draft 2020-12 validator is built and cached per (apiVersion, kind).
  Strict schemas set ``additionalProperties: false`` everywhere, so unknown/misspelt fields fail.
  A file is only used if its ``x-kubernetes-group-version-kind`` matches the object's apiVersion and
  kind (the file-name mapping drops the group suffix, so ``policy.example.com/v1`` would otherwise
  alias ``policy/v1``).
* ``v1 List`` has no schema in the package: the envelope is checked here and each item is validated
  recursively (paths become ``items[3].spec...``).
* Custom resources: ``<schemas dir>/<group>/<kind-lowercase>_<version>.json`` (Draft 7, generated from
  the CRDs' ``openAPIV3Schema``). The schemas dir is ``$LATTICE_SCHEMAS_DIR`` or
  ``<repo>/../shared/schemas``. Those schemas only say ``metadata: {type: object}`` (the Istio ones
  do not mention metadata at all), so a custom resource's ``metadata`` is additionally validated
  against the strict core ``ObjectMeta`` schema.
* Every top-level object (and every List item) must have ``metadata.name`` or
  ``metadata.generateName``: the API server requires it, the schemas do not.

Format checking (the decision)
------------------------------
``format`` is only an annotation in JSON Schema unless a ``FormatChecker`` is passed, and
``jsonschema``'s stock ``FormatChecker`` does not help with these schemas: it knows none of the
OpenAPI formats the Kubernetes schemas actually use (``int32``, ``int64``, ``byte``, ``double``,
``cidr``; it silently passes them), and its ``date-time`` check silently passes unless the optional
``rfc3339-validator`` package is installed (it is not). Enabling it would give a false sense of
checking. Instead a small explicit :data:`FORMAT_CHECKER` asserts the formats that the API server
really enforces (for built-in types by decoding into Go types, for CRDs via kube-openapi's strfmt):

* ``int32`` / ``int64``: integer range (a Go ``int32`` field rejects 2**31);
* ``byte``: standard padded base64 (``Secret.data``, ``ConfigMap.binaryData``, CA bundles);
* ``date-time``: RFC 3339;
* ``ipv4`` / ``ipv6`` / ``cidr``: parsed with :mod:`ipaddress` (``cidr`` needs a ``/prefix``);
* ``quantity``: the schemas model ``resource.Quantity`` as "any string or number", so ``cpu: "lots"``
  would pass. The harness adds ``format: quantity`` to the string branch of the ``Quantity``
  definition (in its in-memory copy only) and checks the Kubernetes quantity grammar
  (``500m``, ``1.5Gi``, ``1e3``; not ``"500 m"`` or ``"1GB"``).

Any other format (``double``, ``idn-hostname``, ...) stays an annotation, as the spec says.
``int-or-string`` needs no format: core schemas model ``IntOrString`` as a ``oneOf`` of string and
integer, CRD schemas as ``anyOf`` integer/string with ``x-kubernetes-int-or-string``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "FORMAT_CHECKER",
    "K8S_VERSION",
    "UnknownKind",
    "assert_valid",
    "core_schemas_dir",
    "crd_schemas_dir",
    "format_path",
    "go_pattern_to_python",
    "register_schema",
    "validate_object",
    "validator_for",
]

#: Kubernetes version of the core schemas (override with ``LATTICE_K8S_VERSION``).
K8S_VERSION = os.environ.get("LATTICE_K8S_VERSION", "1.37.0")

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
_QUANTITY_DEF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_OBJECT_META_REF = f"{_DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META_REF = f"{_DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"

SchemaSource = Mapping[str, Any] | Path
ExtraSchemas = Mapping[tuple[str, str], SchemaSource]


class UnknownKind(LookupError):
    """No schema is known for an object's (apiVersion, kind): a failure, never a pass."""

    def __init__(self, api_version: str, kind: str, looked_in: Iterable[str] = ()) -> None:
        self.api_version = api_version
        self.kind = kind
        self.looked_in = list(looked_in)
        where = "; ".join(self.looked_in) or "nowhere"
        super().__init__(f"no schema for apiVersion={api_version!r} kind={kind!r} (looked in: {where})")


# --------------------------------------------------------------------------- formats

# Kubernetes quantity grammar (same as controller-gen's pattern for resource.Quantity).
_QUANTITY_RE = re.compile(
    r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))?$"
)
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@FORMAT_CHECKER.checks("int32")
def _check_int32(value: object) -> bool:
    return not _is_int(value) or -(2**31) <= value < 2**31  # type: ignore[operator]


@FORMAT_CHECKER.checks("int64")
def _check_int64(value: object) -> bool:
    return not _is_int(value) or -(2**63) <= value < 2**63  # type: ignore[operator]


@FORMAT_CHECKER.checks("byte")
def _check_byte(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@FORMAT_CHECKER.checks("date-time")
def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339_RE.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("ipv4")
def _check_ipv4(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("ipv6")
def _check_ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("cidr")
def _check_cidr(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("quantity")
def _check_quantity(value: object) -> bool:
    return not isinstance(value, str) or bool(_QUANTITY_RE.match(value))


# --------------------------------------------------------------------------- Go (RE2) patterns

# CRD schemas carry Go RE2 patterns; the API server evaluates them with Go, jsonschema with Python's
# ``re``. Two constructs in the shared schemas do not compile in Python: ``\\PC`` (Cilium: "not a
# Unicode control/format/private/surrogate character") and a mid-pattern global flag ``^(?i)(...)$``
# (PrometheusRule). Patterns are translated once, when a validator is built.


@functools.cache
def _unicode_other_ranges() -> str:
    """Go's ``\\pC`` (= Cc|Cf|Co|Cs; Go has no Cn table) as character-class ranges."""
    ranges, start = [], None
    for cp in range(sys.maxunicode + 2):
        inside = cp <= sys.maxunicode and unicodedata.category(chr(cp)) in ("Cc", "Cf", "Co", "Cs")
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{cp - 1:08x}")
            start = None
    return "".join(ranges)


def _go_end_anchors(pattern: str) -> str:
    """Go's `$` (without the `m` flag) matches only at the end of the text; Python's also before a final newline,
    so `^[a-z]+$` would accept `"abc\\n"` where the API server refuses it. Each `$` outside a character class
    becomes `\\Z`."""
    if "(?m" in pattern or "$" not in pattern:
        return pattern
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[start : start + 1] == "]":  # a `]` first in a class is literal
                start += 1
            out.append(pattern[i:start])
            i = start
            continue
        elif char == "$":
            char = "\\Z"
        out.append(char)
        i += 1
    return "".join(out)


def go_pattern_to_python(pattern: str) -> str:
    """Translate the RE2-only constructs found in the CRD schemas; raise re.error if still invalid."""
    translated = _go_end_anchors(pattern).replace("\\PC", f"[^{_unicode_other_ranges()}]").replace(
        "\\pC", f"[{_unicode_other_ranges()}]"
    )
    try:
        re.compile(translated)
    except re.error:
        # Go applies a mid-pattern ``(?i)`` from that point on; Python only allows scoped ``(?i:...)``.
        flag = re.search(r"\(\?([ims]+)\)", translated)
        if flag is None or flag.start() == 0:
            raise
        translated = f"{translated[: flag.start()]}(?{flag.group(1)}:{translated[flag.end() :]})"
        re.compile(translated)
    return translated


def _translate_patterns(node: Any) -> Any:
    """Deep copy of a schema with every ``pattern``/``patternProperties`` key made Python-compatible."""
    if isinstance(node, list):
        return [_translate_patterns(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = go_pattern_to_python(value)
        elif key == "patternProperties" and isinstance(value, Mapping):
            out[key] = {go_pattern_to_python(k): _translate_patterns(v) for k, v in value.items()}
        elif key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {k: _translate_patterns(v) for k, v in value.items()}  # names, not keywords
        else:
            out[key] = _translate_patterns(value)
    return out


# --------------------------------------------------------------------------- schema locations


def core_schemas_dir() -> Path:
    """The strict core-schema directory shipped with kubernetes-validate."""
    base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    path = Path(str(base)) / f"v{K8S_VERSION}-local-strict"
    if not path.is_dir():
        raise FileNotFoundError(f"kubernetes-validate has no strict schemas for Kubernetes {K8S_VERSION}")
    return path


def crd_schemas_dir() -> Path:
    """Custom-resource schemas: ``$LATTICE_SCHEMAS_DIR`` or ``<repo>/../shared/schemas``."""
    override = os.environ.get("LATTICE_SCHEMAS_DIR")
    return Path(override) if override else (_REPO_ROOT.parent / "shared" / "schemas").resolve()


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _core_file_name(api_version: str, kind: str) -> str:
    # kubernetes-validate's naming: drop the group's domain suffix, e.g.
    # rbac.authorization.k8s.io/v1 -> rbac-v1, apps/v1 -> apps-v1, v1 -> v1.
    suffix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{suffix}.json"


def _crd_file(api_version: str, kind: str) -> Path | None:
    group, version = _split_api_version(api_version)
    if not group:
        return None
    return crd_schemas_dir() / group / f"{kind.lower()}_{version}.json"


# --------------------------------------------------------------------------- validators


@functools.lru_cache(maxsize=1)
def _core_registry() -> Registry:
    """Parse ``_definitions.json`` once (the expensive part) and register it under its ``$id``."""
    with (core_schemas_dir() / "_definitions.json").open(encoding="utf-8") as fh:
        defs = json.load(fh)
    quantity = defs["$defs"][_QUANTITY_DEF]
    for branch in quantity.get("oneOf", []):
        types = branch.get("type")
        if types == "string" or (isinstance(types, list) and "string" in types):
            branch["format"] = "quantity"
    resource = Resource.from_contents(defs, default_specification=DRAFT202012)
    return Registry().with_resource(defs.get("$id", _DEFS_ID), resource)


def _load_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _compile(schema: Mapping[str, Any], default: type[jsonschema.protocols.Validator]) -> Any:
    cls = jsonschema.validators.validator_for(schema, default=default)
    cls.check_schema(schema)
    return cls(schema, registry=_core_registry(), format_checker=FORMAT_CHECKER)


@functools.lru_cache(maxsize=1)
def _object_meta_validator() -> Any:
    return _compile({"$ref": _OBJECT_META_REF}, jsonschema.Draft202012Validator)


@functools.lru_cache(maxsize=1)
def _list_validator() -> Any:
    return _compile(
        {
            "type": "object",
            "required": ["apiVersion", "kind", "items"],
            "additionalProperties": False,
            "properties": {
                "apiVersion": {"const": "v1"},
                "kind": {"const": "List"},
                "metadata": {"$ref": _LIST_META_REF},
                "items": {"type": "array", "items": {"type": "object"}},
            },
        },
        jsonschema.Draft202012Validator,
    )


class _Compiled:
    """A validator plus how the object's kind was resolved."""

    __slots__ = ("is_custom", "source", "validator")

    def __init__(self, validator: Any, source: str, is_custom: bool) -> None:
        self.validator = validator
        self.source = source
        self.is_custom = is_custom


_REGISTERED: dict[tuple[str, str], SchemaSource] = {}


def register_schema(api_version: str, kind: str, schema: SchemaSource) -> None:
    """Register a schema (dict, or Path to a JSON file) for e.g. a ``lattice.dev`` CRD."""
    _REGISTERED[(api_version, kind)] = schema
    validator_for.cache_clear()


def _compile_source(source: SchemaSource, label: str) -> _Compiled:
    schema = _load_json(source) if isinstance(source, Path) else source
    return _Compiled(_compile(_translate_patterns(schema), jsonschema.Draft7Validator), label, is_custom=True)


@functools.cache
def validator_for(api_version: str, kind: str) -> _Compiled:
    """Build (once per apiVersion/kind) the validator for a kind; raise UnknownKind if none."""
    if (api_version, kind) in _REGISTERED:
        return _compile_source(_REGISTERED[(api_version, kind)], "registered schema")

    looked_in = []
    core_file = core_schemas_dir() / _core_file_name(api_version, kind)
    looked_in.append(str(core_file))
    if core_file.is_file():
        schema = _load_json(core_file)
        group, version = _split_api_version(api_version)
        gvks = schema.get("x-kubernetes-group-version-kind", [])
        if {"group": group, "version": version, "kind": kind} in gvks:
            validator = _compile(schema, jsonschema.Draft202012Validator)
            return _Compiled(validator, core_file.name, is_custom=False)

    crd_file = _crd_file(api_version, kind)
    if crd_file is not None:
        looked_in.append(str(crd_file))
        if crd_file.is_file():
            return _compile_source(crd_file, f"{crd_file.parent.name}/{crd_file.name}")

    looked_in.append("register_schema()/extra_schemas")
    raise UnknownKind(api_version, kind, looked_in)


_EXTRA_CACHE: dict[int, tuple[SchemaSource, _Compiled]] = {}


def _resolve(api_version: str, kind: str, extra_schemas: ExtraSchemas | None) -> _Compiled:
    if extra_schemas and (api_version, kind) in extra_schemas:
        source = extra_schemas[(api_version, kind)]
        cached = _EXTRA_CACHE.get(id(source))
        if cached is None or cached[0] is not source:
            cached = (source, _compile_source(source, "extra_schemas"))
            _EXTRA_CACHE[id(source)] = cached
        return cached[1]
    return validator_for(api_version, kind)


# --------------------------------------------------------------------------- error formatting

_IDENT_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def format_path(parts: Iterable[object]) -> str:
    """``['spec', 'ports', 0, 'port']`` -> ``spec.ports[0].port`` (odd keys as ``["a.b/c"]``)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENT_RE.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "<root>"


def _unexpected_keys(error: jsonschema.exceptions.ValidationError) -> list[str]:
    instance, schema = error.instance, error.schema
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return []
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return sorted(k for k in instance if k not in known and not any(p.search(k) for p in patterns))


def _closest(errors: Iterable[jsonschema.exceptions.ValidationError]) -> Any:
    """Among a oneOf/anyOf's branch errors, prefer one from a branch whose *type* matched."""
    errors = list(errors)
    informative = [e for e in errors if e.validator != "type"]
    return jsonschema.exceptions.best_match(informative or errors)


def _messages(
    error: jsonschema.exceptions.ValidationError, prefix: tuple[object, ...]
) -> list[tuple[str, str]]:
    path = (*prefix, *error.absolute_path)
    if error.validator == "additionalProperties" and error.schema.get("additionalProperties") is False:
        extra = _unexpected_keys(error)
        if extra:
            reason = "unknown field (additionalProperties: false)"
            return [(format_path((*path, key)), reason) for key in extra]
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    if error.context:
        best = _closest(error.context)
        if best is not None:
            where = f"{format_path((*path, *best.relative_path))}: " if best.relative_path else ""
            message += f" [closest: {where}{best.message[:200]}]"
    return [(format_path(path), message)]


def _label(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    name = None
    if isinstance(meta, Mapping):
        name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else None)
        if name and meta.get("namespace"):
            name = f"{meta['namespace']}/{name}"
    return f"{obj.get('kind', '<no kind>')}/{name or '<no name>'}"


# --------------------------------------------------------------------------- public API


Problem = tuple[str, str, str]  # (Kind/name label, JSON path, message)


def _validate(obj: Any, extra_schemas: ExtraSchemas | None, prefix: tuple[object, ...]) -> list[Problem]:
    if not isinstance(obj, Mapping):
        return [("<not an object>", format_path(prefix), f"not an object: {type(obj).__name__}")]
    label = _label(obj)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        message = f"missing apiVersion/kind (apiVersion={api_version!r}, kind={kind!r})"
        return [(label, format_path(prefix), message)]

    problems: list[Problem] = []
    meta = obj.get("metadata")
    if api_version == "v1" and kind == "List" and not (extra_schemas and ("v1", "List") in extra_schemas):
        for error in _list_validator().iter_errors(obj):
            problems.extend((label, path, msg) for path, msg in _messages(error, prefix))
        items = obj.get("items")
        for index, item in enumerate(items if isinstance(items, list) else []):
            problems.extend(_validate(item, extra_schemas, (*prefix, "items", index)))
        return problems

    compiled = _resolve(api_version, kind, extra_schemas)
    for error in compiled.validator.iter_errors(obj):
        problems.extend((label, path, msg) for path, msg in _messages(error, prefix))
    if compiled.is_custom and isinstance(meta, Mapping):
        for error in _object_meta_validator().iter_errors(meta):
            problems.extend((label, path, msg) for path, msg in _messages(error, (*prefix, "metadata")))
    if not isinstance(meta, Mapping) or not (meta.get("name") or meta.get("generateName")):
        path = format_path((*prefix, "metadata", "name"))
        problems.append((label, path, "required: metadata.name (or generateName) is missing"))
    return problems


def validate_object(obj: Mapping[str, Any], *, extra_schemas: ExtraSchemas | None = None) -> list[str]:
    """Validate one manifest; return ``"<Kind>/<name>: <json path>: <message>"`` strings.

    For a ``v1 List`` the label is the item's and the path starts at the list (``items[2].spec...``).
    Raises :class:`UnknownKind` if no schema exists for the object's (apiVersion, kind) (also for a
    ``List`` item).
    """
    problems = _validate(obj, extra_schemas, ())
    return [f"{label}: {path}: {message}" for label, path, message in problems]


def assert_valid(objs: Iterable[Mapping[str, Any]], *, extra_schemas: ExtraSchemas | None = None) -> None:
    """Validate all objects; raise one AssertionError listing every problem and unknown kind."""
    problems: list[str] = []
    count = 0
    for index, obj in enumerate(objs):
        count += 1
        try:
            problems.extend(f"[{index}] {p}" for p in validate_object(obj, extra_schemas=extra_schemas))
        except UnknownKind as exc:
            label = _label(obj) if isinstance(obj, Mapping) else "<not an object>"
            problems.append(f"[{index}] {label}: {exc}")
    if problems:
        header = f"{len(problems)} schema problem(s) in {count} object(s):"
        raise AssertionError("\n  ".join([header, *problems]))
