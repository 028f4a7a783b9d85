"""Turn a YAML document into a typed Lattice object, or into problems a user can act on.

Pydantic's raw errors name Python types; users need the field path as they wrote it, what is wrong
and what to write instead. This module is that translation.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from lattice.api.base import GROUP_VERSION, Resource
from lattice.api.cedar_policy import CedarPolicy
from lattice.api.image_provider import ImageProvider
from lattice.api.job import LatticeJob
from lattice.api.mesh_member import LatticeMeshMember
from lattice.api.model import LatticeModel
from lattice.api.platform import LatticePlatform
from lattice.api.quota import LatticeQuota
from lattice.api.secret_provider import SecretProvider
from lattice.api.service import LatticeService
from lattice.errors import LatticeError, Problem, internal_error, join_path

KINDS: dict[str, type[Resource]] = {
    cls.KIND: cls
    for cls in (
        LatticeService,
        LatticeMeshMember,
        LatticeJob,
        LatticeModel,
        CedarPolicy,
        LatticeQuota,
        SecretProvider,
        ImageProvider,
        LatticePlatform,
    )
}


def is_lattice_document(doc: Mapping[str, Any]) -> bool:
    """Whether a document claims to be ours (its apiVersion is in the lattice.dev group)."""
    api_version = doc.get("apiVersion")
    return isinstance(api_version, str) and api_version.split("/")[0] == GROUP_VERSION.split("/")[0]


def parse_resource(doc: Any) -> Resource:
    """Validate one document into its kind's model; raise LatticeError listing every problem."""
    if not isinstance(doc, Mapping):
        raise LatticeError.one("", f"a document must be a mapping, got {_type_name(doc)}",
                               "write `apiVersion`, `kind`, `metadata` and `spec` keys")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind is None:
        raise LatticeError.one("kind", "required field `kind` is missing",
                               f"add `kind:` with one of: {', '.join(sorted(KINDS))}")
    if api_version != GROUP_VERSION:
        raise LatticeError.one("apiVersion", f"unsupported apiVersion `{api_version}`", f"write `{GROUP_VERSION}`")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        close = _close_kind(str(kind))
        hint = f"did you mean `{close}`?" if close else f"use one of: {', '.join(sorted(KINDS))}"
        raise LatticeError.one("kind", f"unknown kind `{kind}`", hint)
    try:
        resource = model.model_validate(doc)
    except ValidationError as exc:
        raise LatticeError([_problem(model, err) for err in exc.errors(include_url=False)]) from None
    except Exception as exc:  # a bug in a check must cost this document, never the others
        raise LatticeError([internal_error(f"reading this {model.KIND}", exc)]) from None
    if not model.NAMESPACED and resource.metadata.namespace:
        raise LatticeError.one("metadata.namespace", f"{model.KIND} is cluster-scoped and takes no namespace",
                               "remove `metadata.namespace`")
    return resource


def _close_kind(kind: str) -> str | None:
    """The kind `kind` is most likely a misspelling of, if any.

    Most kinds share the prefix `Lattice`, which alone makes any `Lattice…` word look close to all of them
    (`LatticeRoute` to `LatticeQuota`): the part after the prefix must be close too, or the whole name nearly
    equal (a typo in the prefix itself, `LaticeService`)."""
    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()

    def stem(name: str) -> str:
        return name.lower().removeprefix("lattice")

    scored = [(max(ratio(stem(kind), stem(k)) / 0.75, ratio(kind.lower(), k.lower()) / 0.9), k) for k in KINDS]
    best, name = max(scored)
    return name if best >= 1 else None


def _problem(root: type[BaseModel], err: Any) -> Problem:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    loc = [seg for seg in err["loc"] if seg != "[key]"] + list(ctx.get("loc", []) if kind == "lattice" else [])
    path = join_path(*loc)
    if kind == "lattice":
        return Problem(path, err["msg"], ctx.get("hint", ""))
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc[:-1])
        field = str(loc[-1])
        close = difflib.get_close_matches(field, allowed, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"remove it; fields allowed here: {', '.join(allowed)}"
        return Problem(path, f"unknown field `{field}`", hint)
    if kind == "missing":
        field = str(loc[-1])
        example = _MISSING_EXAMPLES.get(field, f"`{field}: ...`")
        return Problem(path, f"required field `{field}` is missing", f"add {example}")
    if kind == "literal_error":
        allowed = [a.strip().strip("'") for a in ctx.get("expected", "").replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        what = f"a valid {loc[-1]}" if loc and isinstance(loc[-1], str) else "allowed here"
        hint = f"did you mean `{close[0]}`? (allowed: {', '.join(allowed)})" if close else \
            f"write one of: {', '.join(allowed)}"
        return Problem(path, f"`{value}` is not {what}", hint)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        if isinstance(value, bool):  # models are strict: a boolean is never read as 0 or 1
            return Problem(path, f"expected a whole number, got a boolean `{str(value).lower()}`",
                           "YAML reads a bare true/false/yes/no/on/off as a boolean: write a number")
        return Problem(path, f"`{value}` is not a whole number", "write a number without quotes, e.g. `3`")
    if kind in ("bool_type", "bool_parsing"):
        if isinstance(value, str):
            return Problem(path, f"expected true or false, got the text `{value}`",
                           "write `true` or `false` without quotes")
        return Problem(path, f"`{value}` is not true or false", "write `true` or `false`")
    if kind in ("string_type",):
        if isinstance(value, bool):
            hint = "YAML reads a bare true/false/yes/no/on/off as a boolean: quote it if you meant text"
        elif isinstance(value, int | float):
            hint = f'put the value in quotes: `"{value}"`'
        else:
            hint = "write a single text value"
        shown = "" if isinstance(value, dict | list) else f" `{str(value).lower()}`" if isinstance(value, bool) \
            else f" `{value}`"
        return Problem(path, f"expected text, got {_type_name(value)}{shown}", hint)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return Problem(path, f"expected a mapping, got {_type_name(value)}", "write `key: value` pairs under it")
    if kind == "list_type":
        return Problem(path, f"expected a list, got {_type_name(value)}", "write `[a, b]` or one `- item` per line")
    if kind == "too_short":
        return Problem(path, "must not be empty", "add at least one entry")
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return Problem(path, f"{value} is too small (the minimum is {bound})", f"write a value of at least {bound}")
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return Problem(path, f"{value} is too large (the maximum is {bound})", f"write a value of at most {bound}")
    return Problem(path, err["msg"], "")


_MISSING_EXAMPLES = {
    "image": "`image: registry.example.com/team/app@sha256:<64 hex>`",
    "containers": "`containers: {main: {image: ..., resources: {limits: {cpu: 500m, memory: 512Mi}}}}`",
    "workload": "`workload: {containers: {...}}`",
    "type": "`type: service` (or external-service, secret, volume, gpu)",
    "port": "`port: 8080`",
    "name": "`name: my-service`",
    "spec": "`spec:` with the fields of the kind",
    "metadata": "`metadata: {name: my-service, namespace: my-team}`",
    "max": "`max: 10`",
    "content": "`content: |` followed by the file's text",
    "source": "`source: ${resources.NAME}` naming a volume resource",
}


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def _fields_at(root: type[BaseModel], loc: list[Any]) -> list[str]:
    """The field names (as users write them) accepted at `loc`, for 'did you mean' hints."""
    current: Any = root
    for seg in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == seg or n == seg), None)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or n for n, f in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the model or container type underneath is visible."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0]
        else:
            return annotation
