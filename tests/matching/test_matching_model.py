"""The organization's own model: EM recovers m and u, term frequencies, the graded comparison
levels, households as hard negatives (issue 11)."""

from __future__ import annotations

import math
import uuid
from datetime import date
from typing import Any

import numpy as np
import pytest

from crm.matching.records import MatchRecord, build_record
from crm.matching.scoring import (
    AUTO_MERGE,
    HARD_NEGATIVE,
    NO_MATCH,
    NameFrequencies,
    Scorer,
    Thresholds,
    classify,
)
from crm.matching.training import (
    FIELDS,
    LEVELS,
    DedupModel,
    RecordSample,
    expectation_maximisation,
    train,
)

WILLIAM = {
    "first_name": "William",
    "last_name": "Papadopoulos",
    "date_of_birth": "1984-03-07",
    "address_line1": "12 Wattle Street",
    "city": "Bondi",
    "postal_code": "2026",
}


def person(idx: int = 0, **fields: Any) -> MatchRecord:
    identifiers = [("email", e) for e in fields.pop("emails", ())]
    identifiers += [("tel", p) for p in fields.pop("phones", ())]
    if isinstance(fields.get("date_of_birth"), str):
        fields["date_of_birth"] = date.fromisoformat(fields["date_of_birth"])
    return build_record(idx, {"id": uuid.uuid4(), **fields}, identifiers)


def levels(a: dict[str, Any], b: dict[str, Any], scorer: Scorer | None = None) -> dict[str, str]:
    scored = (scorer or Scorer()).compare(person(**a), person(**b))
    return {r.field: r.comparison for r in scored.reasons}


class TestExpectationMaximisation:
    def test_recovers_known_m_and_u_from_a_generated_population(self):
        # given: 30,000 pairs, 20% duplicates, three fields with known m and u
        rng = np.random.default_rng(3)
        truth = {
            "first_name": ([0.80, 0.15, 0.05], [0.05, 0.10, 0.85]),
            "date_of_birth": ([0.90, 0.08, 0.02], [0.01, 0.04, 0.95]),
            "postcode": ([0.85, 0.05, 0.10], [0.30, 0.10, 0.60]),
        }
        chosen = {
            "first_name": ("exact", "typo", "different"),
            "date_of_birth": ("exact", "typo", "different"),
            "postcode": ("exact", "near", "different"),
        }
        n, share = 30_000, 0.2
        is_match = rng.random(n) < share
        matrix = np.full((n, len(FIELDS)), -1, dtype=np.int8)
        for name, (m, u) in truth.items():
            index = [LEVELS[name].index(level) for level in chosen[name]]
            drawn_m = rng.choice(index, size=n, p=m)
            drawn_u = rng.choice(index, size=n, p=u)
            matrix[:, FIELDS.index(name)] = np.where(is_match, drawn_m, drawn_u)

        # when: the defaults (other values) are only the start and a weak prior
        model = expectation_maximisation(matrix)

        # then
        assert model.trained
        assert abs(2**model.prior / (1 + 2**model.prior) - share) < 0.02
        for name, (m, u) in truth.items():
            for level, m_true, u_true in zip(chosen[name], m, u, strict=True):
                m_found, u_found = model.m_u[name][level]
                assert abs(m_found - m_true) < 0.03, (name, level, m_found, m_true)
                assert abs(u_found - u_true) < 0.03, (name, level, u_found, u_true)

    def test_a_small_organization_keeps_the_defaults(self):
        records = [person(i, first_name=f"N{i}", last_name="Lee") for i in range(50)]

        model = train(
            records, frequencies=NameFrequencies.of(records), codes=np.array([1], np.int64)
        )

        assert not model.trained
        assert "fewer than" in model.note
        assert model.m_u == DedupModel.default().m_u

    def test_the_model_as_stored_has_m_u_and_weight_per_field_and_level(self):
        stored = DedupModel.default().as_json()

        first = next(f for f in stored["fields"] if f["field"] == "first_name")
        exact = next(level for level in first["levels"] if level["level"] == "exact")
        assert exact["weight"] == pytest.approx(math.log2(exact["m"] / exact["u"]), abs=0.01)
        assert {f["field"] for f in stored["fields"]} == set(FIELDS)

    def test_the_record_sample_is_bounded_and_renumbered(self):
        sample = RecordSample(10)
        for start in range(0, 100, 25):
            sample.add([person(i, first_name="A", last_name="B") for i in range(start, start + 25)])

        assert sample.seen == 100
        assert [r.idx for r in sample.records] == list(range(10))


