"""Placeholders in user text: `${resources.NAME.KEY}`, `${secret.NAME.KEY}`, `${metadata.name}`; `$$` escapes `$`.

Parsing is separate from resolving so that the secret router can see where secret fragments sit in a value
without ever turning them into plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lattice.errors import invalid


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `${...}` expression, split on dots: `resources.db.dsn` -> ("resources", "db", "dsn")."""

    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "${" + ".".join(self.parts) + "}"


Segment = str | Placeholder


@lru_cache(maxsize=65536)
def parse(text: str) -> tuple[Segment, ...]:
    """Split text into literal strings and placeholders. Raises a validation error on a malformed one.

    Score's escape, as its reference implementation (score-go `framework/substitution.go`) applies it:
    `$$` is one literal `$`, so `$${x}` is the literal text `${x}` (kept as written up to its `}`) and `$$$${x}`
    is `$${x}`. A lone `$` not followed by `{` or `$` (`$HOME`, `costs $5`, a trailing `$`) is kept as written.
    Unlike Score, an unclosed `${` is an error rather than literal text, so a typo cannot pass silently.
    """
    if "$" not in text:
        return (text,)
    out: list[Segment] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("$$", i):
            close = text.find("}", i + 3) if text.startswith("{", i + 2) else -1
            if close >= 0:  # `$${...}`: the placeholder's text, literally
                literal.append(text[i + 1 : close + 1])
                i = close + 1
            else:
                literal.append("$")
                i += 2
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise invalid(f"`{text[i:]}` opens a placeholder that is never closed",
                              "close it with `}`, or write `$${` for a literal `${`")
            expr = text[i + 2 : end].strip()
            parts = tuple(expr.split("."))
            if not expr or any(not p for p in parts):
                raise invalid(f"`{text[i:end + 1]}` is not a placeholder",
                              "write `${resources.NAME.KEY}`, `${metadata.name}` or `$${` for a literal `${`")
            if literal:
                out.append("".join(literal))
                literal = []
            out.append(Placeholder(parts))
            i = end + 1
        else:
            nxt = text.find("$", i + 1)
            nxt = n if nxt < 0 else nxt
            literal.append(text[i:nxt])
            i = nxt
    if literal:
        out.append("".join(literal))
    return tuple(out)


def has_placeholders(text: str) -> bool:
    return any(isinstance(seg, Placeholder) for seg in parse(text))
