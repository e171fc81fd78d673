"""Each organization's own Fellegi-Sunter model, learned from its contacts at each sweep.

Unsupervised, as Splink and fastLink do it: the comparison levels of a bounded sample of the
blocked pairs (``SAMPLE_PAIRS``) form an integer matrix (pair x field), and
expectation-maximisation fits a two-class mixture to it, vectorised with numpy: the share of
duplicates among compared pairs (the prior), m (how often duplicates show each level) and u
(how often different people do). The default weights (``weights.M_U``) are the Dirichlet prior
of every m and u (``PRIOR_STRENGTH`` pseudo-pairs), so a level the sample barely shows keeps
its default, and the start of the iterations. Organizations under ``TRAIN_MIN_CONTACTS``
contacts keep the defaults.

The scores then use, as Splink does, u measured on random pairs of contacts
(``RANDOM_PAIRS``: what a level says between any two people; exact birth dates and names from
their frequencies, too rare in a sample) and the prior as the chance that two random contacts
are one person (EM's share of duplicates among the blocked pairs, times their number, over
every pair of contacts). EM's own u, of the blocked pairs, made the fields blocking selects on
look common among different people: a first name, surname and birth date all agreeing, and
nothing else known, stayed below the auto-merge threshold (its first-name weight was 0 on our
generator), where among random pairs it is all but impossible by chance. (``u_random`` is the
share of random pairs showing each level, as sampled.)

Exact agreement on first name, surname, postcode and suburb is further adjusted by the value's
frequency (``scoring.NameFrequencies``): the model learns the level, the frequency the value.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from crm.matching.records import MatchRecord
from crm.matching.scoring import NameFrequencies, Scored, Scorer
from crm.matching.weights import M_U, PRIOR_LOG2_ODDS, weights_from

TRAIN_MIN_CONTACTS = 500
# levels whose weight keeps its sign however the model learns: +1 never below 0, -1 never above
SIGNS = {"exact": 1, "shared": 1, "different": -1}
SAMPLE_PAIRS = 20_000
# random pairs of contacts: u (what a level says between any two people)
RANDOM_PAIRS = 20_000
RANDOM_SMOOTHING = 0.5
PRIOR_STRENGTH = 50.0
MAX_ITERATIONS = 40
TOLERANCE = 1e-5
_FLOOR = 1e-5
_FLOOR_U = 1e-12  # a u of random pairs is never 0 (no infinite weight)

FIELDS = tuple(M_U)
LEVELS = {name: tuple(levels) for name, levels in M_U.items()}
_OFFSETS = np.cumsum([0] + [len(LEVELS[f]) for f in FIELDS])[:-1]


@dataclass(slots=True)
class DedupModel:
    """m and u per field and level, and the prior odds, as one organization's sweep uses them."""

    m_u: dict[str, dict[str, tuple[float, float]]]
    # log2 odds that two random contacts are one person (trained); that a compared pair is,
    # with the defaults' u of compared pairs
    prior: float = PRIOR_LOG2_ODDS
    trained: bool = False
    pairs: int = 0  # blocked pairs the model learned from
    iterations: int = 0
    u_random: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""
    # household pairs among the blocked pairs, by kind (``household_kind``), and whether they
    # say twins, juniors may be among the contacts (``lookalikes_likely``; yes without evidence)
    households: dict[str, int] = field(default_factory=dict)
    twins: bool = True
    juniors: bool = True

    @classmethod
    def default(cls, note: str = "") -> DedupModel:
        return cls(m_u={f: dict(levels) for f, levels in M_U.items()}, note=note)

    @property
    def weights(self) -> dict[str, dict[str, float]]:
        """``log2(m / u)``, with the sign of agreement kept: a field that disagrees never
        counts for a pair, nor one that agrees exactly against it (``SIGNS``). EM on a small or
        odd organization can learn either (names written the other way round teach it that a
        "different" surname is a duplicate's mark)."""
        weights = weights_from(self.m_u)
        for levels in weights.values():
            for level, sign in SIGNS.items():
                if level in levels:
                    levels[level] = max(0.0, levels[level]) if sign > 0 else min(0.0, levels[level])
        return weights

    def scorer(self, frequencies: NameFrequencies | None = None) -> Scorer:
        return Scorer(
            weights=self.weights,
            prior=self.prior,
            frequencies=frequencies,
            twins=self.twins,
            juniors=self.juniors,
        )

    def as_json(self) -> dict[str, Any]:
        """What the sweep run stores and the API shows."""
        weights = self.weights
        return {
            "trained": self.trained,
            "pairs": self.pairs,
            "iterations": self.iterations,
            "note": self.note,
            "households": dict(self.households),
            "twins": self.twins,
            "juniors": self.juniors,
            "match_probability": round(_odds_to_probability(self.prior), 6),
            "fields": [
                {
                    "field": name,
                    "levels": [
                        {
                            "level": level,
                            "m": round(m, 6),
                            "u": round(u, 6),
                            "u_random": (
                                round(self.u_random[name][level], 6)
                                if level in self.u_random.get(name, {})
                                else None
                            ),
                            "weight": round(weights[name][level], 3),
                        }
                        for level, (m, u) in levels.items()
                    ],
                }
                for name, levels in self.m_u.items()
            ],
        }