class TestRandomPairs:
    """u is what a level says between any two contacts; the prior, the chance of two random
    contacts being one person."""

    @staticmethod
    def population(people: int = 1000, duplicated: int = 200) -> list[MatchRecord]:
        rng = np.random.default_rng(5)

        def word(i: int, stem: str) -> str:  # name keys keep letters only
            return stem + "".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in str(i))

        firsts = [word(i, "Fir") for i in range(300)]
        lasts = [word(i, "Sur") for i in range(800)]
        records: list[MatchRecord] = []
        for i in range(people):
            fields = {
                "first_name": firsts[rng.integers(len(firsts))],
                "last_name": lasts[rng.integers(len(lasts))],
                "date_of_birth": date(1940, 1, 1).fromordinal(
                    date(1940, 1, 1).toordinal() + int(rng.integers(25_000))
                ),
                "postal_code": str(2000 + int(rng.integers(50))),
            }
            records.append(build_record(len(records), {"id": uuid.uuid4(), **fields}, []))
            if i < duplicated:  # the same person again, the postcode left out
                again = {k: v for k, v in fields.items() if k != "postal_code"}
                records.append(build_record(len(records), {"id": uuid.uuid4(), **again}, []))
        return records

    def fit(self, records: list[MatchRecord]) -> DedupModel:
        from crm.matching.matcher import Matcher

        matcher = Matcher(records, thresholds=Thresholds())
        codes, _ = matcher.candidate_codes()
        return train(records, frequencies=NameFrequencies.of(records), codes=codes)

    def test_u_of_an_exact_birth_date_is_the_chance_two_contacts_share_one(self):
        # given: 1,200 contacts born over 25,000 days, 200 of them twice
        records = self.population()
        dates = [r.dob for r in records]
        n = len(dates)
        shared = sum(dates.count(d) * (dates.count(d) - 1) for d in set(dates)) / (n * (n - 1))

        # when
        model = self.fit(records)

        # then: about one pair in 10,000, not the share among pairs blocked on birth dates
        assert model.trained
        assert model.m_u["date_of_birth"]["exact"][1] == pytest.approx(shared, rel=0.01)
        assert model.m_u["date_of_birth"]["exact"][1] < 0.001

    def test_the_prior_is_the_chance_that_two_random_contacts_are_one_person(self):
        records = self.population()

        model = self.fit(records)

        # 200 duplicate pairs among 1,200 x 1,199 / 2 pairs of contacts
        share = 2**model.prior / (1 + 2**model.prior)
        assert share == pytest.approx(200 / (1200 * 1199 / 2), rel=0.5)

    def test_one_name_and_birth_date_and_nothing_else_auto_merges(self):
        # given: a learned model; two records of one name and birth date, nothing else
        records = self.population()
        scorer = self.fit(records).scorer(NameFrequencies.of(records))
        a = {"first_name": "Fird", "last_name": "Surh", "date_of_birth": "1971-05-02"}

        # when
        scored = scorer.compare(person(**a), person(1, **a))

        # then
        assert classify(scored, Thresholds()) == AUTO_MERGE


class TestLookalikes:
    """Twins and juniors are kept apart unless the organization's own pairs say otherwise."""

    @staticmethod
    def households(*, twins: int, apart: int) -> list[MatchRecord]:
        records: list[MatchRecord] = []
        for i in range(500):
            home = {
                "last_name": f"Surname{i}x",
                "address_line1": f"{i + 1} Wattle Street",
                "city": "Bondi",
                "postal_code": "2026",
                "date_of_birth": f"{1940 + i % 60}-0{1 + i % 9}-1{i % 9}",
            }
            records.append(person(len(records), first_name=f"Head{i}", **home))
            if i < twins:  # the same birthday, another first name
                records.append(person(len(records), first_name=f"Other{i}", **home))
            elif i < twins + apart:  # another first name and birthday
                other = {**home, "date_of_birth": f"{2000 + i % 20}-1{i % 3}-2{i % 9}"}
                records.append(person(len(records), first_name=f"Other{i}", **other))
        return records

    def fit(self, records: list[MatchRecord]) -> DedupModel:
        from crm.matching.matcher import Matcher

        matcher = Matcher(records, thresholds=Thresholds())
        codes, _ = matcher.candidate_codes()
        return train(records, frequencies=NameFrequencies.of(records), codes=codes)

    def test_households_with_twins_among_them_keep_twins_apart(self):
        model = self.fit(self.households(twins=20, apart=200))

        assert model.households["twin_like"] == 20
        assert model.twins and model.juniors
        assert model.scorer().twins

    def test_twin_like_pairs_outnumbering_households_are_names_written_wrong(self):
        model = self.fit(self.households(twins=200, apart=20))

        assert not model.twins
        assert not model.scorer().twins
        assert model.as_json()["twins"] is False

    def test_a_few_look_alikes_say_nothing(self):
        model = self.fit(self.households(twins=3, apart=0))

        assert model.trained
        assert model.households["twin_like"] == 3
        assert model.twins

    def test_a_learned_weight_keeps_the_sign_of_its_agreement(self):
        # given: EM that learned a "different" surname to be a duplicate's mark
        model = DedupModel.default()
        model.m_u["last_name"]["different"] = (0.3, 0.1)
        model.m_u["last_name"]["exact"] = (0.5, 0.7)

        weights = model.weights["last_name"]

        assert weights["different"] == 0.0
        assert weights["exact"] == 0.0


