"""Blocking: which pairs of contacts are worth comparing at all.

Each record gets a handful of cheap keys: the date of birth alone; either name's sound (a
record may hold the names swapped, or only one) with the birth year, with the date of birth and
with the suburb; both names' sounds in either order; the surname's sound with an initial, and
with the postcode; either name's consonants in any order with the birth year (letters swapped
or vowels dropped: "Tyolr"/"Taylor"); date of birth + postcode; house number + the street's
sound; date of birth / surname + house number; each email and phone, the email's local part,
each exclusive identifier. Each key misses what a typo in its own fields hides; together they lose
almost no true pair (pair completeness >= 0.99 on Febrl 1/2/4, fake_1000 and the generator).
Two records are compared when they share a key. A block larger than ``max_block`` is not
compared all-against-all: its members are ordered by name and date of birth and each is
compared with its ``window`` nearest neighbours (sorted neighbourhood), so the number of pairs
stays below ``keys x max(max_block / 2, window)`` a contact however the data is skewed (a
clinic's placeholder email shared by thousands of contacts costs ``thousands x window``
comparisons, not millions).

Keys are 64-bit hashes and the pair generation is vectorised (numpy): a million contacts make
about ten million key entries, sorted and paired in a few seconds and a few hundred megabytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import jellyfish
import numpy as np

from crm.matching.records import MatchRecord

DEFAULT_MAX_BLOCK = 40
DEFAULT_WINDOW = 8
_MIN_LOCAL_PART = 4
# Loose keys (a common name's sound with a suburb or a birth year, a surname's sound with an
# initial, a birth date alone) make large blocks in a large organization and find few true
# pairs no other key finds: their blocks are compared all-against-all only up to a few
# members, and beyond by sorted neighbourhood with a window of one or two (or not at all: a
# window of 0, where the other keys already hold every block member's likely duplicates). At
# 100,000 generated contacts this keeps the compared pairs near 1.1 million instead of 2.4.
BOUNDED: dict[str, tuple[int, int]] = {
    "cx": (6, 1),  # a name's sound + suburb
    "ny": (8, 1),  # either name's sound + birth year
    "li": (10, 2),  # the surname's sound + an initial
    "db": (10, 1),  # the birth date alone
    "yc": (12, 1),  # the birth year + suburb: both names written wrong
    "e5": (10, 1),  # an email's first five characters: a typo further on
    # either name's consonants in any order + birth year: "Thomas" and "Smith" share them, so
    # a crowded block is left to the other keys (2.6% more pairs at 100,000 generated
    # contacts; with a window of 1, 4%)
    "cy": (8, 0),
}
_TIER_LIMITS = list(BOUNDED.values())
_TIER_OF = {prefix: tier for tier, prefix in enumerate(BOUNDED, start=1)}
_TIER_MASK = 0xF  # a key hash's low bits say its kind's limits (0: the defaults)


def key_hash(key: str) -> int:
    """The key as a 64-bit hash whose low bits carry its limits (``block_limits``)."""
    return (hash(key) & ~_TIER_MASK) | _TIER_OF.get(key[:2], 0)


def block_limits(key: int, max_block: int, window: int) -> tuple[int, int]:
    """``(max_block, window)`` for the block of this key hash."""
    tier = key & _TIER_MASK
    return (max_block, window) if tier == 0 else _TIER_LIMITS[tier - 1]


@lru_cache(maxsize=131072)
def phonetic(key: str) -> str:
    """Metaphone code of a name key ("" for none): "smith" and "smyth" both give "SM0"."""
    if not key:
        return ""
    return jellyfish.metaphone(key) or key[:4]


_VOWELS = frozenset("aeiouy")
# a name with fewer distinct consonants than this ("Ali", "Leo") says too little for this key
_MIN_CONSONANTS = 2


@lru_cache(maxsize=131072)
def consonants(key: str) -> str:
    """A name key's distinct consonants in alphabetical order ("" for too few): blind to
    letter order and vowels, so "tyolr" and "taylor", "psrson" and "parsons" agree."""
    letters = sorted(set(key) - _VOWELS)
    return "".join(letters) if len(letters) >= _MIN_CONSONANTS else ""


def _house(street: str) -> tuple[str, str]:
    number, word = "", ""
    for token in street.split():
        if not number and token.isdigit():
            number = token
        elif not word and token.isalpha() and len(token) > 2:
            word = token
        if number and word:
            break
    return number, word


def blocking_keys(record: MatchRecord) -> list[str]:
    """The record's blocking keys (strings; equal keys put two records in one block)."""
    keys: list[str] = []
    lm, fm = phonetic(record.lkey), phonetic(record.fkey)
    dob: date | None = record.dob
    # either name's sound, since a record may hold them swapped or only one of them
    codes = {c for c in (lm, fm) if c}
    if dob:
        # the birth date alone: a few people a day even in a large organization (windowed)
        keys.append(f"db|{dob.toordinal()}")
        if lm:
            keys.append(f"ly|{lm}|{dob.year}")
        for code in codes:
            # either name, either way round: "Watson Noah" meets "Noah Watson"
            keys.append(f"ny|{code}|{dob.year}")
            keys.append(f"dx|{code}|{dob.toordinal()}")
        # letters swapped or vowels dropped change a name's sound, not its consonants
        for letters in dict.fromkeys(consonants(k) for k in (record.lkey, record.fkey) if k):
            if letters:
                keys.append(f"cy|{letters}|{dob.year}")
    if lm and record.fkey:
        # a name and no more (no birth date, no address): the surname's sound + an initial
        keys.append(f"li|{lm}|{record.fkey[0]}")
    if lm and fm:
        # either order: "Smith John" and "John Smith" share it
        keys.append(f"nn|{lm}|{fm}" if lm <= fm else f"nn|{fm}|{lm}")
    if record.postcode:
        if lm:
            keys.append(f"lp|{lm}|{record.postcode}")
        if dob:
            keys.append(f"dp|{dob.toordinal()}|{record.postcode}")
    number, word = _house(record.street) if record.street else ("", "")
    if number and word:
        # the house without its locality: a postcode or suburb with a typo still meets
        sound = phonetic(word)
        if record.postcode:
            keys.append(f"ap|{number}|{sound}|{record.postcode}")
        if record.city:
            keys.append(f"ac|{number}|{sound}|{record.city}")
        if not record.postcode and not record.city:
            keys.append(f"ad|{number}|{sound}")
    if record.city:
        # the suburb stands in for a postcode with a typo
        for code in codes:
            keys.append(f"cx|{code}|{record.city}")
        if dob:
            keys.append(f"ds|{dob.toordinal()}|{record.city}")
            # both names and the day written wrong (Splink's fake_1000 is full of them)
            keys.append(f"yc|{dob.year}|{record.city}")
    if number:
        # a name with a typo or a changed surname, in the same house
        if dob:
            keys.append(f"dn|{dob.toordinal()}|{number}")
        if lm:
            keys.append(f"ln|{lm}|{number}")
    for email in record.emails:
        keys.append(f"em|{email}")
        if len(email) > 8:
            keys.append(f"e5|{email[:5]}")
        local = "".join(filter(str.isalpha, email.partition("@")[0]))
        if len(local) >= _MIN_LOCAL_PART:
            keys.append(f"el|{local}")
    for phone in record.phones:
        keys.append(f"ph|{phone}")
    for namespace, value in record.ids:
        keys.append(f"id|{namespace}|{value}")
    return keys


