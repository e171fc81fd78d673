"""mergeContacts field choices: a person's pick of values, held as a manual decision and
taken back by unmerge."""

from __future__ import annotations

import pytest

from crm.errors import ErrorCode, ServiceError
from crm.merging import merge_contacts
from crm.models import Contact


@pytest.fixture
def ann(add) -> Contact:
    return add(
        external_id="row-1",
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
        address_line1="1 Beach Rd",
        city="Bondi",
    )


@pytest.fixture
def annie(add) -> Contact:
    """The PMS's record: its values win survivorship over the CSV's."""
    return add(
        source="cliniko",
        external_id="p-9",
        first_name="Annabel",
        last_name="Lee-Smith",
        date_of_birth="1990-04-01",
        address_line1="9 Hill St",
        city="Coogee",
        cliniko_id="p-9",
    )


@pytest.fixture
def chosen_merge(session, org):
    def _merge(survivor: Contact, *merged: Contact, choices) -> Contact:
        result = merge_contacts(
            session,
            organization=org,
            survivor_id=survivor.id,
            merge_ids=[m.id for m in merged],
            actor="alice",
            field_choices=choices,
        )
        session.commit()
        return result

    return _merge


class TestChoosing:
    def test_the_survivor_keeps_the_chosen_values_as_a_manual_decision(
        self, ann, annie, chosen_merge, stored
    ):
        # when: survivorship alone would take the PMS's first name and address
        chosen_merge(
            ann,
            annie,
            choices=[("firstName", ann.id), ("address", ann.id), ("last_name", annie.id)],
        )

        # then
        row = stored.contact(ann)
        assert (row["first_name"], row["last_name"]) == ("Ann", "Lee-Smith")
        assert (row["address_line1"], row["city"]) == ("1 Beach Rd", "Bondi")
        assert row["date_of_birth"].isoformat() == "1990-04-01"
        assert row["field_sources"]["first_name"]["source"] == "manual"
        (merged,) = stored.events(ann, "merged")
        assert merged.data["field_choices"] == {
            "address": str(ann.id),
            "firstName": str(ann.id),
            "lastName": str(annie.id),
        }

    def test_it_holds_against_later_lower_sources_until_the_pms_says_otherwise(
        self, add, ann, annie, chosen_merge, stored
    ):
        # given
        chosen_merge(ann, annie, choices=[("firstName", ann.id)])

        # when: a newer CSV row and a WhatsApp message say otherwise
        add(external_id="row-1", first_name="Anne", last_name="Lee", email="ann@example.com")
        add(source="whatsapp", external_id="wa-1", contact=ann, first_name="Annie")

        # then
        assert stored.contact(ann)["first_name"] == "Ann"

        # when: the PMS sends a newer record
        add(source="cliniko", external_id="p-9", first_name="Annabelle", cliniko_id="p-9")

        # then
        assert stored.contact(ann)["first_name"] == "Annabelle"


class TestUnmerge:
    def test_the_choices_are_taken_back_exactly(self, ann, annie, chosen_merge, unmerge, stored):
        # given
        before = {"ann": stored.state(ann), "annie": stored.state(annie)}
        chosen_merge(ann, annie, choices=[("firstName", ann.id), ("dateOfBirth", annie.id)])

        # when
        unmerge(annie)

        # then
        assert {"ann": stored.state(ann), "annie": stored.state(annie)} == before

    def test_unmerging_one_contact_keeps_the_choice_naming_another(
        self, add, ann, annie, chosen_merge, unmerge, stored
    ):
        # given: three contacts; Ann's first name and Bea's phone chosen
        bea = add(external_id="row-3", first_name="Bea", last_name="Lee", phone="0412 000 111")
        chosen_merge(annie, ann, bea, choices=[("firstName", ann.id), ("phone", bea.id)])
        assert stored.contact(annie)["first_name"] == "Ann"

        # when: Ann comes out
        unmerge(ann)

        # then: the PMS's name again, Bea's phone still chosen
        row = stored.contact(annie)
        assert row["first_name"] == "Annabel"
        assert row["phone"] == "+61412000111"
        assert row["field_sources"]["phone"]["source"] == "manual"


class TestBadChoices:
    @pytest.mark.parametrize(
        "choice",
        [
            pytest.param(("nickname", "ann"), id="unknown field"),
            pytest.param(("firstName", "stranger"), id="contact not in the merge"),
            pytest.param(("firstName", "not-an-id"), id="not an id"),
            pytest.param(("dateOfBirth", "ann"), id="no value to keep"),
        ],
    )
    def test_refused_with_a_code_and_nothing_changes(
        self, session, org, add, ann, annie, stored, choice
    ):
        # given
        stranger = add(external_id="row-9", first_name="Zed", last_name="Quinn")
        ids = {"ann": ann.id, "stranger": stranger.id}
        field, contact = choice

        # when
        with pytest.raises(ServiceError) as raised:
            merge_contacts(
                session,
                organization=org,
                survivor_id=ann.id,
                merge_ids=[annie.id],
                actor="alice",
                field_choices=[(field, ids.get(contact, contact))],
            )
        session.rollback()

        # then
        assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "field_choices")
        assert stored.contact(annie)["status"] == "active"
        assert stored.merges() == []

    def test_one_field_chosen_from_two_contacts(self, session, org, ann, annie, stored):
        with pytest.raises(ServiceError) as raised:
            merge_contacts(
                session,
                organization=org,
                survivor_id=ann.id,
                merge_ids=[annie.id],
                actor="alice",
                field_choices=[("firstName", ann.id), ("first_name", annie.id)],
            )
        session.rollback()
        assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "field_choices")