class TestTermFrequencies:
    def test_a_rare_shared_surname_weighs_more_than_a_common_one(self):
        # given: 1,200 contacts, a third of them Smiths, one pair of Papadopouloses
        records = [person(i, first_name=f"x{i}", last_name="Smith") for i in range(400)]
        records += [person(400 + i, first_name=f"y{i}", last_name=f"Other{i}") for i in range(800)]
        records += [person(1200, **WILLIAM), person(1201, **WILLIAM)]
        scorer = Scorer(frequencies=NameFrequencies.of(records))
        smith = {**WILLIAM, "last_name": "Smith"}

        # when
        rare = scorer.compare(person(**WILLIAM), person(**WILLIAM))
        common = scorer.compare(person(**smith), person(**smith))

        # then
        def weight(scored) -> float:
            return next(r.weight for r in scored.reasons if r.field == "last_name")

        assert weight(rare) > weight(common) + 2
        assert rare.score > common.score

    def test_a_rare_shared_postcode_weighs_more_than_a_common_one(self):
        records = [person(i, first_name="A", postal_code="2000") for i in range(600)]
        records += [person(600 + i, first_name="B", postal_code=f"3{i:03d}") for i in range(600)]
        scorer = Scorer(frequencies=NameFrequencies.of(records))

        def postcode_weight(code: str) -> float:
            scored = scorer.compare(
                person(**{**WILLIAM, "postal_code": code}),
                person(**{**WILLIAM, "postal_code": code}),
            )
            return next(r.weight for r in scored.reasons if r.field == "postcode")

        assert postcode_weight("3007") > postcode_weight("2000")


class TestLevels:
    @pytest.mark.parametrize(
        ("change", "field", "level"),
        [
            ({"first_name": "Wiliam"}, "first_name", "typo"),
            ({"first_name": "Bill"}, "first_name", "nickname"),
            ({"first_name": "W"}, "first_name", "initial"),
            ({"first_name": "Xavier"}, "first_name", "different"),
            ({"last_name": "Papadopolous"}, "last_name", "typo"),
            ({"date_of_birth": "1984-07-03"}, "date_of_birth", "transposed"),
            ({"date_of_birth": "1984-03-08"}, "date_of_birth", "typo"),
            ({"date_of_birth": "1984-11-21"}, "date_of_birth", "year"),
            ({"date_of_birth": "1962-11-21"}, "date_of_birth", "different"),
            ({"address_line1": "14 Wattle Street"}, "street_number", "different"),
            ({"address_line1": "12 Watle Street"}, "street_name", "typo"),
            ({"address_line1": "12 Banksia Road"}, "street_name", "different"),
            ({"postal_code": "2027"}, "postcode", "near"),
            ({"postal_code": "4000"}, "postcode", "different"),
            ({"city": "Bondl"}, "suburb", "typo"),
            ({"city": "Manly"}, "suburb", "different"),
        ],
    )
    def test_each_comparison_level(self, change, field, level):
        assert levels(WILLIAM, {**WILLIAM, **change})[field] == level

    def test_short_names_one_edit_apart_are_a_typo(self):
        assert (
            levels(
                {"first_name": "Roy", "last_name": "Howie"},
                {"first_name": "Riy", "last_name": "Howie"},
            )["first_name"]
            == "typo"
        )

    def test_swapped_first_and_last_names(self):
        found = levels(WILLIAM, {**WILLIAM, "first_name": "Papadopoulos", "last_name": "William"})

        assert found["first_name"] == "swapped_exact"
        assert found["name"] == "swapped"

    def test_moved_house_counts_once(self):
        moved = {
            **WILLIAM,
            "address_line1": "3 Banksia Road",
            "city": "Perth",
            "postal_code": "6000",
        }
        scored = Scorer().compare(person(**WILLIAM), person(**moved))
        address = [
            r
            for r in scored.reasons
            if r.field in ("street_number", "street_name", "postcode", "suburb")
        ]

        assert {r.comparison for r in address} == {"different"}
        assert sum(1 for r in address if r.weight != 0) == 1

    def test_each_reason_keeps_its_weight(self):
        scored = Scorer().compare(person(**WILLIAM), person(**{**WILLIAM, "first_name": "Bill"}))

        assert all(isinstance(r["weight"], float) for r in scored.reasons_json())
        assert {"first_name", "last_name", "date_of_birth", "postcode"} <= {
            r["field"] for r in scored.reasons_json()
        }


