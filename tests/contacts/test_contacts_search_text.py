"""The folded search text: case and accents gone, so "jose" finds "José"."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.search.text import build_search_text, fold


def slow_fold(value: str) -> str:
    """The definition: NFKD, drop combining marks, casefold."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("José", "jose"),
        ("ÅNGSTRÖM", "angstrom"),
        ("Straße", "strasse"),
        ("O'Brien-Smith", "o'brien-smith"),
        ("Anna@Example.COM", "anna@example.com"),
    ],
)
def test_fold_drops_case_and_accents(raw, expected):
    assert fold(raw) == expected


@given(st.text(max_size=40))
def test_fold_equals_its_definition_for_any_text(value):
    # the plain-ASCII shortcut must give the definition's answer
    assert fold(value) == slow_fold(value)


def test_the_search_text_holds_names_email_and_phone_digits():
    text = build_search_text(
        {"first_name": "Zoë", "last_name": "NGUYEN", "email": "Zoe@X.com", "phone": "+61412345678"}
    )
    assert text == "zoe nguyen zoe@x.com 61412345678"
