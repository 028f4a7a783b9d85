"""A SecretProvider's `provider` block checked against External Secrets' own schema before it is copied out.

The block passes through to the ClusterSecretStore as written, so a typo (`sever:` for `server:`) would
otherwise surface only when the API server rejects the store, far from the file that holds it. The package
ships the structural part of ESO's ClusterSecretStore v1 `spec.provider` schema (eso_provider_schema.json,
trimmed from the upstream CRD by tests/support/provider_schema.py, which also checks it has not drifted), and
this module checks the few JSON-Schema keywords that part uses. CEL rules (`x-kubernetes-validations`) are not
checked; the API server still does.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from lattice.errors import Problem, join_path

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "integer": (int,),
    "number": (int, float),
}
_NAMES = {"object": "a mapping", "array": "a list", "string": "text", "boolean": "true or false",
          "integer": "a whole number", "number": "a number"}


@cache
def provider_schema() -> dict[str, Any]:
    """The shipped schema (package data, read once)."""
    text = resources.files("lattice.api").joinpath("eso_provider_schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check_provider(provider: dict[str, Any]) -> list[Problem]:
    """Every place where `provider` departs from the schema, with paths below `provider`."""
    out: list[Problem] = []
    _check(provider, provider_schema(), [], out)
    return out


def _check(value: Any, schema: dict[str, Any], path: list[str | int], out: list[Problem]) -> None:
    kind = schema.get("type")
    where = join_path(*path)
    if kind is not None and not _is(value, kind):
        out.append(Problem(where, f"expected {_NAMES.get(kind, kind)}, got {_shown(value)}",
                           f"write {_NAMES.get(kind, kind)} here"))
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"])
        out.append(Problem(where, f"`{value}` is not allowed here", f"write one of: {allowed}"))
    if isinstance(value, str):
        _check_text(value, schema, where, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(Problem(where, f"{value} is too small (the minimum is {schema['minimum']})",
                               f"write a value of at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(Problem(where, f"{value} is too large (the maximum is {schema['maximum']})",
                               f"write a value of at most {schema['maximum']}"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _check(item, schema["items"], [*path, index], out)
    elif isinstance(value, dict):
        _check_mapping(value, schema, path, out)


def _check_text(value: str, schema: dict[str, Any], where: str, out: list[Problem]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(Problem(where, "must not be empty" if schema["minLength"] == 1 else
                           f"is shorter than {schema['minLength']} characters", "write a value"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(Problem(where, f"is longer than {schema['maxLength']} characters", "shorten it"))
    if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        out.append(Problem(where, f"`{value}` does not match the pattern `{schema['pattern']}`",
                           "write a value of that form"))


def _check_mapping(value: dict[str, Any], schema: dict[str, Any], path: list[str | int],
                   out: list[Problem]) -> None:
    fields: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for name, item in value.items():
        if name in fields:
            _check(item, fields[name], [*path, name], out)
        elif isinstance(extra, dict):
            _check(item, extra, [*path, name], out)
        elif extra is False:
            close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else \
                f"remove it; fields allowed here: {', '.join(sorted(fields))}"
            out.append(Problem(join_path(*path, name), f"unknown field `{name}`", hint))
    for name in schema.get("required", []):
        if name not in value:
            out.append(Problem(join_path(*path, name), f"required field `{name}` is missing",
                               f"add `{name}:` (External Secrets requires it)"))
    count = len(value)
    if "minProperties" in schema and count < schema["minProperties"]:
        out.append(Problem(join_path(*path), f"needs at least {schema['minProperties']} field(s)", "add one"))
    if "maxProperties" in schema and count > schema["maxProperties"]:
        out.append(Problem(join_path(*path), f"takes at most {schema['maxProperties']} field(s), found {count}",
                           "keep one"))


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number", "string", "array", "object") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(kind, (object,)))


def _shown(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number",
             type(None): "nothing"}
    name = names.get(type(value), type(value).__name__)
    return name if isinstance(value, dict | list) or value is None else f"{name} `{value}`"
