"""The sweep's shortcut past pairs below the review threshold never changes a decision:
``Scorer.compare_if`` drops a pair only when its full comparison scores below the threshold,
and otherwise returns that very comparison."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

import pytest

from crm.matching.records import MatchRecord, build_record
from crm.matching.scoring import NameFrequencies, Scored, Scorer
from crm.matching.weights import DEFAULT_WEIGHTS

FIRST = ["William", "Bill", "Wiliam", "W", "Will", "Paul", "Paula", "Mary", "Marry", "Ann", ""]
LAST = ["Smith", "Smyth", "Smith-Jones", "Papadopoulos", "Papadopolous", "Lee", "William", ""]
STREETS = ["12 Wattle Street", "Unit 3, 12 Wattle St", "14 Wattle St", "12 Watle St", "Wattle St"]


def population(n: int, *, seed: int) -> list[MatchRecord]:
    """People of few names and homes, with typos, initials, swapped names, shared and missing
    contact details and identifiers: every level of every field, and households."""
    rng = random.Random(seed)
    born = date(1980, 3, 7)
    records = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if rng.random() < 0.1:
            first, last = last, first
        dob = rng.choice(
            [None, born, date(1980, 7, 3), date(1980, 3, 8), date(1908, 3, 7), date(1980, 9, 9)]
        ) or (born + timedelta(days=rng.randrange(20_000)) if rng.random() < 0.3 else None)
        identifiers = []
        if rng.random() < 0.5:
            identifiers.append(
                ("email", f"{rng.choice(['will', 'wsmith', 'ann'])}@ex{rng.randrange(2)}.com")
            )
        if rng.random() < 0.5:
            identifiers.append(("tel", f"+614{rng.randrange(3):08d}"))
        if rng.random() < 0.2:
            identifiers.append(("pms:acme", str(rng.randrange(3))))
        row = {
            "id": uuid.UUID(int=i + 1),
            "first_name": first,
            "last_name": last,
            "date_of_birth": dob,
            "address_line1": rng.choice([*STREETS, None]),
            "city": rng.choice(["Bondi", "Bondie", "Manly", None]),
            "postal_code": rng.choice(["2026", "2027", "3000", None]),
        }
        records.append(build_record(i, row, identifiers))
    return records


def same(x: Scored, y: Scored) -> bool:
    return (x.score, x.weight, x.household, x.reasons_json()) == (
        y.score,
        y.weight,
        y.household,
        y.reasons_json(),
    )


def scorers(records: list[MatchRecord]) -> list[Scorer]:
    """Today's weights; a model whose weights were learned any which way (a "different" level
    weighing for, not against); name and place frequencies that adjust exact agreement."""
    rng = random.Random(5)
    skewed = {
        field: {level: weight + rng.uniform(-3, 3) for level, weight in levels.items()}
        for field, levels in DEFAULT_WEIGHTS.items()
    }
    skewed["postcode"]["different"] = 1.5
    # a place written differently weighing heavily against: a moved pair's one part counts
    apart = {field: dict(levels) for field, levels in DEFAULT_WEIGHTS.items()}
    apart["postcode"].update(near=-6.0, different=-5.0)
    apart["suburb"].update(typo=-6.0, different=-5.0)
    frequencies = NameFrequencies.of(records * 20)  # over 1,000 values: adjusted
    return [
        Scorer(),
        Scorer(weights=skewed, prior=-2.0, twins=False),
        Scorer(weights=apart, prior=2.0),
        Scorer(frequencies=frequencies, juniors=False),
    ]


@pytest.mark.parametrize("at_least", [0.05, 0.6, 0.9, 0.98])
def test_a_pair_is_dropped_only_below_the_threshold_and_kept_as_compared(at_least):
    # given: every pair of a crowded population, under three sets of weights
    records = population(90, seed=round(at_least * 100))
    dropped = kept = 0
    for scorer in scorers(records):
        for i, a in enumerate(records):
            for b in records[i + 1 :]:
                # when
                shortcut = scorer.compare_if(a, b, at_least)
                full = scorer.compare(a, b)

                # then
                if shortcut is None:
                    assert full.score < at_least, (a, b)
                    dropped += 1
                else:
                    assert same(shortcut, full)
                    kept += 1
    assert dropped and kept  # both ways were taken


def test_the_total_weight_is_the_comparison_s():
    records = population(70, seed=11)
    for scorer in scorers(records):
        for i, a in enumerate(records):
            for b in records[i + 1 :]:
                assert scorer.total_weight(a, b) == pytest.approx(
                    scorer.compare(a, b).weight, abs=1e-9
                )
