"""Pairwise scoring: compare two records field by field and explain the score.

Fellegi-Sunter: each field's comparison falls into an agreement level (exact, nickname, typo,
different, ...), each level has a weight ``log2(m / u)`` (m: how often true duplicates show
it, u: how often different people do; see ``weights``), and the sum of the weights plus the
prior odds is turned into a probability. Exact name agreement is adjusted by the name's
frequency in the organization: two "Smith"s say less than two "Papadopoulos"es.

Every field that was compared becomes a reason ``{field, comparison, similarity, weight}``.

Households are hard negatives. Two people of one household share a surname, an address, a
phone or an email, and the independence the model assumes fails for them: everything agrees
but a first name or a date of birth. When a pair shares a surname and a home (address, phone
or email):

* a clearly different first name or date of birth makes it a ``hard_negative``: its score
  keeps only what tells the members apart (first name, date of birth), so it is seldom even
  queued, and it never auto-merges;
* without both dates of birth agreeing and the first names agreeing closely, it is
  ``unconfirmed`` (a parent and child of one name, twins with near names): queued for a
  person, its stored score capped below the auto-merge threshold.

Pairs whose names disagree both ways round are never auto-merged either (``name: conflict``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from crm.identity import feminine_form, first_name_similarity, first_names_compatible
from crm.matching.blocking import phonetic
from crm.matching.records import MatchRecord
from crm.matching.weights import DEFAULT_WEIGHTS, PRIOR_LOG2_ODDS, SWAP_WEIGHT

TYPO_SIMILARITY = 0.92
SIMILAR_SIMILARITY = 0.85
STREET_SAME = 90.0
STREET_SIMILAR = 75.0
# frequency adjustment of exact name agreement stays within these bounds (log2 units)
TF_BOUNDS = (-3.0, 3.0)

AUTO_MERGE = "auto_merge"
# household verdicts: two people of one household; or maybe, and only a person can tell
HARD_NEGATIVE = "hard_negative"
UNCONFIRMED = "unconfirmed"
REVIEW = "review"
NO_MATCH = "no_match"


@dataclass(slots=True)
class Reason:
    field: str
    comparison: str
    similarity: float | None
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "comparison": self.comparison,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "weight": round(self.weight, 2),
        }


@dataclass(slots=True)
class Scored:
    """The comparison of two records: probability, total weight, reasons, household flag."""

    score: float
    weight: float
    reasons: list[Reason]
    # HARD_NEGATIVE or UNCONFIRMED: never auto-merged; "" otherwise
    household: str = ""

    def reasons_json(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.reasons]


@dataclass(slots=True)
class NameFrequencies:
    """How common each first and last name key is among the organization's contacts."""

    first: Counter = field(default_factory=Counter)
    last: Counter = field(default_factory=Counter)
    first_total: int = 0
    last_total: int = 0
    first_u: float = 0.0  # chance two random contacts share a first name
    last_u: float = 0.0
    # (which, key) -> adjustment, as of the last ``finish``
    _adjustments: dict[tuple[str, str], float] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def of(cls, records: Iterable[MatchRecord]) -> NameFrequencies:
        freq = cls()
        for record in records:
            freq.add(record)
        freq.finish()
        return freq

    def add(self, record: MatchRecord) -> None:
        if record.fkey:
            self.first[record.fkey] += 1
        if record.lkey:
            self.last[record.lkey] += 1

    def finish(self) -> None:
        self._adjustments.clear()
        self.first_total = sum(self.first.values())
        self.last_total = sum(self.last.values())
        self.first_u = _random_agreement(self.first, self.first_total)
        self.last_u = _random_agreement(self.last, self.last_total)

    def adjustment(self, which: str, key: str) -> float:
        """log2 of how much rarer (positive) or commoner (negative) than usual ``key`` is."""
        known = self._adjustments.get((which, key))
        if known is None:
            known = self._adjustments[(which, key)] = self._adjustment(which, key)
        return known

    def _adjustment(self, which: str, key: str) -> float:
        counts, total, u = (
            (self.first, self.first_total, self.first_u)
            if which == "first"
            else (self.last, self.last_total, self.last_u)
        )
        count = counts.get(key, 0)
        if total < 1000 or count == 0 or u <= 0:
            return 0.0  # too few contacts for the frequencies to mean anything
        low, high = TF_BOUNDS
        return min(high, max(low, math.log2(u / (count / total))))