class RecordSample:
    """A uniform sample of at most ``size`` records seen one chunk after another (reservoir),
    renumbered from 0: what the streamed sweep learns from. With ``keys`` (each record's
    blocking key hashes, as the sweep computed them to load it), they are kept beside the
    sample's records (``keys``), not computed again to block it."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self.records: list[MatchRecord] = []
        self.keys: list[array[int]] = []
        self._rng = random.Random(seed)

    def add(
        self, chunk: Sequence[MatchRecord], keys: Sequence[Sequence[int]] | None = None
    ) -> None:
        for n, record in enumerate(chunk):
            self.seen += 1
            if len(self.records) < self.size:
                self.records.append(replace(record, idx=len(self.records)))
                if keys is not None:
                    self.keys.append(array("q", keys[n]))
                continue
            slot = self._rng.randrange(self.seen)
            if slot < self.size:
                self.records[slot] = replace(record, idx=slot)
                if keys is not None:
                    self.keys[slot] = array("q", keys[n])


def level_vector(scored: Scored) -> dict[str, str]:
    """The level of each compared field of a scored pair (names written swapped count as
    their level)."""
    levels: dict[str, str] = {}
    for reason in scored.reasons:
        if reason.field in LEVELS:
            level = reason.comparison.removeprefix("swapped_")
            if level in LEVELS[reason.field]:
                levels[reason.field] = level
    return levels


def level_matrix(
    records: Sequence[MatchRecord],
    pairs: np.ndarray,
    scorer: Scorer,
    *,
    skip_households: bool = False,
    evidence: Counter | None = None,
) -> np.ndarray:
    """(pairs x fields) level indexes, -1 where a field was not compared; ``evidence``
    counts the household pairs by kind (``household_kind``)."""
    matrix = np.full((len(pairs), len(FIELDS)), -1, dtype=np.int8)
    index = {f: {level: i for i, level in enumerate(LEVELS[f])} for f in FIELDS}
    column = {f: i for i, f in enumerate(FIELDS)}
    for row, (a, b) in enumerate(pairs.tolist()):
        try:
            scored = scorer.compare(records[a], records[b])
        except Exception:  # a pair that cannot be compared teaches nothing
            continue
        if evidence is not None and scored.household:
            evidence[household_kind(scored)] += 1
        if scored.household and skip_households:
            # two members of one household agree on everything the model assumes independent
            # (surname, address, phone): they would teach it that those are a person's marks
            continue
        for name, level in level_vector(scored).items():
            matrix[row, column[name]] = index[name][level]
    return matrix


def train(
    records: Sequence[MatchRecord],
    *,
    frequencies: NameFrequencies,
    codes: np.ndarray,
    seed: int = 0,
) -> DedupModel:
    """The organization's model from its records and their blocked pairs (``a << 32 | b``)."""
    if len(records) < TRAIN_MIN_CONTACTS:
        return DedupModel.default(note=f"fewer than {TRAIN_MIN_CONTACTS} contacts: defaults")
    if len(codes) == 0:
        return DedupModel.default(note="no compared pairs: defaults")
    rng = np.random.default_rng(seed)
    blocked_pairs = len(codes)
    if len(codes) > SAMPLE_PAIRS:
        codes = rng.choice(codes, SAMPLE_PAIRS, replace=False)
    pairs = np.stack([codes >> 32, codes & 0xFFFFFFFF], axis=1)
    scorer = Scorer(frequencies=frequencies)
    evidence: Counter = Counter()
    blocked = level_matrix(records, pairs, scorer, skip_households=True, evidence=evidence)
    blocked = blocked[(blocked >= 0).any(axis=1)]
    n = len(records)
    random_pairs = rng.integers(0, n, size=(RANDOM_PAIRS, 2))
    random_pairs = random_pairs[random_pairs[:, 0] != random_pairs[:, 1]]
    random_matrix = level_matrix(records, random_pairs, scorer)
    model = expectation_maximisation(blocked)
    model.u_random = _shares(random_matrix)
    # u from random pairs, the prior as the chance that two random contacts are one person
    model.m_u = _with_random_u(model.m_u, random_matrix, _exact_agreement(records, frequencies))
    model.prior = _random_prior(model.prior, blocked_pairs=blocked_pairs, contacts=n)
    model.households = {k: evidence[k] for k in (TWIN_LIKE, JUNIOR_LIKE, APART)}
    model.twins = lookalikes_likely(evidence, TWIN_LIKE)
    model.juniors = lookalikes_likely(evidence, JUNIOR_LIKE)
    return model


