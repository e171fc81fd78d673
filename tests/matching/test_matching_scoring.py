"""Pairwise scoring: each reason, households as hard negatives, per-organization thresholds."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from crm.matching.matcher import PairResult, merge_groups
from crm.matching.records import MatchRecord, address_tokens, build_record
from crm.matching.scoring import (
    AUTO_MERGE,
    HARD_NEGATIVE,
    NO_MATCH,
    REVIEW,
    UNCONFIRMED,
    NameFrequencies,
    Scored,
    Scorer,
    Thresholds,
    classify,
    queued_score,
)

THRESHOLDS = Thresholds()


def person(**fields: Any) -> MatchRecord:
    """A match record; ``emails``/``phones``/``ids`` are identifiers, the rest contact fields."""
    identifiers = [("email", e) for e in fields.pop("emails", ())]
    identifiers += [("tel", p) for p in fields.pop("phones", ())]
    identifiers += list(fields.pop("ids", ()))
    if isinstance(fields.get("date_of_birth"), str):
        fields["date_of_birth"] = date.fromisoformat(fields["date_of_birth"])
    return build_record(0, {"id": uuid.uuid4(), **fields}, identifiers)


WILLIAM = {
    "first_name": "William",
    "last_name": "Papadopoulos",
    "date_of_birth": "1984-03-07",
    "address_line1": "12 Wattle Street",
    "city": "Bondi",
    "postal_code": "2026",
}


def compare(a: dict[str, Any], b: dict[str, Any]):
    return Scorer().compare(person(**a), person(**b))


def reason(scored, field: str) -> dict[str, Any]:
    found = [r for r in scored.reasons_json() if r["field"] == field]
    assert found, f"no {field} reason in {scored.reasons_json()}"
    return found[0]


class TestReasons:
    def test_a_nickname_agrees(self):
        # when
        scored = compare(WILLIAM, {**WILLIAM, "first_name": "Bill"})

        # then
        assert reason(scored, "first_name")["comparison"] == "nickname"
        assert reason(scored, "first_name")["weight"] > 0
        assert classify(scored, THRESHOLDS) == AUTO_MERGE

    def test_a_first_name_typo_agrees(self):
        scored = compare(WILLIAM, {**WILLIAM, "first_name": "Wiliam"})

        assert reason(scored, "first_name")["comparison"] == "typo"
        assert reason(scored, "first_name")["similarity"] >= 0.92

    def test_first_and_last_name_swapped(self):
        # when
        scored = compare(WILLIAM, {**WILLIAM, "first_name": "Papadopoulos", "last_name": "William"})

        # then
        assert reason(scored, "first_name")["comparison"] == "swapped_exact"
        assert reason(scored, "last_name")["comparison"] == "swapped_exact"
        assert reason(scored, "name")["comparison"] == "swapped"
        assert classify(scored, THRESHOLDS) != NO_MATCH

    def test_day_and_month_transposed(self):
        scored = compare(WILLIAM, {**WILLIAM, "date_of_birth": "1984-07-03"})

        assert reason(scored, "date_of_birth")["comparison"] == "transposed"
        assert reason(scored, "date_of_birth")["weight"] > 0

    @pytest.mark.parametrize("typo", ["1984-03-08", "1948-03-07", "1985-03-07"])
    def test_one_digit_wrong_or_two_swapped_in_the_date_of_birth(self, typo):
        scored = compare(WILLIAM, {**WILLIAM, "date_of_birth": typo})

        assert reason(scored, "date_of_birth")["comparison"] == "typo"

    def test_a_different_date_of_birth_weighs_against(self):
        scored = compare(WILLIAM, {**WILLIAM, "date_of_birth": "1962-11-23"})

        assert reason(scored, "date_of_birth")["comparison"] == "different"
        assert reason(scored, "date_of_birth")["weight"] < 0

    def test_address_tokens_agree_across_abbreviations_and_units(self):
        # when
        scored = compare(
            {**WILLIAM, "address_line1": "Unit 3, 12 Wattle Street"},
            {**WILLIAM, "address_line1": "3/12 wattle st"},
        )

        # then
        assert reason(scored, "street_number")["comparison"] == "exact"
        assert reason(scored, "street_name")["comparison"] == "exact"
        assert reason(scored, "street_name")["similarity"] == 1.0

    def test_a_neighbour_is_not_the_same_address(self):
        scored = compare(WILLIAM, {**WILLIAM, "address_line1": "14 Wattle Street"})

        assert reason(scored, "street_number")["comparison"] == "different"
        assert reason(scored, "street_name")["comparison"] == "exact"

    def test_a_shared_email_and_phone(self):
        # given: little else agrees
        a = {"first_name": "Kate", "last_name": "Nguyen", "emails": ["kate@example.com"]}
        b = {
            "first_name": "Katherine",
            "last_name": "Nguyen",
            "emails": ["kate@example.com"],
            "phones": ["+61412345678"],
        }
        a["phones"] = ["+61412345678"]

        # when
        scored = compare(a, b)

        # then
        assert reason(scored, "email")["comparison"] == "shared"
        assert reason(scored, "phone")["comparison"] == "shared"
        assert reason(scored, "first_name")["comparison"] == "nickname"

    def test_a_shared_pms_id_and_a_conflicting_one(self):
        shared = compare(
            {**WILLIAM, "ids": [("cliniko", "123")]}, {**WILLIAM, "ids": [("cliniko", "123")]}
        )
        conflict = compare(
            {**WILLIAM, "ids": [("cliniko", "123")]}, {**WILLIAM, "ids": [("cliniko", "456")]}
        )

        assert reason(shared, "identifier")["comparison"] == "shared"
        assert reason(conflict, "identifier")["comparison"] == "conflict"
        assert reason(conflict, "identifier")["weight"] < 0

    def test_every_reason_has_field_comparison_similarity_and_weight(self):
        scored = compare(WILLIAM, {**WILLIAM, "first_name": "Bill"})

        for item in scored.reasons_json():
            assert set(item) == {"field", "comparison", "similarity", "weight"}
        assert 0.0 <= scored.score <= 1.0

    def test_the_same_person_scores_higher_than_a_stranger(self):
        same = compare(WILLIAM, {**WILLIAM, "first_name": "Will"})
        stranger = compare(
            WILLIAM,
            {"first_name": "Olivia", "last_name": "Chen", "date_of_birth": "1990-01-01"},
        )

        assert same.score > 0.98 > 0.1 > stranger.score


HOME = {
    "last_name": "Lee",
    "address_line1": "4 Ocean Pde",
    "city": "Manly",
    "postal_code": "2095",
    "phones": ["+61412000111"],
}


class TestHouseholds:
    def test_a_clearly_different_first_name_is_a_hard_negative(self):
        # given: twins: everything agrees but the first name
        mum = {**HOME, "first_name": "Margaret", "date_of_birth": "1990-05-01"}
        son = {**HOME, "first_name": "Oliver", "date_of_birth": "1990-05-01"}

        # when
        scored = compare(mum, son)

        # then
        assert scored.household == HARD_NEGATIVE
        assert reason(scored, "household")["comparison"] == HARD_NEGATIVE
        assert classify(scored, THRESHOLDS) == NO_MATCH

    def test_a_different_date_of_birth_is_a_hard_negative(self):
        # given: father and son of one name
        senior = {**HOME, "first_name": "John", "date_of_birth": "1960-02-03"}
        junior = {**HOME, "first_name": "John", "date_of_birth": "1992-08-14"}

        # when
        scored = compare(senior, junior)

        # then
        assert scored.household == HARD_NEGATIVE
        assert classify(scored, THRESHOLDS) != AUTO_MERGE

    def test_a_shared_email_makes_a_household_too(self):
        a = {"first_name": "Ann", "last_name": "Lee", "emails": ["lees@example.com"]}
        b = {"first_name": "Zoe", "last_name": "Lee", "emails": ["lees@example.com"]}

        assert compare(a, b).household == HARD_NEGATIVE

    def test_without_both_dates_of_birth_a_namesake_is_only_queued(self):
        # given: the same name at one address, one date of birth missing: a junior, or not
        a = {**HOME, "first_name": "John", "date_of_birth": "1960-02-03"}
        b = {**HOME, "first_name": "John", "emails": ["john@example.com"]}

        # when
        scored = compare(a, b)

        # then: high enough to auto-merge but held for a person, below the threshold
        assert scored.household == UNCONFIRMED
        assert scored.score >= THRESHOLDS.auto_merge
        assert classify(scored, THRESHOLDS) == REVIEW
        assert queued_score(scored, THRESHOLDS) < THRESHOLDS.auto_merge

    def test_the_same_person_at_home_still_auto_merges(self):
        a = {**HOME, "first_name": "Robert", "date_of_birth": "1970-06-09"}
        b = {**HOME, "first_name": "Bob", "date_of_birth": "1970-06-09"}

        scored = compare(a, b)

        assert scored.household == ""
        assert classify(scored, THRESHOLDS) == AUTO_MERGE

    @pytest.mark.parametrize(
        ("first", "born", "other_first", "other_born"),
        [
            # two letters off, the very same date of birth (Jaro-Winkler 0.92)
            ("Jessica", "1964-11-23", "Jessxia", "1964-11-23"),
            # one letter off and one digit of the date of birth
            ("Brody", "1970-02-10", "Broyd", "1970-03-10"),
        ],
    )
    def test_typos_in_the_first_name_and_birth_date_at_home_still_auto_merge(
        self, first, born, other_first, other_born
    ):
        a = {**HOME, "first_name": first, "date_of_birth": born}
        b = {**HOME, "first_name": other_first, "date_of_birth": other_born}

        scored = compare(a, b)

        assert scored.household == ""
        assert classify(scored, THRESHOLDS) == AUTO_MERGE

    def test_names_that_disagree_both_ways_never_auto_merge(self):
        a = {"first_name": "Mei", "last_name": "Chen", "phones": ["+61412000111"]}
        b = {"first_name": "Tom", "last_name": "Ruiz", "phones": ["+61412000111"]}
        a["emails"] = b["emails"] = ["shared@example.com"]

        assert classify(compare(a, b), THRESHOLDS) != AUTO_MERGE


def frequent(names: dict[str, int]) -> NameFrequencies:
    """An organization's name frequencies: ``names`` first names (name -> contacts), the rest
    of its 1,000 contacts with other first names."""
    frequencies = NameFrequencies()
    for name, count in {**names, **{f"Other{i}": 1 for i in range(1000)}}.items():
        for _ in range(count):
            frequencies.add(person(first_name=name, last_name="X"))
    frequencies.finish()
    return frequencies


class TestMisspeltFirstNames:
    """A rare spelling of a common first name is that name written wrong, not a sibling's."""

    FREQUENCIES = {"Jacob": 60, "Jacbo": 1, "Mark": 80, "Mary": 70, "Aidan": 1, "Aiden": 1}

    def compare(self, a: dict[str, Any], b: dict[str, Any]):
        scorer = Scorer(frequencies=frequent(self.FREQUENCIES))
        return scorer.compare(person(**a), person(**b))

    def test_an_undated_misspelling_at_home_auto_merges(self):
        # given: "Jacbo" (one contact) and "Jacob" (60) at one address, one undated
        a = {**HOME, "first_name": "Jacob", "date_of_birth": "1995-04-24"}
        b = {**HOME, "first_name": "Jacbo"}

        # when
        scored = self.compare(a, b)

        # then
        assert scored.household == ""
        assert classify(scored, THRESHOLDS) == AUTO_MERGE

    def test_two_common_names_a_letter_apart_stay_two_people(self):
        # given: Mark and Mary (both common) at one address, one undated
        a = {**HOME, "first_name": "Mark", "date_of_birth": "1960-01-02"}
        b = {**HOME, "first_name": "Mary"}

        assert self.compare(a, b).household == UNCONFIRMED

    def test_two_rare_names_a_letter_apart_stay_two_people(self):
        a = {**HOME, "first_name": "Aidan", "date_of_birth": "2001-03-04"}
        b = {**HOME, "first_name": "Aiden"}

        assert self.compare(a, b).household == UNCONFIRMED

    def test_a_misspelling_with_another_email_is_not_merged(self):
        a = {**HOME, "first_name": "Jacob", "emails": ["jacob@example.com"]}
        b = {**HOME, "first_name": "Jacbo", "emails": ["jm@example.net"]}

        assert classify(self.compare(a, b), THRESHOLDS) != AUTO_MERGE

    def test_two_misspellings_of_one_common_name_are_one_person(self):
        # given: "Jhon" and "Jonh" (one contact each), both a typo of "John" (60), at one
        # address under one date of birth
        scorer = Scorer(frequencies=frequent({"John": 60, "Jhon": 1, "Jonh": 1}))
        a = {**HOME, "first_name": "Jhon", "date_of_birth": "1970-06-09"}
        b = {**HOME, "first_name": "Jonh", "date_of_birth": "1970-06-09"}

        # when
        scored = scorer.compare(person(**a), person(**b))

        # then
        assert scorer.frequencies.spelling("jhon") == scorer.frequencies.spelling("jonh")
        assert scorer.frequencies.spelling("jhon") == "john"
        assert scored.household == ""
        assert classify(scored, THRESHOLDS) == AUTO_MERGE

    def test_a_rare_name_near_two_common_ones_is_nobody_s_misspelling(self):
        frequencies = frequent({"Mark": 80, "Mary": 70, "Marz": 1})

        assert frequencies.spelling("marz") == "marz"

    def test_without_the_organization_s_frequencies_nothing_is_a_misspelling(self):
        a = {**HOME, "first_name": "Jacob", "date_of_birth": "1995-04-24"}
        b = {**HOME, "first_name": "Jacbo"}

        assert compare(a, b).household == UNCONFIRMED
        assert not Scorer().misspelt("jacob", "jacbo")