def _random_agreement(counts: Counter, total: int) -> float:
    if total <= 1:
        return 0.0
    return sum(c * c for c in counts.values()) / (total * total)


@dataclass(slots=True, frozen=True)
class Thresholds:
    """Scores at or above ``auto_merge`` merge on their own; at or above ``review`` queue."""

    # measured on the benchmark generator: auto-merge precision 1.0, F1 with the queue 0.957
    auto_merge: float = 0.98
    review: float = 0.6

    @classmethod
    def for_settings(cls, settings: dict[str, Any] | None) -> Thresholds:
        """The organization's ``settings["dedup"]`` thresholds; defaults for missing or bad ones."""
        dedup = (settings or {}).get("dedup") or {}
        default = cls()
        auto, review = dedup.get("auto_merge", default.auto_merge), dedup.get("review", None)
        try:
            auto = float(auto)
            review = float(review) if review is not None else min(default.review, auto)
        except (TypeError, ValueError):
            return default
        if not (0.0 < review <= auto <= 1.0):
            return default
        return cls(auto_merge=auto, review=review)

    @property
    def household_cap(self) -> float:
        """The highest score a household pair keeps: just below the auto-merge threshold."""
        return max(self.review, self.auto_merge - 0.001)


class Scorer:
    """Compares records with one set of weights and the organization's name frequencies."""

    def __init__(
        self,
        *,
        weights: dict[str, dict[str, float]] | None = None,
        prior: float = PRIOR_LOG2_ODDS,
        frequencies: NameFrequencies | None = None,
    ) -> None:
        self.weights = weights or DEFAULT_WEIGHTS
        self.prior = prior
        self.frequencies = frequencies or NameFrequencies()

    def compare(self, a: MatchRecord, b: MatchRecord) -> Scored:
        """Score the pair and say why."""
        w = self.weights
        reasons: list[Reason] = []
        total = self.prior

        names = self._names(a, b)
        for reason in names:
            reasons.append(reason)
            total += reason.weight
        first_level = names[0].comparison if names and names[0].field == "first_name" else ""

        dob_level = _dob_level(a.dob, b.dob)
        if dob_level:
            weight = w["date_of_birth"][dob_level]
            reasons.append(Reason("date_of_birth", dob_level, None, weight))
            total += weight

        shared_contact = False
        if a.emails and b.emails:
            level = _email_level(a.emails, b.emails)
            shared_contact = level == "shared"
            weight = w["email"][level]
            reasons.append(Reason("email", level, None, weight))
            total += weight
        if a.phones and b.phones:
            level = "shared" if not set(a.phones).isdisjoint(b.phones) else "different"
            shared_contact = shared_contact or level == "shared"
            weight = w["phone"][level]
            reasons.append(Reason("phone", level, None, weight))
            total += weight

        address_level = ""
        if a.has_address and b.has_address:
            address_level, similarity = _address_level(a, b)
            weight = w["address"][address_level]
            reasons.append(Reason("address", address_level, similarity, weight))
            total += weight

        if a.ids and b.ids:
            level = _identifier_level(a.ids, b.ids)
            if level:
                weight = w["identifier"][level]
                reasons.append(Reason("identifier", level, None, weight))
                total += weight

        score = _probability(total)
        household = ""
        if not first_level.startswith("swapped") and (
            _share_surname(a, b) and (address_level in ("same", "similar") or shared_contact)
        ):
            household, person_weight = self._household(a, b, first_level, dob_level, reasons)
            if household == HARD_NEGATIVE:
                # what a household shares (surname, address, phone, email) says nothing about
                # which member this is: only the first name and date of birth do
                score = min(score, _probability(self.prior + person_weight))
            if household:
                reasons.append(Reason("household", household, None, 0.0))
        elif _names_conflict(names):
            # neither name agrees either way round: contact details alone never merge people
            household = UNCONFIRMED
            reasons.append(Reason("name", "conflict", None, 0.0))
        return Scored(score=score, weight=total, reasons=reasons, household=household)

    def _household(
        self, a: MatchRecord, b: MatchRecord, first_level: str, dob_level: str, reasons: list
    ) -> tuple[str, float]:
        """("hard_negative" | "unconfirmed" | "", the first name's and birth date's weight)."""
        person_weight = sum(r.weight for r in reasons if r.field in ("first_name", "date_of_birth"))
        if (a.fkey and b.fkey and not first_names_compatible(a.first, b.first)) or (
            dob_level == "different"
        ):
            return HARD_NEGATIVE, person_weight
        # twins of both sexes share a birthday too: Paul/Paula is for a person to decide
        confirmed = (
            dob_level in ("exact", "transposed")
            and (
                first_level in ("exact", "nickname", "prefix")
                or (first_level == "typo" and OSA.distance(a.fkey, b.fkey) <= 1)
            )
            and not feminine_form(a.fkey, b.fkey)
        )
        return ("" if confirmed else UNCONFIRMED), person_weight

    def _names(self, a: MatchRecord, b: MatchRecord) -> list[Reason]:
        w = self.weights
        direct: list[Reason] = []
        weight_direct = 0.0
        if a.fkey and b.fkey:
            level, similarity = _first_level(a.first, a.fkey, b.first, b.fkey)
            weight = w["first_name"][level]
            if level == "exact":
                weight += self.frequencies.adjustment("first", a.fkey)
            direct.append(Reason("first_name", level, similarity, weight))
            weight_direct += weight
        if a.lkey and b.lkey:
            level, similarity = _last_level(a.lkey, b.lkey)
            weight = w["last_name"][level]
            if level == "exact":
                weight += self.frequencies.adjustment("last", a.lkey)
            direct.append(Reason("last_name", level, similarity, weight))
            weight_direct += weight
        if not (a.fkey and b.fkey and a.lkey and b.lkey) or weight_direct > 0:
            return direct
        # "Smith John" and "John Smith": compare across, and keep that when it explains more
        first_level, first_sim = _first_level(a.first, a.fkey, b.lkey, b.lkey)
        last_level, last_sim = _last_level(a.lkey, b.fkey)
        if first_level not in _STRONG_FIRST or last_level not in _STRONG_LAST:
            return direct
        first_weight = w["first_name"][first_level]
        last_weight = w["last_name"][last_level]
        if first_weight + last_weight + SWAP_WEIGHT <= weight_direct:
            return direct
        return [
            Reason("first_name", f"swapped_{first_level}", first_sim, first_weight),
            Reason("last_name", f"swapped_{last_level}", last_sim, last_weight),
            Reason("name", "swapped", None, SWAP_WEIGHT),
        ]


