"""Pairwise scoring: compare two records field by field and explain the score.

Fellegi-Sunter: each field's comparison falls into an agreement level (exact, nickname, typo,
different, ...; see ``levels``), each level has a weight ``log2(m / u)`` (m: how often true
duplicates show it, u: how often different people do; see ``weights``), and the sum of the
weights plus the prior odds is turned into a probability. Exact name agreement is adjusted by
the name's frequency in the organization: two "Smith"s say less than two "Papadopoulos"es.

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
  person, its stored score capped below the auto-merge threshold;
* unless the organization's own household pairs say its look-alikes are names or dates
  written wrong, not twins or juniors (``training.lookalikes_likely``: Febrl, fake_1000).

Pairs whose names disagree both ways round are never auto-merged either (``name: conflict``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

from crm.identity import feminine_form, first_names_compatible
from crm.matching.levels import (
    TYPO_SIMILARITY,
    compare_birth_dates,
    compare_emails,
    compare_first_names,
    compare_identifiers,
    compare_last_names,
    compare_postcodes,
    compare_street_names,
    compare_street_numbers,
    compare_suburbs,
)
from crm.matching.records import MatchRecord
from crm.matching.weights import DEFAULT_WEIGHTS, PRIOR_LOG2_ODDS, SWAP_WEIGHT

# frequency adjustment of exact name agreement stays within these bounds (log2 units)
TF_BOUNDS = (-3.0, 3.0)

AUTO_MERGE = "auto_merge"
# a household's other member is not even queued: its score stays below any review threshold
# the API accepts (``Thresholds``)
HARD_NEGATIVE_CAP = 0.05
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


# the values whose exact agreement is adjusted by how common they are: (which, record attribute)
TF_FIELDS = (("first", "fkey"), ("last", "lkey"), ("postcode", "postcode"), ("suburb", "city"))
# below this many values of a kind the frequencies mean nothing: no adjustment
TF_MIN_VALUES = 1000
# a first name written by at most this many contacts, next to one at least this many times as
# common, is a misspelling of it (``Scorer.misspelt``)
MISSPELT_RARE = 2
MISSPELT_RATIO = 20


@dataclass(slots=True)
class NameFrequencies:
    """How common each first name, surname, postcode and suburb is among the organization's
    contacts (term frequencies): two "Smith"s say less than two "Papadopoulos"es."""

    counts: dict[str, Counter] = field(
        default_factory=lambda: {which: Counter() for which, _ in TF_FIELDS}
    )
    totals: dict[str, int] = field(default_factory=dict)
    # chance two random contacts share a value of the kind
    agreement: dict[str, float] = field(default_factory=dict)
    # (which, key) -> adjustment, as of the last ``finish``
    _adjustments: dict[tuple[str, str], float] = field(
        default_factory=dict, repr=False, compare=False
    )
    # the common first names (``MISSPELT_RATIO`` contacts or more) and each rare one's
    # likely spelling, for ``spelling``
    _common_first: list[str] | None = field(default=None, repr=False, compare=False)
    _spellings: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, records: Iterable[MatchRecord]) -> NameFrequencies:
        freq = cls()
        for record in records:
            freq.add(record)
        freq.finish()
        return freq

    def add(self, record: MatchRecord) -> None:
        for which, attribute in TF_FIELDS:
            value = getattr(record, attribute)
            if value:
                self.counts[which][value] += 1

    def finish(self) -> None:
        self._adjustments.clear()
        self._common_first = None
        self._spellings.clear()
        for which, counts in self.counts.items():
            total = self.totals[which] = sum(counts.values())
            self.agreement[which] = _random_agreement(counts, total)

    def adjustment(self, which: str, key: str) -> float:
        """log2 of how much rarer (positive) or commoner (negative) than usual ``key`` is."""
        known = self._adjustments.get((which, key))
        if known is None:
            known = self._adjustments[(which, key)] = self._adjustment(which, key)
        return known

    def spelling(self, key: str) -> str:
        """The first name ``key`` is most likely written for: itself, or for a rare one (at
        most ``MISSPELT_RARE`` contacts) the one common name (``MISSPELT_RATIO`` times as
        many) a typo away (one edit, or Jaro-Winkler >= 0.92): "jonh" and "jhon" are "john".
        Itself when no such name, or several, or too few names to tell (``TF_MIN_VALUES``)."""
        known = self._spellings.get(key)
        if known is None:
            known = self._spellings[key] = self._spelling(key)
        return known

    def _spelling(self, key: str) -> str:
        counts = self.counts["first"]
        count = counts.get(key, 0)
        if not key or not 0 < count <= MISSPELT_RARE or self.totals.get("first", 0) < TF_MIN_VALUES:
            return key
        if self._common_first is None:
            self._common_first = [k for k, n in counts.items() if n >= MISSPELT_RATIO]
        near = {
            name
            for name, _, _ in process.extract(
                key, self._common_first, scorer=OSA.distance, score_cutoff=1, limit=None
            )
        }
        near.update(
            name
            for name, _, _ in process.extract(
                key,
                self._common_first,
                scorer=JaroWinkler.similarity,
                score_cutoff=TYPO_SIMILARITY,
                limit=None,
            )
        )
        near = {name for name in near if counts[name] >= MISSPELT_RATIO * count}
        return near.pop() if len(near) == 1 else key

    def _adjustment(self, which: str, key: str) -> float:
        count = self.counts[which].get(key, 0)
        total, u = self.totals.get(which, 0), self.agreement.get(which, 0.0)
        if total < TF_MIN_VALUES or count == 0 or u <= 0:
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
        twins: bool = True,
        juniors: bool = True,
    ) -> None:
        self.weights = weights or DEFAULT_WEIGHTS
        self.prior = prior
        self.frequencies = frequencies or NameFrequencies()
        # False when the organization's own household pairs show no twins
        # (``training.lookalikes_likely``): there a different first name under one birthday and
        # home is a first name written wrong, not a twin
        self.twins = twins
        # likewise False when they show no juniors: one first name in one home under two
        # dates of birth (or one missing) is one person's date written wrong
        self.juniors = juniors
        w = self.weights
        # ``compare_if``: the most names written the other way round can weigh
        self._swap_max = (
            max((w["first_name"][x] for x in _STRONG_FIRST if x in w["first_name"]), default=0.0)
            + max((w["last_name"][x] for x in _STRONG_LAST if x in w["last_name"]), default=0.0)
            + SWAP_WEIGHT
        )
        # ``_address_bound``: the most a street's two parts can weigh together (each at
        # least 0: a part is missing where either record has no house number or no name),
        # and a postcode or suburb not written the same
        self._street_max = max(0.0, *w["street_number"].values()) + max(
            0.0, *w["street_name"].values()
        )
        self._postcode_apart_max = max(
            (v for k, v in w["postcode"].items() if k != "exact"), default=0.0
        )
        self._suburb_apart_max = max(
            (v for k, v in w["suburb"].items() if k != "exact"), default=0.0
        )

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

        dob_level = compare_birth_dates(a.dob, b.dob)
        if dob_level:
            weight = w["date_of_birth"][dob_level]
            reasons.append(Reason("date_of_birth", dob_level, None, weight))
            total += weight

        shared_contact = False
        if a.emails and b.emails:
            level = compare_emails(a.emails, b.emails)
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

        address = self._address(a, b)
        for reason in address:
            reasons.append(reason)
            total += reason.weight

        if a.ids and b.ids:
            level = compare_identifiers(a.ids, b.ids)
            if level:
                weight = w["identifier"][level]
                reasons.append(Reason("identifier", level, None, weight))
                total += weight

        score = _probability(total)
        household = ""
        if not first_level.startswith("swapped") and (
            _share_surname(a, b) and (_same_home(address) or shared_contact)
        ):
            household, person_weight = self._household(a, b, first_level, dob_level, reasons)
            if household == HARD_NEGATIVE:
                # what a household shares (surname, address, phone, email) says nothing about
                # which member this is: only the first name and date of birth do
                score = min(score, _probability(self.prior + person_weight), HARD_NEGATIVE_CAP)
            if household:
                reasons.append(Reason("household", household, None, 0.0))
        elif _names_conflict(names):
            # neither name agrees either way round: contact details alone never merge people
            household = UNCONFIRMED
            reasons.append(Reason("name", "conflict", None, 0.0))
        return Scored(score=score, weight=total, reasons=reasons, household=household)

    def compare_if(self, a: MatchRecord, b: MatchRecord, at_least: float) -> Scored | None:
        """``compare(a, b)``, or None when its score is surely below ``at_least`` (the review
        threshold: most compared pairs of a sweep end there, and are dropped).

        The bound is exact: a pair's score is never above the probability of its total
        weight (the household rules only lower it). That total is worked out here without
        the reasons, the household rules or the objects they need, the address last: first
        bounded by the most its parts could weigh, and compared only when that bound could
        reach ``at_least``. A margin far above the rounding of a sum of a dozen weights
        covers the order they are added in."""
        total = self._weight_but_names_and_address(a, b) + _ROUNDING
        names = self._direct_names_weight(a, b)
        # (a margin here too: comparing across when ``_names`` would not only raises the
        # bound)
        swap = names <= _ROUNDING and bool(a.fkey and b.fkey and a.lkey and b.lkey)
        address = self._address_bound(a, b)
        if swap:
            # the names written the other way round weigh at most ``_swap_max``
            if _probability(total + max(names, self._swap_max) + address) < at_least:
                return None
            names = self._swapped_names_weight(a, b, names)
        if _probability(total + names + address) < at_least:
            return None
        if _probability(total + names + self._address_weight(a, b)) < at_least:
            return None
        return self.compare(a, b)

    def total_weight(self, a: MatchRecord, b: MatchRecord) -> float:
        """The total weight (log2 odds) ``compare`` adds up for the pair, reasons left out:
        the same levels, weights and frequency adjustments, the swapped-names and
        moved-house rules included."""
        names = self._direct_names_weight(a, b)
        if names <= 0 and a.fkey and b.fkey and a.lkey and b.lkey:
            names = self._swapped_names_weight(a, b, names)
        return self._weight_but_names_and_address(a, b) + names + self._address_weight(a, b)

    def _direct_names_weight(self, a: MatchRecord, b: MatchRecord) -> float:
        """What ``_names`` weighs the first and last names compared straight."""
        w, tf = self.weights, self.frequencies
        fa, fb, la, lb = a.fkey, b.fkey, a.lkey, b.lkey
        # added up in ``_names``' order, to the last bit: whether it is above 0 decides
        # whether the names are compared the other way round
        names = 0.0
        if fa and fb:
            level = compare_first_names(a.first, fa, b.first, fb)[0]
            weight = w["first_name"][level]
            if level == "exact":
                weight += tf.adjustment("first", fa)
            names += weight
        if la and lb:
            level = compare_last_names(la, lb)[0]
            weight = w["last_name"][level]
            if level == "exact":
                weight += tf.adjustment("last", la)
            names += weight
        return names

    def _swapped_names_weight(self, a: MatchRecord, b: MatchRecord, direct: float) -> float:
        """``_names`` when the straight comparison weighs nothing: "Smith John" and "John
        Smith" compared across, kept when that explains more."""
        w = self.weights
        last_level = compare_last_names(a.lkey, b.fkey)[0]
        if last_level not in _STRONG_LAST:
            return direct
        first_level = compare_first_names(a.first, a.fkey, b.lkey, b.lkey)[0]
        if first_level not in _STRONG_FIRST:
            return direct
        swapped = w["first_name"][first_level] + w["last_name"][last_level]
        return max(direct, swapped + SWAP_WEIGHT)

    def _weight_but_names_and_address(self, a: MatchRecord, b: MatchRecord) -> float:
        """The prior, the date of birth, emails, phones and identifiers, weighed."""
        w = self.weights
        total = self.prior
        if a.dob is not None and b.dob is not None:
            total += w["date_of_birth"][compare_birth_dates(a.dob, b.dob)]
        if a.emails and b.emails:
            total += w["email"][compare_emails(a.emails, b.emails)]
        if a.phones and b.phones:
            total += w["phone"]["shared" if not set(a.phones).isdisjoint(b.phones) else "different"]
        if a.ids and b.ids:
            level = compare_identifiers(a.ids, b.ids)
            if level:
                total += w["identifier"][level]
        return total

    def _address_weight(self, a: MatchRecord, b: MatchRecord) -> float:
        """What ``_address``'s reasons weigh together: the parts' weights, or only the one
        weighing most against when every compared part differs."""
        w, tf = self.weights, self.frequencies
        parts: list[float] = []
        moved = True
        if a.street and b.street:
            level = compare_street_numbers(a.street, b.street)
            if level:
                parts.append(w["street_number"][level])
                moved = level == "different"
            level = compare_street_names(a.street, b.street)[0]
            if level:
                parts.append(w["street_name"][level])
                moved = moved and level == "different"
        level = compare_postcodes(a.postcode, b.postcode)
        if level:
            weight = w["postcode"][level]
            if level == "exact":
                weight += tf.adjustment("postcode", a.postcode)
            parts.append(weight)
            moved = moved and level == "different"
        level = compare_suburbs(a.city, b.city)[0]
        if level:
            weight = w["suburb"][level]
            if level == "exact":
                weight += tf.adjustment("suburb", a.city)
            parts.append(weight)
            moved = moved and level == "different"
        if not parts:
            return 0.0
        return min(parts) if moved and len(parts) > 1 else sum(parts)

    def _address_bound(self, a: MatchRecord, b: MatchRecord) -> float:
        """At least ``_address_weight``, from what is cheap to tell: each part's heaviest
        level (a street's parts at least 0: either may be missing), exact postcodes and
        suburbs told apart from the others. The parts' sum bounds the sum, and their
        largest the one part that counts when all differ."""
        w, tf = self.weights, self.frequencies
        bounds: list[float] = []
        if a.street and b.street:
            bounds.append(self._street_max)
        if a.postcode and b.postcode:
            if a.postcode == b.postcode:
                bounds.append(w["postcode"]["exact"] + tf.adjustment("postcode", a.postcode))
            else:
                bounds.append(self._postcode_apart_max)
        if a.city and b.city:
            if a.city == b.city:
                bounds.append(w["suburb"]["exact"] + tf.adjustment("suburb", a.city))
            else:
                bounds.append(self._suburb_apart_max)
        if not bounds:
            return 0.0
        return max(sum(bounds), max(bounds))

    def _address(self, a: MatchRecord, b: MatchRecord) -> list[Reason]:
        """The address in four parts (house number, street name, postcode, suburb), each
        weighed, exact postcodes and suburbs adjusted by their frequency. A pair whose every
        compared part differs has moved house once, not four times: only the part weighing
        most against counts (the others are kept as reasons, weighing nothing)."""
        w, tf = self.weights, self.frequencies
        reasons: list[Reason] = []
        if a.street and b.street:
            level = compare_street_numbers(a.street, b.street)
            if level:
                reasons.append(Reason("street_number", level, None, w["street_number"][level]))
            level, similarity = compare_street_names(a.street, b.street)
            if level:
                reasons.append(Reason("street_name", level, similarity, w["street_name"][level]))
        level = compare_postcodes(a.postcode, b.postcode)
        if level:
            weight = w["postcode"][level]
            if level == "exact":
                weight += tf.adjustment("postcode", a.postcode)
            reasons.append(Reason("postcode", level, None, weight))
        level, similarity = compare_suburbs(a.city, b.city)
        if level:
            weight = w["suburb"][level]
            if level == "exact":
                weight += tf.adjustment("suburb", a.city)
            reasons.append(Reason("suburb", level, similarity, weight))
        if len(reasons) > 1 and all(r.comparison == "different" for r in reasons):
            strongest = min(reasons, key=lambda r: r.weight)
            for reason in reasons:
                if reason is not strongest:
                    reason.weight = 0.0
        return reasons

    def _household(
        self, a: MatchRecord, b: MatchRecord, first_level: str, dob_level: str, reasons: list
    ) -> tuple[str, float]:
        """("hard_negative" | "unconfirmed" | "", the first name's and birth date's weight).

        A different (or missing) date of birth, or a different first name without both dates
        of birth agreeing, is another member of the household. A first name unlike the other
        with the same date of birth may be twins: only a person can tell. A first-name typo
        (one edit, or Jaro-Winkler >= 0.92 under the very same date of birth) with the same
        date of birth, or a one-edit first-name typo with a digit wrong in the date of birth,
        is the same person; so is the same first name with the same birth year (a junior is a
        generation apart). A first name that is a rare spelling of the other, a common one
        (``misspelt``), is a name written wrong, not a sibling's, also with one date of birth
        missing unless an email or phone says another person. Where the organization's own
        pairs show no twins (``twins``) one birthday in one home is one person whatever the
        first name; where they show no juniors (``juniors``), one first name in one home
        whatever the date of birth."""
        person_weight = sum(r.weight for r in reasons if r.field in ("first_name", "date_of_birth"))
        dob_agrees = dob_level in ("exact", "transposed")
        if dob_level == "year" and first_level in _SAME_FIRST and not feminine_form(a.fkey, b.fkey):
            # one first name and one birth year, the day or month wrong: a junior is a
            # generation apart, and siblings do not share a first name. The score decides.
            return "", person_weight
        if (
            not self.juniors
            and dob_level in ("different", "")
            and first_level in _SAME_FIRST
            and not feminine_form(a.fkey, b.fkey)
        ):
            # an organization with no juniors among its contacts (``training``): one first name
            # in one home is one person, its date of birth written wrong or left out
            return "", person_weight
        if dob_level in ("different", "year"):
            return HARD_NEGATIVE, person_weight
        if not self.twins and dob_agrees:
            # an organization with no twins among its contacts (``training``): one birthday in
            # one home is one person, whatever the first name says (or when it is missing)
            return "", person_weight
        misspelt = first_level in _LOOKS_ALIKE | {"different"} and self.misspelt(
            a.fkey, b.fkey, alike=first_level != "different"
        )
        if a.fkey and b.fkey and first_level in ("different", "similar"):
            near = first_level == "similar" or first_names_compatible(a.first, b.first)
            if dob_agrees and misspelt:
                return "", person_weight
            if dob_agrees and near:
                return UNCONFIRMED, person_weight
            if not dob_level and misspelt and not _contact_differs(reasons):
                return "", person_weight
            # twins: one birthday, two names
            return HARD_NEGATIVE, person_weight
        # twins of both sexes share a birthday too: Paul/Paula is for a person to decide
        # a first-name typo: one edit, or a closer likeness (Jaro-Winkler >= 0.92) under the
        # very same date of birth
        same_first = (
            first_level in ("exact", "nickname", "prefix")
            or (
                first_level == "typo"
                and (dob_level == "exact" or OSA.distance(a.fkey, b.fkey) <= 1)
            )
            or misspelt
        )
        confirmed = (
            # (one record without a first name stays unconfirmed: it may be either twin)
            (dob_agrees and same_first)
            # a digit wrong in the date of birth of a namesake (a junior's differs more)
            or (
                dob_level == "typo"
                and (
                    first_level in ("exact", "nickname")
                    or (first_level == "typo" and OSA.distance(a.fkey, b.fkey) <= 1)
                    or misspelt
                )
            )
            # one date of birth missing: a misspelling of the first name is one person unless an
            # email or phone says another (the same first name may be a junior's)
            or (not dob_level and misspelt and not _contact_differs(reasons))
        ) and not feminine_form(a.fkey, b.fkey)
        return ("" if confirmed else UNCONFIRMED), person_weight

    def misspelt(self, a: str, b: str, *, alike: bool = True) -> bool:
        """Whether one of two first-name keys is a rare spelling (``MISSPELT_RARE`` contacts at
        most) of the other (``alike``: the two look alike), a name ``MISSPELT_RATIO`` times as
        common: "Jonh" of "John", not "Mary" of "Mark" (both common) nor "Aidan" of "Aiden"
        (both rare); or both are misspellings of one common name ("Jonh" and "Jhon",
        ``NameFrequencies.spelling``). Needs the organization's name frequencies
        (``TF_MIN_VALUES`` names); False without them."""
        frequencies = self.frequencies
        if frequencies.totals.get("first", 0) < TF_MIN_VALUES or feminine_form(a, b):
            return False
        counts = frequencies.counts["first"]
        rare, common = sorted((counts.get(a, 0), counts.get(b, 0)))
        if alike and 0 < rare <= MISSPELT_RARE and common >= MISSPELT_RATIO * rare:
            return True
        # two misspellings of one common name: "jonh" and "jhon"
        return a != b and frequencies.spelling(a) == frequencies.spelling(b)

    def _names(self, a: MatchRecord, b: MatchRecord) -> list[Reason]:
        w = self.weights
        direct: list[Reason] = []
        weight_direct = 0.0
        if a.fkey and b.fkey:
            level, similarity = compare_first_names(a.first, a.fkey, b.first, b.fkey)
            weight = w["first_name"][level]
            if level == "exact":
                weight += self.frequencies.adjustment("first", a.fkey)
            direct.append(Reason("first_name", level, similarity, weight))
            weight_direct += weight
        if a.lkey and b.lkey:
            level, similarity = compare_last_names(a.lkey, b.lkey)
            weight = w["last_name"][level]
            if level == "exact":
                weight += self.frequencies.adjustment("last", a.lkey)
            direct.append(Reason("last_name", level, similarity, weight))
            weight_direct += weight
        if not (a.fkey and b.fkey and a.lkey and b.lkey) or weight_direct > 0:
            return direct
        # "Smith John" and "John Smith": compare across, and keep that when it explains more
        first_level, first_sim = compare_first_names(a.first, a.fkey, b.lkey, b.lkey)
        last_level, last_sim = compare_last_names(a.lkey, b.fkey)
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
# first names alike enough for one to be the other written wrong (``Scorer.misspelt``)
_LOOKS_ALIKE = frozenset({"typo", "similar", "prefix"})
# first names that are one person's however the birth day is written
_SAME_FIRST = frozenset({"exact", "nickname", "typo", "prefix", "initial"})
_STRONG_LAST = frozenset({"exact", "typo", "partial"})
# ``compare_if``'s margin (log2 odds): rounding in a sum of a dozen weights is ~1e-14
_ROUNDING = 1e-9


