"""The placeholder parser: Score's `$$` escape, lone `$` signs, and malformed placeholders.

Score (score-go `framework/substitution.go`) reads `$$` as one literal `$` and `$${...}` as the literal text
`${...}`; any other `$` is kept as written. Each case below is what Score itself produces for the same text.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from lattice.compiler.template import Placeholder, parse

DB_HOST = Placeholder(("resources", "db", "host"))


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", ("plain",)),
    ("costs $5", ("costs $5",)),
    ("trailing $", ("trailing $",)),
    ("$", ("$",)),
    ("$HOME/bin", ("$HOME/bin",)),
    ("$$", ("$",)),
    ("$$HOME", ("$HOME",)),
    ("a$$b$$c", ("a$b$c",)),
    ("$$$", ("$$",)),
    ("$$$$", ("$$",)),
    ("$${HOME}", ("${HOME}",)),
    ("$${a$$b}", ("${a$$b}",)),          # the escaped placeholder is kept as written up to its `}`
    ("$${unclosed", ("${unclosed",)),    # `$$` then literal text
    ("$$${resources.db.host}", ("$", DB_HOST)),
    ("$$$${resources.db.host}", ("$${resources.db.host}",)),
    ("${resources.db.host}", (DB_HOST,)),
    ("x=${resources.db.host}$", ("x=", DB_HOST, "$")),
    ("$(VAR) and $$(VAR)", ("$(VAR) and $(VAR)",)),
    ("{ $ }", ("{ $ }",)),
])
def test_score_escapes(text: str, expected: tuple[object, ...]) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("${resources.db.host", "`${resources.db.host` opens a placeholder that is never closed"),
    ("$$${x", "`${x` opens a placeholder that is never closed"),
    ("${}", "`${}` is not a placeholder"),
    ("${a..b}", "`${a..b}` is not a placeholder"),
])
def test_malformed_placeholders_are_errors(text: str, message: str) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        parse(text)
    assert caught.value.message() == message


@given(st.text(alphabet="$ab{}.", max_size=24))
def test_parse_never_crashes_and_literals_never_hold_an_unescaped_placeholder(text: str) -> None:
    try:
        segments = parse(text)
    except PydanticCustomError:
        return
    # Adjacent literals are merged, and escapes only ever shorten the text.
    assert all(not (isinstance(a, str) and isinstance(b, str)) for a, b in itertools.pairwise(segments))
    assert sum(len(s) for s in segments if isinstance(s, str)) <= len(text)


@given(st.text(alphabet="ab ${}", max_size=20).filter(lambda t: "{" not in t and "}" not in t))
def test_text_without_braces_only_halves_runs_of_dollars(text: str) -> None:
    expected = re.sub(r"\$\$", "$", text)
    assert "".join(s for s in parse(text) if isinstance(s, str)) == expected
