"""Blocking: duplicates meet in a block, and the number of compared pairs stays bounded."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

from crm.matching.blocking import (
    KeyIndex,
    blocking_keys,
    candidate_pairs,
    consonants,
    sort_ranks,
)
from crm.matching.records import MatchRecord, build_record


def record(idx: int, **fields) -> MatchRecord:
    identifiers = [("email", e) for e in fields.pop("emails", ())]
    identifiers += [("tel", p) for p in fields.pop("phones", ())]
    return build_record(idx, {"id": uuid.UUID(int=idx + 1), **fields}, identifiers)


def pairs_of(records: list[MatchRecord], **options) -> set[tuple[int, int]]:
    index = KeyIndex()
    for r in records:
        index.add(r)
    codes, _ = candidate_pairs(index, sort_ranks(records), **options)
    return {(c >> 32, c & 0xFFFFFFFF) for c in codes.tolist()}


def crowd(n: int, *, seed: int = 1, **common) -> list[MatchRecord]:
    """``n`` different people (random names from a large pool), sharing ``common``."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "sa", "to", "ri", "vo", "be", "du", "fi", "go", "ha"]

    def name() -> str:
        return "".join(rng.choice(syllables) for _ in range(3)).capitalize()

    return [
        record(
            i,
            first_name=name(),
            last_name=name(),
            date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(25_000)),
            **common,
        )
        for i in range(n)
    ]


class TestKeys:
    def test_swapped_names_share_a_key(self):
        a = record(0, first_name="John", last_name="Smith")
        b = record(1, first_name="Smith", last_name="John")

        assert set(blocking_keys(a)) & set(blocking_keys(b))

    def test_a_surname_typo_with_the_same_birth_date_meets(self):
        a = record(0, first_name="Anne", last_name="Thompson", date_of_birth=date(1980, 1, 2))
        b = record(1, first_name="Anne", last_name="Tompson", date_of_birth=date(1980, 1, 2))

        assert pairs_of([a, b]) == {(0, 1)}

    def test_a_name_and_birth_year_meet_whichever_field_holds_the_name(self):
        # "Watson Noah" (swapped) and "oNah Watson": one birth year, another day, no address
        a = record(0, first_name="Watson", last_name="Noah", date_of_birth=date(2008, 1, 21))
        b = record(1, first_name="Onah", last_name="Watson", date_of_birth=date(2008, 3, 23))

        assert pairs_of([a, b]) == {(0, 1)}

    def test_both_names_wrong_meet_by_birth_year_and_suburb(self):
        a = record(
            0,
            first_name="Sara",
            last_name="Jackson",
            date_of_birth=date(1999, 11, 4),
            city="Liverpool",
        )
        b = record(
            1,
            first_name="Asa",
            last_name="Jkcaso",
            date_of_birth=date(1999, 9, 18),
            city="Liverpool",
        )

        assert pairs_of([a, b]) == {(0, 1)}

    def test_letters_in_another_order_meet_by_consonants_and_birth_year(self):
        # Splink's fake_1000: "Alfie Tyolr" and an undated first name with "Taylor" (their
        # sounds differ, nothing else is shared but a suburb many others of that year share)
        a = record(0, first_name="Alfie", last_name="Tyolr", date_of_birth=date(2005, 6, 20))
        b = record(1, last_name="Taylor", date_of_birth=date(2005, 6, 1))

        assert pairs_of([a, b]) == {(0, 1)}
        assert consonants("tyolr") == consonants("taylor") == "lrt"
        assert consonants("psrson") == consonants("parsons")

    def test_a_name_of_one_consonant_makes_no_consonant_key(self):
        assert consonants("leo") == ""
        keys = blocking_keys(record(0, first_name="Leo", date_of_birth=date(2001, 2, 3)))
        assert not [k for k in keys if k.startswith("cy|")]

    def test_an_email_with_a_typo_after_five_characters_meets(self):
        a = record(0, first_name="Laura", emails=["laura12@nelson.com"])
        b = record(1, first_name="Henry", emails=["laura1o@nelon.com"])

        assert pairs_of([a, b]) == {(0, 1)}

    def test_a_shared_email_meets_whatever_the_names(self):
        a = record(0, first_name="A", last_name="B", emails=["x@example.com"])
        b = record(1, first_name="C", last_name="D", emails=["x@example.com"])

        assert pairs_of([a, b]) == {(0, 1)}

    def test_strangers_do_not_meet(self):
        # phonetic codes and consonants (+ birth year) collide now and then, more in this
        # crowd of names from 13 syllables than among real names; 200 strangers are not 19,900
        # pairs
        assert len(pairs_of(crowd(200))) <= 10


class TestBounds:
    def test_a_giant_block_is_compared_by_neighbours_only(self):
        # given: 300 different people behind one clinic placeholder email
        people = crowd(300, emails=["noemail@clinic.example"])

        # when
        pairs = pairs_of(people, max_block=40, window=8)

        # then: 300 x 8 at most, not 300 x 299 / 2
        assert 0 < len(pairs) <= 300 * 8

    def test_a_crowded_consonant_block_is_left_to_the_other_keys(self):
        # given: 20 people whose names share their consonants and a birth year ("Smith",
        # "Thomas", "Smyth" ...), at different days and no other shared field
        people = [
            record(
                i,
                first_name=name,
                last_name=f"{name}{'s' * (i // len(names))}",
                date_of_birth=date(1970, 1 + i % 12, 1 + i),
            )
            for names in (["Smith", "Thomas", "Smyth", "Tomhs", "Mahts"],)
            for i, name in enumerate(names * 4)
        ]
        cy = {k for r in people for k in blocking_keys(r) if k.startswith("cy|")}

        # when
        pairs = pairs_of(people)

        # then: the shared consonant key's block (over its limit of 8) adds no pair of its own
        assert "cy|hmst|1970" in cy
        assert all(
            set(blocking_keys(people[a])) - {"cy|hmst|1970"} & set(blocking_keys(people[b]))
            for a, b in pairs
        )

    def test_pairs_grow_linearly_with_contacts(self):
        # given: everybody in one postcode, plus one duplicate each
        def population(n: int) -> list[MatchRecord]:
            people = crowd(n, postal_code="2026", address_line1="1 Main St")
            twins = [
                record(n + r.idx, first_name=r.first, last_name=r.lkey, date_of_birth=r.dob)
                for r in people
            ]
            return people + twins

        # when
        small, large = len(pairs_of(population(500))), len(pairs_of(population(2000)))

        # then: four times the people, about four times the pairs (not sixteen)
        assert small >= 500
        assert large <= 5 * small