# Households in the blocked pairs (one surname and one home, phone or email), by kind: a
# different first name under the same date of birth (twins, or a first name written wrong);
# the same first name under two dates of birth (a junior, or a date written wrong); a different
# first name and date of birth (two members of a family, or both fields written wrong)
TWIN_LIKE = "twin_like"
JUNIOR_LIKE = "junior_like"
APART = "apart"
# fewer look-alike pairs than this say nothing either way: they are kept apart
LOOKALIKE_EVIDENCE = 5


def household_kind(scored: Scored) -> str:
    """The kind of a household pair: ``TWIN_LIKE``, ``JUNIOR_LIKE``, ``APART`` or "other"."""
    levels = {r.field: r.comparison for r in scored.reasons}
    if levels.get("household") is None:
        return "other"
    first, dob = levels.get("first_name"), levels.get("date_of_birth")
    if first == "different":
        if dob in ("exact", "transposed"):
            return TWIN_LIKE
        return APART if dob == "different" else "other"
    if first in ("exact", "nickname") and dob == "different":
        return JUNIOR_LIKE
    return "other"


def lookalikes_likely(evidence: Counter, kind: str) -> bool:
    """Whether the household look-alikes of ``kind`` (twins, juniors) may be people here.

    In a population with households, twins and juniors are a small share of the pairs of one
    home: far fewer than the pairs whose first names and birth dates both differ (on the
    benchmark generator, where one household member in eight is a twin and one in twelve a
    junior, 0.2 and 0.08 of them). An organization whose look-alike pairs outnumber those is
    one whose names and dates are written wrong, not one of twins or juniors (Febrl, Splink's
    fake_1000): there the look-alike is one person."""
    count = evidence.get(kind, 0)
    return count < LOOKALIKE_EVIDENCE or count <= evidence.get(APART, 0)


def expectation_maximisation(
    matrix: np.ndarray,
    *,
    prior: DedupModel | None = None,
    strength: float = PRIOR_STRENGTH,
    iterations: int = MAX_ITERATIONS,
) -> DedupModel:
    """Fit m, u and the share of duplicates to a (pairs x fields) level matrix."""
    start = prior or DedupModel.default()
    m0 = _flat(start.m_u, 0)
    u0 = _flat(start.m_u, 1)
    lam0 = _odds_to_probability(start.prior)
    mask = matrix >= 0
    flat = np.where(mask, matrix.astype(np.int64) + _OFFSETS, 0)
    size = len(m0)
    m, u, lam = m0.copy(), u0.copy(), lam0
    done = 0
    for _ in range(iterations):
        done += 1
        log_m = np.where(mask, np.log(m)[flat], 0.0).sum(axis=1)
        log_u = np.where(mask, np.log(u)[flat], 0.0).sum(axis=1)
        logit = math.log(lam) - math.log1p(-lam) + log_m - log_u
        w = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
        weights_m = np.broadcast_to(w[:, None], mask.shape)[mask]
        weights_u = np.broadcast_to((1.0 - w)[:, None], mask.shape)[mask]
        counts_m = np.bincount(flat[mask], weights=weights_m, minlength=size)
        counts_u = np.bincount(flat[mask], weights=weights_u, minlength=size)
        new_m = _normalise(counts_m + strength * m0)
        new_u = _normalise(counts_u + strength * u0)
        new_lam = (w.sum() + strength * lam0) / (len(w) + strength)
        change = max(np.abs(new_m - m).max(), np.abs(new_u - u).max(), abs(new_lam - lam))
        m, u, lam = new_m, new_u, float(new_lam)
        if change < TOLERANCE:
            break
    m_u = {
        name: {
            level: (float(m[_OFFSETS[f] + i]), float(u[_OFFSETS[f] + i]))
            for i, level in enumerate(LEVELS[name])
        }
        for f, name in enumerate(FIELDS)
    }
    return DedupModel(
        m_u=m_u,
        prior=math.log2(lam / (1.0 - lam)),
        trained=True,
        pairs=len(matrix),
        iterations=done,
    )