_STRONG_FIRST = frozenset({"exact", "nickname", "typo", "prefix"})
_STRONG_LAST = frozenset({"exact", "typo", "partial"})


def _probability(log2_odds: float) -> float:
    if log2_odds > 60:
        return 1.0
    if log2_odds < -60:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-log2_odds))


@lru_cache(maxsize=262144)
def _first_level(a: str, akey: str, b: str, bkey: str) -> tuple[str, float]:
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
def _last_level(a: str, b: str) -> tuple[str, float]:
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


def _share_surname(a: MatchRecord, b: MatchRecord) -> bool:
    """The surnames agree, or one's surname is the other's first name (written swapped)."""
    for x, y in ((a.lkey, b.lkey), (a.lkey, b.fkey), (a.fkey, b.lkey)):
        if x and y and _last_level(x, y)[0] in ("exact", "typo", "partial", "similar"):
            return True
    return False


def _names_conflict(names: list[Reason]) -> bool:
    return len(names) == 2 and all(r.comparison == "different" for r in names)


def _dob_level(a: date | None, b: date | None) -> str:
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


def _email_level(a: tuple[str, ...], b: tuple[str, ...]) -> str:
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


def _address_level(a: MatchRecord, b: MatchRecord) -> tuple[str, float | None]:
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


def _identifier_level(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> str:
    if not set(a).isdisjoint(b):
        return "shared"
    namespaces_a = {ns for ns, _ in a}
    if any(ns in namespaces_a for ns, _ in b):
        return "conflict"  # two different patient ids in one PMS (or two handles)
    return ""


def classify(scored: Scored, thresholds: Thresholds) -> str:
    """auto_merge, review or no_match; a household pair never auto-merges."""
    if scored.score >= thresholds.auto_merge and not scored.household:
        return AUTO_MERGE
    if scored.score >= thresholds.review:
        return REVIEW
    return NO_MATCH


def queued_score(scored: Scored, thresholds: Thresholds) -> float:
    """The score stored with a review candidate (a household's is capped below auto-merge)."""
    if scored.household:
        return min(scored.score, thresholds.household_cap)
    return scored.score
