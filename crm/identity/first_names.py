"""Whether two first names could belong to one person: initials, nicknames, typos.

Two strengths: ``first_names_agree`` (equal, a known nickname, a consistent initial) is what
links a record to the holder of a shared email or phone at ingest, a link nobody can undo;
``first_names_compatible`` also accepts prefixes and typos, for the dedup sweep's scoring and
for survivorship, where a wrong guess is reversible.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache

from nicknames import NickNamer
from rapidfuzz.distance import JaroWinkler

from crm.identity.names import name_key

# Jaro-Winkler at or above this is a typo ("Jonh"/"John"); "John"/"Joan" scores 0.87
SIMILARITY_THRESHOLD = 0.88
PREFIX_MIN_LENGTH = 3
PREFIX_SIMILARITY = 0.9
INITIAL_SIMILARITY = 0.75
# what a feminine form adds to a masculine one (Louis/Louise, Paul/Paula, Max/Maxine): the
# nickname data relates some of these pairs, but they are a couple's names as often as one
# person's, so they never link at ingest
_GENDERED_ENDINGS = frozenset({"a", "e", "ette", "elle", "ine", "ina", "ia"})


def first_names_agree(a: str | None, b: str | None) -> bool:
    """True for equal names, a nickname pair, a consistent initial, or a missing name.

    Stricter than ``first_names_compatible``: no prefixes ("Paul"/"Paula") and no typos
    ("Jonh"/"John"), which are the sweep's to propose.
    """
    return _names_relate(a, b, _agree)


def first_names_compatible(a: str | None, b: str | None) -> bool:
    """False only when both names are present and clearly different people's."""
    return _names_relate(a, b, _compatible)


def _names_relate(a: str | None, b: str | None, relate: Callable[[str, str], bool]) -> bool:
    """``relate`` on the two names' keys, then on their first given names ("Mary Anne" vs
    "Mary", "Mary-Jane"); True when either name is missing."""
    key_a, key_b = name_key(a), name_key(b)
    if not key_a or not key_b:
        return True
    if relate(*_ordered(key_a, key_b)):
        return True
    first_a, first_b = _first_word_key(a), _first_word_key(b)
    if (first_a, first_b) == (key_a, key_b) or not first_a or not first_b:
        return False
    return relate(*_ordered(first_a, first_b))


def first_name_similarity(a: str | None, b: str | None) -> float:
    """0..1: 1.0 for equal keys or nicknames, at least 0.9 for a prefix, 0.0 when one is missing."""
    key_a, key_b = name_key(a), name_key(b)
    if not key_a or not key_b:
        return 0.0
    score = _similarity(*_ordered(key_a, key_b))
    first_a, first_b = _first_word_key(a), _first_word_key(b)
    if score < 1.0 and first_a and first_b and (first_a, first_b) != (key_a, key_b):
        score = max(score, _similarity(*_ordered(first_a, first_b)))
    return score


def _ordered(a: str, b: str) -> tuple[str, str]:
    # the relation is symmetric: one cache entry per unordered pair
    return (a, b) if a <= b else (b, a)


def _first_word_key(value: str | None) -> str:
    words = value.split() if value else ()
    return name_key(words[0]) if words else ""


@lru_cache(maxsize=65536)
def _compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) == 1:
        return long.startswith(short)  # an initial matches only its own letter
    if len(short) >= PREFIX_MIN_LENGTH and long.startswith(short):
        return True
    return _nicknames(a, b) or JaroWinkler.similarity(a, b) >= SIMILARITY_THRESHOLD


def feminine_form(a: str | None, b: str | None) -> bool:
    """True when one first name is the other with a feminine ending (Paul/Paula, Max/Maxine)."""
    return _feminine_form(name_key(a), name_key(b))


def _feminine_form(a: str, b: str) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) > 1 and long.startswith(short) and long[len(short) :] in _GENDERED_ENDINGS


@lru_cache(maxsize=65536)
def _agree(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) == 1:
        return long.startswith(short)
    return not _feminine_form(a, b) and _nicknames(a, b)


@lru_cache(maxsize=65536)
def _similarity(a: str, b: str) -> float:
    if a == b or _nicknames(a, b):
        return 1.0
    score = JaroWinkler.similarity(a, b)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if long.startswith(short):
        floor = INITIAL_SIMILARITY if len(short) == 1 else PREFIX_SIMILARITY
        if len(short) == 1 or len(short) >= PREFIX_MIN_LENGTH:
            score = max(score, floor)
    return score


def _nicknames(a: str, b: str) -> bool:
    # one is a nickname of the other ("Bill"/"William"). Two nicknames of one name are not
    # enough: the data makes "John"/"Nathan" (Jonathan) and "Gary"/"Jerry" (Garrett) siblings
    return b in _related(a)


@lru_cache(maxsize=16384)
def _related(key: str) -> frozenset[str]:
    namer = _namer()
    return frozenset(namer.nicknames_of(key)) | namer.canonicals_of(key)


@cache
def _namer() -> NickNamer:
    # built on first use (about 35 ms), not at import: the CLI and API start faster
    return NickNamer()
