"""The one string each contact is searched by."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any


def fold(value: str) -> str:
    """Lower-case and strip accents, so "José" is found by "jose"."""
    if value.isascii():  # most names and emails: NFKD changes nothing, casefold is lower
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def build_search_text(fields: Mapping[str, Any]) -> str:
    """Names, email and the phone's E.164 digits in one folded string.

    A national-format search ("0412 345 678") matches too: the query's digits without the
    trunk zero are a substring of the E.164 digits (see ``search.query``).
    """
    parts: list[str] = []
    for name in ("first_name", "last_name", "email"):
        if value := fields.get(name):
            parts.append(fold(str(value)))
    if phone := fields.get("phone"):
        parts.append(str(phone).lstrip("+"))
    return " ".join(parts)[:1000]
