"""Where things are in Cedar policy text: the line each statement starts on, the line of a syntax error, and
the Cedar literals Lattice writes into the policies it suggests.

Cedar's messages name a policy (`policy2`, its position) but no line, so the lines are found here. Pure text
work; the parsing itself is Cedar's.
"""

from __future__ import annotations

import re

import cedarpy

_END_OF_INPUT = "unexpected end of input"


def statement_lines(text: str) -> list[int]:
    """The 1-based line each statement starts on (at its first annotation, or at `permit`/`forbid`).

    Statements end with `;` outside string literals and `//` comments, which is all Cedar's grammar needs
    to tell them apart (Cedar has no block comments)."""
    lines: list[int] = []
    line, start, i, n = 1, None, 0, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
        elif char == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif char == '"':
            if start is None:
                start = line
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
        elif char == ";":
            lines.append(start if start is not None else line)
            start = None
        elif not char.isspace() and start is None:
            start = line
        i += 1
    return lines


def syntax_error_line(text: str, message: str) -> int:
    """The line at which Cedar's parser first fails with `message`: the shortest run of leading lines that
    already fails the same way (a shorter one only runs out of input)."""
    lines = text.split("\n")
    if message != _END_OF_INPUT:
        for count in range(1, len(lines) + 1):
            try:
                cedarpy.PolicySet.from_str("\n".join(lines[:count]))
            except ValueError as exc:
                if str(exc) == message:
                    return count
    # Out of input: the statement is not finished where the text ends (its last written line).
    return max((k + 1 for k, line in enumerate(lines) if line.strip()), default=1)


def line_of(text: str, start: int, pattern: re.Pattern[str]) -> int:
    """The line, at or after line `start`, where `pattern` first occurs in `text`; `start` when it does not."""
    offset = sum(len(line) + 1 for line in text.split("\n")[:start - 1])
    match = pattern.search(text, offset)
    return text.count("\n", 0, match.start()) + 1 if match else start


def string(value: str) -> str:
    """`value` as a Cedar string literal (quotes, backslashes and control characters escaped)."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
