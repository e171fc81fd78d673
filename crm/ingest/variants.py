"""Which values of a field say the same thing, and which is a likely variant of another.

Survivorship counts agreeing observations by ``same_value`` and keeps a value against a
newer ``likely_variant`` of it (a typo or a nickname) that no more observations back.
docs/survivorship.md has the rules with examples.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from rapidfuzz.distance import OSA

from crm.identity import first_names_compatible, name_key

NAME_FIELDS = frozenset({"first_name", "last_name"})
# free-text parts of an address, where a typo is likely; postcodes and countries are codes
TEXT_FIELDS = frozenset({"address_line1", "address_line2", "city", "region"})
_NOT_DIGITS = re.compile(r"\D")
# a close edit: at most this many edits (insert, delete, substitute, swap two neighbours),
# two from this length on
_EDITS = 1
_LONG = 10


def same_value(field: str, value: Any) -> Hashable:
    """What two observations must share to agree on ``field`` ("JOHN" and "John" agree)."""
    if field in NAME_FIELDS:
        return name_key(value) or value
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    return value


def likely_variant(field: str, kept: Any, other: Any) -> bool:
    """True when ``other`` is a nickname or a likely typo of ``kept``: alone, it does not
    replace it ("Jonh" for "Jonathan", "Isabela" for "Isabella", "Tom" for "Thomas")."""
    if field == "first_name":
        a, b = name_key(kept), name_key(other)
        if len(a) == 1 and len(b) > 1:
            return False  # a full name replaces an initial
        return first_names_compatible(kept, other)
    if field == "last_name":
        return _close_edit(name_key(kept), name_key(other))
    if field in TEXT_FIELDS and isinstance(kept, str) and isinstance(other, str):
        return _close_edit(same_value(field, kept), same_value(field, other))
    return False


def _close_edit(a: Any, b: Any) -> bool:
    if not a or not b or a == b:
        return False
    # "12 Smith St" and "14 Smith St" are two places, however close the text
    if _NOT_DIGITS.sub("", a) != _NOT_DIGITS.sub("", b):
        return False
    limit = _EDITS if min(len(a), len(b)) < _LONG else _EDITS + 1
    return OSA.distance(a, b, score_cutoff=limit) <= limit