class TestThresholds:
    def test_defaults(self):
        assert Thresholds.for_settings({}) == Thresholds()

    def test_the_organization_sets_its_own(self):
        settings = {"dedup": {"auto_merge": 0.995, "review": 0.4}}

        assert Thresholds.for_settings(settings) == Thresholds(auto_merge=0.995, review=0.4)

    @pytest.mark.parametrize(
        "dedup",
        [{"auto_merge": "high"}, {"auto_merge": 0.5, "review": 0.9}, {"auto_merge": 1.5}],
    )
    def test_nonsense_falls_back_to_the_defaults(self, dedup):
        assert Thresholds.for_settings({"dedup": dedup}) == Thresholds()

    def test_a_higher_auto_threshold_queues_what_the_default_merges(self):
        # given
        scored = compare(WILLIAM, {**WILLIAM, "first_name": "Bill"})
        strict = Thresholds.for_settings({"dedup": {"auto_merge": 1.0, "review": 0.5}})

        # then
        assert classify(scored, THRESHOLDS) == AUTO_MERGE
        assert classify(scored, strict) == REVIEW


class TestAddressTokens:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("12 Smith Street", "12 smith st"),
            ("Unit 3, 12 Smith Rd", "3/12 Smith Road"),
            ("Apt 7 40 Ocean Parade", "7/40 ocean pde"),
        ],
    )
    def test_variants_give_the_same_tokens(self, a, b):
        assert address_tokens(a) == address_tokens(b)


