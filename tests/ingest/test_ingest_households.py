"""Households share an email or a phone: a shared identifier never merges two people."""

from __future__ import annotations

import pytest

from crm.contacts.queries import contact_by_identifier, contacts_by_identifier
from crm.ingest import CREATED, LINKED


class TestHousehold:
    @pytest.mark.parametrize(
        ("column", "value", "channel"),
        [("email", "family@example.com", "EMAIL"), ("phone", "0412 345 678", "PHONE")],
    )
    def test_a_clearly_different_first_name_gets_its_own_contact(
        self, session, org, observe, run, rows, column, value, channel
    ):
        # given
        [mum] = run(observe(first_name="Margaret", last_name="Lee", **{column: value}))

        # when
        [kid] = run(
            observe(source="whatsapp", first_name="Oliver", last_name="Lee", **{column: value})
        )

        # then
        assert kid.outcome == CREATED
        assert kid.contact_id != mum.contact_id
        held = rows.identifiers()
        assert [(i.contact_id, i.ordinal) for i in held] == [
            (mum.contact_id, 0),
            (kid.contact_id, 1),
        ]
        holders = contacts_by_identifier(
            session, organization_id=org.id, channel=channel, value=value, region=org.default_region
        )
        assert [c.id for c in holders] == [mum.contact_id, kid.contact_id]
        primary = contact_by_identifier(
            session, organization_id=org.id, channel=channel, value=value, region=org.default_region
        )
        assert primary.id == mum.contact_id

    def test_both_people_keep_the_shared_value_in_their_own_fields(self, observe, run, rows):
        # given
        [mum] = run(observe(first_name="Margaret", email="family@example.com"))

        # when
        [kid] = run(observe(first_name="Oliver", email="family@example.com"))

        # then
        assert rows.contact(mum.contact_id).email == "family@example.com"
        assert rows.contact(kid.contact_id).email == "family@example.com"

    def test_a_third_person_is_the_third_holder(self, observe, run, rows):
        # given
        run(
            observe(first_name="Margaret", email="family@example.com"),
            observe(first_name="Oliver", email="family@example.com"),
        )

        # when
        [third] = run(observe(first_name="Sophie", email="family@example.com"))

        # then
        assert third.outcome == CREATED
        assert [i.ordinal for i in rows.identifiers()] == [0, 1, 2]
        assert rows.identifiers()[2].contact_id == third.contact_id

    def test_each_household_member_is_found_again_by_name(self, observe, run, rows):
        # given
        [mum] = run(observe(first_name="Margaret", email="family@example.com"))
        [kid] = run(observe(first_name="Oliver", email="family@example.com"))

        # when
        results = run(
            observe(source="whatsapp", first_name="Oliver", email="family@example.com"),
            observe(source="whatsapp", first_name="Maggie", email="family@example.com"),
        )

        # then
        assert [(r.outcome, r.contact_id) for r in results] == [
            (LINKED, kid.contact_id),
            (LINKED, mum.contact_id),
        ]
        assert len(rows.contacts()) == 2

    def test_a_household_in_one_batch_is_two_contacts(self, observe, run, rows):
        # when
        results = run(
            observe(first_name="Margaret", email="family@example.com"),
            observe(first_name="Oliver", email="family@example.com"),
        )

        # then
        assert [r.outcome for r in results] == [CREATED, CREATED]
        assert len(rows.contacts()) == 2
        assert [i.ordinal for i in rows.identifiers()] == [0, 1]


class TestCompatibleNames:
    @pytest.mark.parametrize(
        "later",
        ["Bill", "W.", "W", "william", "Will"],
        ids=["nickname", "initial-dot", "initial", "case", "short-form"],
    )
    def test_a_compatible_first_name_links_to_the_holder(self, observe, run, rows, later):
        # given
        [william] = run(observe(first_name="William", last_name="Ng", email="will@example.com"))

        # when
        [result] = run(observe(source="whatsapp", first_name=later, email="will@example.com"))

        # then
        assert result.outcome == LINKED
        assert result.contact_id == william.contact_id
        assert len(rows.contacts()) == 1

    def test_a_record_without_a_first_name_links_to_the_holder(self, observe, run):
        # given
        [william] = run(observe(first_name="William", email="will@example.com"))

        # when
        [result] = run(observe(source="whatsapp", email="will@example.com"))

        # then
        assert result.contact_id == william.contact_id

    def test_an_initial_of_another_letter_is_another_person(self, observe, run):
        # given
        [william] = run(observe(first_name="William", email="will@example.com"))

        # when
        [result] = run(observe(source="whatsapp", first_name="J.", email="will@example.com"))

        # then
        assert result.outcome == CREATED
        assert result.contact_id != william.contact_id

    def test_the_compatible_household_member_is_chosen(self, observe, run):
        # given: Margaret is the primary holder, Oliver the second
        run(observe(first_name="Margaret", phone="0412 345 678"))
        [oliver] = run(observe(first_name="Oliver", phone="0412 345 678"))

        # when
        [result] = run(observe(source="sms", first_name="Ollie", sms="0412345678"))

        # then
        assert result.contact_id == oliver.contact_id


class TestHouseholdWithinOneBatch:
    def test_a_name_learnt_earlier_in_the_batch_keeps_a_household_apart(self, observe, run, rows):
        # when: the first row has no name; the second names its owner; the third is someone else
        results = run(
            observe(email="family@example.com"),
            observe(source="whatsapp", first_name="Oliver", email="family@example.com"),
            observe(source="cliniko", first_name="Margaret", email="family@example.com"),
        )

        # then: the same as three separate batches
        assert [r.outcome for r in results] == [CREATED, LINKED, CREATED]
        assert results[0].contact_id == results[1].contact_id != results[2].contact_id
        assert [i.ordinal for i in rows.identifiers()] == [0, 1]

    def test_the_same_rows_in_separate_batches(self, observe, run, rows):
        # when
        first = run(observe(email="family@example.com"))
        second = run(observe(source="whatsapp", first_name="Oliver", email="family@example.com"))
        third = run(observe(source="cliniko", first_name="Margaret", email="family@example.com"))

        # then
        assert [r.outcome for r in first + second + third] == [CREATED, LINKED, CREATED]
