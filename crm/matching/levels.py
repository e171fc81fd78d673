"""Field comparisons: the agreement level of one field of two records (``scoring`` weighs them).

First and last names (exact, nickname, typo, prefix, partial, similar, different...), dates
of birth (exact, transposed day and month, a digit typo or two digits swapped), emails
(shared, same local part), addresses (street similarity and house numbers, within a
locality) and identifiers (shared, or a conflict within one namespace). The comparisons met
again and again in a sweep are cached.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from crm.identity import first_name_similarity
from crm.matching.blocking import phonetic
from crm.matching.records import MatchRecord

TYPO_SIMILARITY = 0.92
SIMILAR_SIMILARITY = 0.85
STREET_SAME = 90.0
STREET_SIMILAR = 75.0


@lru_cache(maxsize=262144)
def compare_first_names(a: str, akey: str, b: str, bkey: str) -> tuple[str, float]:
    """(level, similarity) of two first names, as written and as keys."""
    if akey == bkey:
        return "exact", 1.0
    short, long = (akey, bkey) if len(akey) <= len(bkey) else (bkey, akey)
    if len(short) == 1:
        return ("initial", 0.75) if long.startswith(short) else ("different", 0.0)
    similarity = first_name_similarity(a, b)
    if similarity >= 1.0:
        return "nickname", 1.0
    if len(short) >= 3 and long.startswith(short):
        return "prefix", similarity
    if similarity >= TYPO_SIMILARITY:
        return "typo", similarity
    if similarity >= SIMILAR_SIMILARITY:
        return "similar", similarity
    return "different", similarity


@lru_cache(maxsize=262144)
def compare_last_names(a: str, b: str) -> tuple[str, float]:
    """(level, similarity) of two surname keys (also a surname against a first name)."""
    if a == b:
        return "exact", 1.0
    similarity = JaroWinkler.similarity(a, b)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    # "Smith" within "Smith-Jones" (keys keep letters only: "smithjones")
    if len(short) >= 3 and (long.startswith(short) or long.endswith(short)):
        return "partial", similarity
    if similarity >= TYPO_SIMILARITY:
        return "typo", similarity
    if similarity >= SIMILAR_SIMILARITY or phonetic(a) == phonetic(b):
        return "similar", similarity
    return "different", similarity


def compare_birth_dates(a: date | None, b: date | None) -> str:
    """The level of two dates of birth; "" when one is missing."""
    if a is None or b is None:
        return ""
    if a == b:
        return "exact"
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return "transposed"
    sa, sb = _digits(a), _digits(b)
    diffs = [i for i in range(8) if sa[i] != sb[i]]
    if len(diffs) == 1:
        return "typo"
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
        i = diffs[0]
        if sa[i] == sb[i + 1] and sa[i + 1] == sb[i]:
            return "typo"  # two digits swapped: 1985 / 1958
    return "different"


@lru_cache(maxsize=65536)
def _digits(value: date) -> str:
    # strftime once per date, not once per pair
    return f"{value:%Y%m%d}"


def compare_emails(a: tuple[str, ...], b: tuple[str, ...]) -> str:
    """The level of two records' email addresses."""
    if not set(a).isdisjoint(b):
        return "shared"
    for x in a:
        local_x = x.partition("@")[0]
        for y in b:
            if len(local_x) >= 4 and local_x == y.partition("@")[0]:
                return "local_part"
    return "different"


@lru_cache(maxsize=16384)
def _numbers(street: str) -> frozenset[str]:
    # a record's street is compared in every pair of its block, one pair after another:
    # split once per block (a small cache: a million streets would not fit a large one)
    return frozenset(t for t in street.split() if t.isdigit())


def compare_addresses(a: MatchRecord, b: MatchRecord) -> tuple[str, float | None]:
    """(level, street similarity) of two records' addresses."""
    locality = bool((a.postcode and a.postcode == b.postcode) or (a.city and a.city == b.city))
    known_locality = bool((a.postcode or a.city) and (b.postcode or b.city))
    if not (a.street and b.street):
        return ("locality" if locality else "different"), None
    similarity = token_set_ratio(a.street, b.street)
    numbers_a, numbers_b = _numbers(a.street), _numbers(b.street)
    # neighbours share a street, not a house: different numbers are different addresses
    numbers_agree = not (numbers_a and numbers_b) or (
        numbers_a <= numbers_b or numbers_b <= numbers_a
    )
    if numbers_agree and similarity >= STREET_SAME and (locality or not known_locality):
        return "same", similarity / 100
    if numbers_agree and similarity >= STREET_SIMILAR and locality:
        return "similar", similarity / 100
    return ("locality" if locality else "different"), similarity / 100


def compare_identifiers(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> str:
    """The level of two records' identifiers ((namespace, value) pairs); "" when unrelated."""
    if not set(a).isdisjoint(b):
        return "shared"
    namespaces_a = {ns for ns, _ in a}
    if any(ns in namespaces_a for ns, _ in b):
        return "conflict"  # two different patient ids in one PMS (or two handles)
    return ""