class TestAmbiguousRecords:
    """A record that would auto-merge with two people of one household merges with neither."""

    def records(self, *people: dict[str, Any]) -> list[MatchRecord]:
        return [
            build_record(i, {"id": uuid.UUID(int=i + 1), **fields}, [])
            for i, fields in enumerate(
                {**p, "date_of_birth": date.fromisoformat(p["date_of_birth"])}
                if "date_of_birth" in p
                else p
                for p in people
            )
        ]

    def groups(self, records: list[MatchRecord], *pairs: tuple[int, int, float]):
        scorer = Scorer()
        results = [
            PairResult(a, b, Scored(score=score, weight=10.0, reasons=[]), AUTO_MERGE)
            for a, b, score in pairs
        ]
        return merge_groups(results, records=records, scorer=scorer, thresholds=THRESHOLDS)

    def test_an_undated_record_like_a_father_and_his_junior_merges_with_neither(self):
        # given: John Lee (1960) and his son John Lee (1992) at one address, and an undated
        # John Lee there the sweep would merge with either
        address = {k: v for k, v in HOME.items() if k != "phones"}
        father = {**address, "first_name": "John", "date_of_birth": "1960-02-03"}
        junior = {**address, "first_name": "John", "date_of_birth": "1992-08-14"}
        undated = {**address, "first_name": "John"}
        records = self.records(father, junior, undated)
        assert Scorer().compare(records[0], records[1]).household == HARD_NEGATIVE

        # when
        groups = self.groups(records, (0, 2, 0.999), (1, 2, 0.998))

        # then: which of the two it is, is for a person to say
        assert groups == []

    def test_a_dated_record_merges_with_the_one_it_matches_best(self):
        address = {k: v for k, v in HOME.items() if k != "phones"}
        father = {**address, "first_name": "John", "date_of_birth": "1960-02-03"}
        junior = {**address, "first_name": "John", "date_of_birth": "1992-08-14"}
        again = {**address, "first_name": "Jon", "date_of_birth": "1960-02-03"}
        records = self.records(father, junior, again)

        groups = self.groups(records, (0, 2, 0.999), (1, 2, 0.985))

        assert groups == [[0, 2]]
