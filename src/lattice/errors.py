"""User-facing problems: what is wrong, where, and what to write instead.

Every mistake a user can make ends up as a `Problem`; the CLI prints them and the controller puts them in
status. Nothing here knows about files or terminals: the edges add the file and the object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic_core import PydanticCustomError

# C0 and C1 control characters, DEL, and the Unicode bidirectional overrides ("Trojan Source"): none may reach a
# terminal or `kubectl describe` from user text, where they could recolour, move the cursor or reorder text.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}.get(code) or \
        (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\n`): safe to print, and
    unchanged when it holds none (so escaping twice changes nothing)."""
    return _UNPRINTABLE.sub(_escape_char, text) if _UNPRINTABLE.search(text) else text


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) with an input, at a field path such as `spec.replicas`.

    Its texts quote user input, so they are made printable here, once, for every place that shows them."""

    path: str
    message: str
    hint: str = ""

    def __post_init__(self) -> None:
        for name in ("path", "message", "hint"):
            value = getattr(self, name)
            escaped = printable(value)
            if escaped is not value:
                object.__setattr__(self, name, escaped)

    def render(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Which input object a problem belongs to: kind plus namespace/name."""

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return printable(f"{self.kind} {where}")


@dataclass(slots=True)
class LatticeError(Exception):
    """Raised when an input cannot be compiled; carries every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(p.render() for p in self.problems)

    @classmethod
    def one(cls, path: str, message: str, hint: str = "") -> LatticeError:
        return cls([Problem(path, message, hint)])


def internal_error(doing: str, exc: BaseException) -> Problem:
    """An unexpected exception, reported as the problem of the one input it happened on (no traceback)."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return Problem("", f"internal error while {doing}: {type(exc).__name__}" + (f": {detail}" if detail else ""),
                   "this is a bug in Lattice, not in the input; the other inputs were compiled. Please report it "
                   "with this document")


def invalid(message: str, hint: str = "", loc: tuple[str | int, ...] = ()) -> PydanticCustomError:
    """A validation error that carries a hint (and, for checks spanning fields, the exact field below the
    validated object in `loc`) through pydantic to the user."""
    return PydanticCustomError("lattice", message, {"hint": hint, "loc": list(loc)})


def reraise_at(error: PydanticCustomError, *loc: str | int) -> PydanticCustomError:
    """The same error, placed deeper: used when a shared check runs on one entry of a map or list."""
    context = error.context or {}
    return invalid(error.message(), str(context.get("hint", "")), (*loc, *context.get("loc", [])))


def join_path(*parts: str | int | Iterable[str | int]) -> str:
    """Join path segments the way users read them: `spec.workload.containers.api.env[0]`."""
    flat: list[str | int] = []
    for part in parts:
        if isinstance(part, str | int):
            flat.append(part)
        else:
            flat.extend(part)
    out = ""
    for seg in flat:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif seg:
            out = f"{out}.{seg}" if out else seg
    return out