@dataclass(slots=True)
class BlockStats:
    """How the blocks came out: for logs, the summary and the benchmark."""

    keys: int = 0  # key entries (contact x key)
    blocks: int = 0  # blocks with two or more members
    windowed_blocks: int = 0  # blocks over max_block, compared by sorted neighbourhood
    largest_block: int = 0
    pairs: int = 0  # distinct pairs to compare


class KeyIndex:
    """Key entries of the records seen so far, kept as two compact arrays."""

    def __init__(self) -> None:
        self.hashes = array("q")
        self.members = array("q")

    def add(self, record: MatchRecord) -> None:
        seen: set[int] = set()
        for key in blocking_keys(record):
            value = key_hash(key)
            if value not in seen:
                seen.add(value)
                self.hashes.append(value)
                self.members.append(record.idx)

    def __len__(self) -> int:
        return len(self.hashes)


def sort_ranks(records: Sequence[MatchRecord]) -> np.ndarray:
    """Each record's position in name order (surname, first name, date of birth): the order
    oversized blocks are windowed in, so neighbours are the most alike."""
    order = sorted(
        range(len(records)),
        key=lambda i: (
            records[i].lkey,
            records[i].fkey,
            records[i].dob.toordinal() if records[i].dob else 0,
        ),
    )
    rank = np.empty(len(records), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(records), dtype=np.int64)
    return rank