def _probability(log2_odds: float) -> float:
    if log2_odds > 60:
        return 1.0
    if log2_odds < -60:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-log2_odds))


def _share_surname(a: MatchRecord, b: MatchRecord) -> bool:
    """The surnames agree, or one's surname is the other's first name (written swapped)."""
    for x, y in ((a.lkey, b.lkey), (a.lkey, b.fkey), (a.fkey, b.lkey)):
        if x and y and compare_last_names(x, y)[0] in ("exact", "typo", "partial", "similar"):
            return True
    return False


def _same_home(address: list[Reason]) -> bool:
    """The pair's street agrees (name, and house number where both have one) and so does its
    locality where both have one: the same home."""
    level = {r.field: r.comparison for r in address}
    if level.get("street_name") not in ("exact", "typo") or level.get("street_number") == (
        "different"
    ):
        return False
    localities = [level[f] for f in ("postcode", "suburb") if f in level]
    return not localities or any(x in ("exact", "near", "typo") for x in localities)


def _contact_differs(reasons: list[Reason]) -> bool:
    """An email or phone of the pair says another person: both have one, and they differ."""
    return any(r.field in ("email", "phone") and r.comparison == "different" for r in reasons)


def _names_conflict(names: list[Reason]) -> bool:
    return len(names) == 2 and all(r.comparison == "different" for r in names)


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
