"""Field comparisons: the agreement level of one field of two records (``scoring`` weighs them).

First and last names (exact, nickname, initial, prefix, partial, typo: Jaro-Winkler >= 0.92
or one Damerau-Levenshtein edit, similar: Jaro-Winkler >= 0.85 or the same sound, different),
dates of birth (exact, transposed day and month, a digit typo or two digits swapped, the same
year only, different), emails (shared, same local part), the address in four parts (house
number, street name with typos, postcode exact or near, suburb with typos) and identifiers
(shared, or a conflict within one namespace). The comparisons met again and again in a sweep
are cached.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from rapidfuzz.distance import OSA, JaroWinkler

from crm.identity import first_name_similarity
from crm.matching.blocking import phonetic

TYPO_SIMILARITY = 0.92
SIMILAR_SIMILARITY = 0.85
# street names and suburbs: Jaro-Winkler at or above this (or one edit) is a typo
PLACE_TYPO = 0.9


# (an entry of a name cache is ~400 bytes: 131,072 are ~50 MB in each scoring process)
@lru_cache(maxsize=131072)
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
    # one edit (Damerau-Levenshtein, adjacent swaps included): "Roy"/"Riy", "Jai"/"Ji"
    if similarity >= TYPO_SIMILARITY or OSA.distance(akey, bkey) <= 1:
        return "typo", similarity
    if similarity >= SIMILAR_SIMILARITY:
        return "similar", similarity
    return "different", similarity


@lru_cache(maxsize=131072)
def compare_last_names(a: str, b: str) -> tuple[str, float]:
    """(level, similarity) of two surname keys (also a surname against a first name)."""
    if a == b:
        return "exact", 1.0
    similarity = JaroWinkler.similarity(a, b)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    # "Smith" within "Smith-Jones" (keys keep letters only: "smithjones")
    if len(short) >= 3 and (long.startswith(short) or long.endswith(short)):
        return "partial", similarity
    if similarity >= TYPO_SIMILARITY or (len(short) >= 3 and OSA.distance(a, b) <= 1):
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
    if a.year != b.year and a.month != b.month and a.day != b.day:
        # three or more digits differ, in three places: no typo, no swap (most pairs)
        return "different"
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
    if a.year == b.year:
        return "year"
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
def street_parts(street: str) -> tuple[frozenset[str], str]:
    """(house and unit numbers, street name) of normalised address tokens: "3 12 smith st"
    gives ({"3", "12"}, "smith st"). A record's street is compared in every pair of its block,
    one pair after another: split once per block (a small cache)."""
    numbers = frozenset(t for t in street.split() if t.isdigit())
    name = " ".join(t for t in street.split() if not t.isdigit())
    return numbers, name


def compare_street_numbers(a: str, b: str) -> str:
    """ "exact" (one record's numbers within the other's: "12" and "3/12"), "different" or ""
    when either has none."""
    numbers_a, numbers_b = street_parts(a)[0], street_parts(b)[0]
    if not (numbers_a and numbers_b):
        return ""
    return "exact" if numbers_a <= numbers_b or numbers_b <= numbers_a else "different"


@lru_cache(maxsize=65536)
def _place_level(a: str, b: str) -> tuple[str, float]:
    if a == b:
        return "exact", 1.0
    similarity = JaroWinkler.similarity(a, b)
    if similarity >= PLACE_TYPO or (min(len(a), len(b)) >= 4 and OSA.distance(a, b) <= 1):
        return "typo", similarity
    return "different", similarity


def compare_street_names(a: str, b: str) -> tuple[str, float | None]:
    """(level, similarity) of two streets' names, numbers left out; ("", None) when either
    has none."""
    name_a, name_b = street_parts(a)[1], street_parts(b)[1]
    if not (name_a and name_b):
        return "", None
    return _place_level(name_a, name_b)


def compare_suburbs(a: str, b: str) -> tuple[str, float | None]:
    """(level, similarity) of two suburb (city) keys; ("", None) when either is missing."""
    if not (a and b):
        return "", None
    return _place_level(a, b)


def compare_postcodes(a: str, b: str) -> str:
    """ "exact", "near" (all but the last digit agree: the next suburb), "different", or ""."""
    if not (a and b):
        return ""
    if a == b:
        return "exact"
    if len(a) == len(b) and len(a) >= 4 and a[:-1] == b[:-1]:
        return "near"
    return "different"


def compare_identifiers(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> str:
    """The level of two records' identifiers ((namespace, value) pairs); "" when unrelated."""
    if not set(a).isdisjoint(b):
        return "shared"
    namespaces_a = {ns for ns, _ in a}
    if any(ns in namespaces_a for ns, _ in b):
        return "conflict"  # two different patient ids in one PMS (or two handles)
    return ""
