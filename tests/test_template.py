"""The placeholder parser on any text: a `$` that opens no placeholder is text, kept as written; `$${` is a
literal `${`; every `${...}` becomes exactly one placeholder. Parsing never loops and never loses a character.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lattice.compiler.template import Placeholder, has_placeholders, parse

# Text in which every `$` stands alone: never before `{` (a placeholder) or `$` (an escape in Score).
lone_dollar_text = st.text(st.sampled_from(["$", "a", "{", "}", ".", " ", "é", "\n"]), max_size=30).filter(
    lambda t: "${" not in t and "$$" not in t)
names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
placeholders = st.one_of(
    st.builds(lambda n, k: Placeholder(("resources", n, k)), names, names),
    st.sampled_from([Placeholder(("metadata", "name")), Placeholder(("metadata", "namespace"))]),
)


def _joined(segments: tuple[str | Placeholder, ...]) -> str:
    return "".join(s if isinstance(s, str) else s.text for s in segments)


@settings(max_examples=300, deadline=None)
@given(lone_dollar_text)
def test_text_with_lone_dollars_is_one_literal(text: str) -> None:
    assert parse(text) == (text,)
    assert not has_placeholders(text)
    assert has_placeholders(text + "${metadata.name}" if not text.endswith("$") else text + " ${metadata.name}")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(lone_dollar_text, placeholders), max_size=6))
def test_placeholders_among_lone_dollars_parse_back_exactly(pieces: list[str | Placeholder]) -> None:
    # `$` right before a placeholder would make `$${`, the escape: keep such text apart by a space
    text_pieces = [p if isinstance(p, Placeholder) or not p.endswith("$") else p + " " for p in pieces]
    text = "".join(p if isinstance(p, str) else p.text for p in text_pieces)
    segments = parse(text)
    assert _joined(segments) == text
    assert [s for s in segments if isinstance(s, Placeholder)] == [p for p in text_pieces if isinstance(p, Placeholder)]
    # literals are merged: no two text segments in a row, no empty one
    assert all(not (isinstance(a, str) and isinstance(b, str)) for a, b in itertools.pairwise(segments))
    assert segments == ("",) if text == "" else all(s != "" for s in segments if isinstance(s, str))


@pytest.mark.parametrize(("text", "segments"), [
    ("$", ("$",)),
    ("a$", ("a$",)),
    ("$a", ("$a",)),
    ("$}", ("$}",)),
    ("cost: 5$ or 6 $", ("cost: 5$ or 6 $",)),
    ("$${x}", ("${x}",)),
    ("a$${b}$", ("a${b}$",)),
    ("$ ${metadata.name}", ("$ ", Placeholder(("metadata", "name")))),
    ("${metadata.name}$", (Placeholder(("metadata", "name")), "$")),
    ("${ resources.db.url }", (Placeholder(("resources", "db", "url")),)),
])
def test_lone_dollars_and_escapes(text: str, segments: tuple[str | Placeholder, ...]) -> None:
    assert parse(text) == segments


@pytest.mark.parametrize("text", ["${", "a ${metadata.name", "${}", "${ }", "${a..b}", "${.a}", "${a.}", "${}x}",
                                  "$${x}${"])
def test_a_malformed_placeholder_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)