def _flat(m_u: dict[str, dict[str, tuple[float, float]]], which: int) -> np.ndarray:
    values = np.array(
        [m_u[name][level][which] for name in FIELDS for level in LEVELS[name]], dtype=float
    )
    return _normalise(values)


def _normalise(values: np.ndarray) -> np.ndarray:
    """Each field's levels summing to one, none below a floor (no infinite weight)."""
    out = np.maximum(values.astype(float), 0.0)
    for f, name in enumerate(FIELDS):
        lo, hi = _OFFSETS[f], _OFFSETS[f] + len(LEVELS[name])
        total = out[lo:hi].sum()
        part = out[lo:hi] / total if total > 0 else np.full(hi - lo, 1.0 / (hi - lo))
        part = np.maximum(part, _FLOOR)
        out[lo:hi] = part / part.sum()
    return out


def _shares(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Each level's share among the pairs that compared the field (random pairs: u)."""
    shares: dict[str, dict[str, float]] = {}
    for f, name in enumerate(FIELDS):
        column = matrix[:, f]
        column = column[column >= 0]
        if len(column) == 0:
            continue
        counts = np.bincount(column, minlength=len(LEVELS[name]))
        shares[name] = {
            level: float(counts[i] / len(column)) for i, level in enumerate(LEVELS[name])
        }
    return shares


def _exact_agreement(
    records: Sequence[MatchRecord], frequencies: NameFrequencies
) -> dict[str, float]:
    """The chance that two random contacts agree exactly, for the fields where it is too small
    to count in a sample of random pairs (a birth date: one in tens of thousands) or known
    from the name frequencies already."""
    dates = Counter(r.dob for r in records if r.dob is not None)
    total = sum(dates.values())
    agreement: dict[str, float] = {}
    if total > 1:
        # pairs of two different contacts (a contact's pair with itself would count for each),
        # half a pair added: no two sharing a birth date makes it rare, not impossible
        pairs = total * (total - 1) / 2
        sharing = sum(c * (c - 1) for c in dates.values()) / 2
        agreement["date_of_birth"] = (sharing + RANDOM_SMOOTHING) / (pairs + RANDOM_SMOOTHING)
    for name, which in (("first_name", "first"), ("last_name", "last")):
        if frequencies.agreement.get(which):
            agreement[name] = frequencies.agreement[which]
    return agreement


def _with_random_u(
    m_u: dict[str, dict[str, tuple[float, float]]],
    random_matrix: np.ndarray,
    exact: dict[str, float],
) -> dict[str, dict[str, tuple[float, float]]]:
    """m as learned, u as the share of random pairs showing each level (half a pair added to
    every level: a level no random pair shows is rare, not impossible); ``exact``: the exact
    levels' u where known better. A field no random pair compared keeps its u."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for f, name in enumerate(FIELDS):
        column = random_matrix[:, f]
        column = column[column >= 0]
        counts = np.bincount(column, minlength=len(LEVELS[name])).astype(float)
        total = counts.sum()
        out[name] = {}
        for i, level in enumerate(LEVELS[name]):
            m, u = m_u[name][level]
            if total:
                u = (counts[i] + RANDOM_SMOOTHING) / (total + RANDOM_SMOOTHING * len(counts))
            if level == "exact" and name in exact:
                u = exact[name]
            out[name][level] = (m, max(u, _FLOOR_U))
    return out


def _random_prior(blocked_prior: float, *, blocked_pairs: int, contacts: int) -> float:
    """log2 odds that two random contacts are one person: the duplicates EM finds among the
    blocked pairs (its prior, as a share) over every pair of contacts (blocking loses almost
    none)."""
    share = _odds_to_probability(blocked_prior) * blocked_pairs / (contacts * (contacts - 1) / 2)
    share = min(max(share, 1e-12), 0.5)
    return math.log2(share / (1.0 - share))


def _odds_to_probability(log2_odds: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-log2_odds))
