"""A deliberately tiny evaluator of Go text/template, for the two actions the secret router emits.

No Python implementation of Go's text/template is installable here (`cognihub-pygotemplate`, a CGo wrapper,
has no distribution for this machine), so the tests carry this one. It lexes the way Go's `text/template/parse`
lexer does where it matters for escaping:

* text runs until the first `{{` (the left delimiter); `}}` outside an action is plain text;
* an action runs from `{{` to the first `}}` outside a quoted string; `{{- ` / ` -}}` trim markers and
  `{{/* */}}` comments are actions too;
* inside an action only two forms are accepted: a string constant (`{{ "{{" }}`), which renders itself, and
  `{{ index . "KEY" }}`, which renders the value of KEY. Anything else raises `TemplateError`, so a
  user's `{{ .Secret }}` that survived escaping fails the test instead of passing silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

LEFT, RIGHT = "{{", "}}"
_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<word>[^\s"]+))')


class TemplateError(ValueError):
    pass


def _tokens(action: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(action):
        if action[pos:].strip() == "":
            break
        match = _TOKEN.match(action, pos)
        if match is None:
            raise TemplateError(f"cannot lex action {action!r} at {pos}")
        kind = "string" if match["string"] is not None else "word"
        out.append((kind, match[kind]))
        pos = match.end()
    return out


def _action_end(text: str, start: int) -> int:
    """Index of the `}}` closing the action whose body starts at `start` (quoted strings may hold `}}`)."""
    pos = start
    while pos < len(text):
        if text.startswith(RIGHT, pos):
            return pos
        if text[pos] == '"':
            match = re.compile(r'"(?:[^"\\\n]|\\.)*"').match(text, pos)
            if match is None:
                raise TemplateError(f"unterminated quoted string at {pos}")
            pos = match.end()
            continue
        pos += 1
    raise TemplateError("unclosed action")


def render(text: str, values: Mapping[str, str]) -> str:
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(LEFT, pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:start])
        body_start = start + len(LEFT)
        if text.startswith("- ", body_start) or text.startswith("/*", body_start):
            raise TemplateError(f"trim marker or comment at {start}: {text[start:start + 8]!r}")
        end = _action_end(text, body_start)
        body = text[body_start:end]
        if body.endswith(" -"):
            raise TemplateError(f"trim marker at {end}")
        out.append(_evaluate(_tokens(body), values, body))
        pos = end + len(RIGHT)


def _evaluate(tokens: list[tuple[str, str]], values: Mapping[str, str], body: str) -> str:
    if len(tokens) == 1 and tokens[0][0] == "string":
        return str(json.loads(tokens[0][1]))
    if len(tokens) == 3 and tokens[0] == ("word", "index") and tokens[1] == ("word", ".") and tokens[2][0] == "string":
        key = json.loads(tokens[2][1])
        if key not in values:
            raise TemplateError(f"no value for key {key!r}")
        return values[key]
    raise TemplateError(f"unsupported action {{{{{body}}}}}")