def candidate_pairs(
    index: KeyIndex,
    rank: np.ndarray,
    *,
    max_block: int = DEFAULT_MAX_BLOCK,
    window: int = DEFAULT_WINDOW,
    changed: np.ndarray | None = None,
) -> tuple[np.ndarray, BlockStats]:
    """Distinct pairs ``(a, b)``, ``a < b``, as a sorted array of ``a << 32 | b`` codes.

    Keys of a bounded kind (``BOUNDED``) use their own, smaller block size and window; the
    others ``max_block`` and ``window``. A pair met under several keys is compared once.
    With ``changed`` (a boolean array by record index), only pairs with a changed member.
    """
    stats = BlockStats(keys=len(index))
    if len(index) < 2:
        return np.empty(0, dtype=np.int64), stats
    hashes = np.frombuffer(index.hashes, dtype=np.int64)
    members = np.frombuffer(index.members, dtype=np.int64)
    tiers = hashes & _TIER_MASK
    chunks: list[np.ndarray] = []
    for tier, (tier_block, tier_window) in enumerate([(max_block, window), *_TIER_LIMITS]):
        mask = tiers == tier
        if mask.sum() < 2:
            continue
        chunks.extend(
            _block_pairs(hashes[mask], members[mask], rank, tier_block, tier_window, changed, stats)
        )
    if not chunks:
        return np.empty(0, dtype=np.int64), stats
    codes = np.unique(np.concatenate(chunks))
    stats.pairs = len(codes)
    return codes, stats


def _block_pairs(
    hashes: np.ndarray,
    members: np.ndarray,
    rank: np.ndarray,
    max_block: int,
    window: int,
    changed: np.ndarray | None,
    stats: BlockStats,
) -> list[np.ndarray]:
    order = np.lexsort((rank[members], hashes))
    hashes, members = hashes[order], members[order]
    starts = np.empty(len(hashes), dtype=bool)
    starts[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=starts[1:])
    block = np.cumsum(starts) - 1
    sizes = np.bincount(block)
    size = sizes[block]
    keep = size >= 2
    members, block, size = members[keep], block[keep], size[keep]
    del hashes, starts, order
    multi = sizes[sizes >= 2]
    stats.blocks += len(multi)
    stats.windowed_blocks += int((multi > max_block).sum())
    stats.largest_block = max(stats.largest_block, int(multi.max()) if len(multi) else 0)
    chunks: list[np.ndarray] = []
    offset = 1
    while offset < len(members):
        same = block[offset:] == block[:-offset]
        if offset > window:
            same &= size[offset:] <= max_block
        if not same.any():
            break
        a, b = members[:-offset][same], members[offset:][same]
        low, high = np.minimum(a, b), np.maximum(a, b)
        if changed is not None:
            wanted = changed[low] | changed[high]
            low, high = low[wanted], high[wanted]
        chunks.append((low << 32) | high)
        offset += 1
    return chunks


def split_code(code: int) -> tuple[int, int]:
    return code >> 32, code & 0xFFFFFFFF