class TestHouseholds:
    THRESHOLDS = Thresholds()

    def decide(self, a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
        scored = Scorer().compare(person(**a), person(**b))
        return classify(scored, self.THRESHOLDS), scored.household

    def test_another_member_with_another_birthday_is_a_hard_negative(self):
        sibling = {**WILLIAM, "first_name": "Margaret", "date_of_birth": "1990-05-01"}

        assert self.decide(WILLIAM, sibling) == (NO_MATCH, HARD_NEGATIVE)

    def test_another_member_without_a_birthday_is_never_merged(self):
        partner = {k: v for k, v in WILLIAM.items() if k != "date_of_birth"}
        partner["first_name"] = "Margaret"

        decision, household = self.decide(WILLIAM, partner)

        assert decision != AUTO_MERGE
        assert household == HARD_NEGATIVE

    def test_twins_are_never_merged(self):
        twin = {**WILLIAM, "first_name": "Oliver"}

        assert self.decide(WILLIAM, twin)[0] != AUTO_MERGE

    def test_a_junior_is_never_merged(self):
        junior = {**WILLIAM, "date_of_birth": "2012-09-30"}

        assert self.decide(WILLIAM, junior) == (NO_MATCH, HARD_NEGATIVE)

    def test_one_first_name_and_birth_year_in_one_home_is_the_same_person(self):
        # the day and month written wrong: a junior is a generation apart, and siblings do not
        # share a first name
        written_wrong = {**WILLIAM, "date_of_birth": "1984-11-23"}

        assert self.decide(WILLIAM, written_wrong) == (AUTO_MERGE, "")

    def test_another_first_name_of_the_same_birth_year_is_a_hard_negative(self):
        sibling = {**WILLIAM, "first_name": "Margaret", "date_of_birth": "1984-11-23"}

        assert self.decide(WILLIAM, sibling) == (NO_MATCH, HARD_NEGATIVE)

    def test_without_twins_one_birthday_in_one_home_is_one_person(self):
        # given: an organization whose own pairs show no twins (``training.lookalikes_likely``)
        scorer = Scorer(twins=False)
        renamed = {**WILLIAM, "first_name": "Oliver"}
        nameless = {k: v for k, v in WILLIAM.items() if k != "first_name"}

        # then: a first name written wrong, or left out
        for other in (renamed, nameless):
            scored = scorer.compare(person(**WILLIAM), person(**other))
            assert scored.household == ""
        # and another birthday is still another member
        sibling = {**renamed, "date_of_birth": "1990-05-01"}
        assert scorer.compare(person(**WILLIAM), person(**sibling)).household == HARD_NEGATIVE

    def test_without_juniors_one_first_name_in_one_home_is_one_person(self):
        scorer = Scorer(juniors=False)
        written_wrong = {**WILLIAM, "date_of_birth": "1948-03-17"}
        undated = {k: v for k, v in WILLIAM.items() if k != "date_of_birth"}

        for other in (written_wrong, undated):
            scored = scorer.compare(person(**WILLIAM), person(**other))
            assert scored.household == ""
        twin = {**WILLIAM, "first_name": "Oliver"}
        assert scorer.compare(person(**WILLIAM), person(**twin)).household == HARD_NEGATIVE

    def test_a_first_name_typo_with_the_same_birthday_and_home_is_the_same_person(self):
        # "Jade"/"Jare": one letter apart, Jaro-Winkler below the typo level
        jade = {**WILLIAM, "first_name": "Jade"}
        jare = {**WILLIAM, "first_name": "Jare"}

        assert self.decide(jade, jare) == (AUTO_MERGE, "")
