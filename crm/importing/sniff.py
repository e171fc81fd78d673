"""Content sniffing: a column whose header says nothing, but whose values are mostly emails,
phones or dates of birth, is proposed as that field.

Runs once per file on the rows in the first 64 KiB (what the reader peeks at anyway).
A proposal is never applied silently: the plan marks it for confirmation (``--yes``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from crm.identity import IdentityError, normalize_date_of_birth, normalize_phone
from crm.identity.placeholders import is_placeholder

MAX_SAMPLE_ROWS = 200
# at least this many values, and this share of them, must read as the field
MIN_VALUES = 3
MIN_SHARE = 0.8
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PHONE_SHAPE = re.compile(r"[+(]?[0-9][0-9 ().\-]{6,24}")
_DATE_SHAPE = re.compile(r"[0-9A-Za-z][0-9A-Za-z ,/.\-:+T]{4,40}")
# headers about when something happened: their dates are not birth dates
_WHEN_WORDS = frozenset(
    {"date", "time", "at", "created", "updated", "modified", "last", "visit", "since", "joined"}
)


@dataclass(frozen=True, slots=True)
class Proposal:
    field: str
    share: float
    values: int


def sample_rows(text: str, delimiter: str, *, truncated: bool) -> list[list[str]]:
    """The data rows in the sample ``text`` (header first); a row cut by the sample's end
    is dropped."""
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=False))
    except csv.Error:
        return []
    rows = rows[1:]
    if truncated and rows:
        rows.pop()
    return rows[:MAX_SAMPLE_ROWS]


def propose(
    values: Sequence[str], *, header_words: Sequence[str], region: str | None
) -> Proposal | None:
    """The field most of ``values`` read as (email, phone, date of birth), if any."""
    filled = [v.strip() for v in values if v.strip() and not is_placeholder(v.strip())]
    if len(filled) < MIN_VALUES:
        return None
    for field, test in (
        ("email", _is_email),
        ("phone", lambda v: _is_phone(v, region)),
        ("date_of_birth", lambda v: _is_birth_date(v, region)),
    ):
        if field == "date_of_birth" and _WHEN_WORDS.intersection(header_words):
            continue
        hits = sum(1 for v in filled if test(v))
        share = hits / len(filled)
        if share >= MIN_SHARE:
            return Proposal(field, round(share, 2), len(filled))
    return None


def _is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def _is_phone(value: str, region: str | None) -> bool:
    if _PHONE_SHAPE.fullmatch(value) is None:
        return False
    try:
        normalize_phone(value, region=region or "AU")
    except IdentityError:
        return False
    return True


def _is_birth_date(value: str, region: str | None) -> bool:
    if _DATE_SHAPE.fullmatch(value) is None or sum(c.isdigit() for c in value) < 4:
        return False
    try:
        born = normalize_date_of_birth(value, region=region or "AU")
    except IdentityError:
        return False
    return born <= date.today() - timedelta(days=365)
