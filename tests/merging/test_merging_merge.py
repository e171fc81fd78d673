"""Merging: identifiers and source records move, survivorship recomputes, tombstones lead on."""

from __future__ import annotations

import pytest

from crm.contacts.commands import resolve_contact
from crm.contacts.queries import contact_by_identifier, get_contact
from crm.errors import ErrorCode, ServiceError
from crm.merging import merge_contacts
from crm.models import Contact
from tests.merging.conftest import at


@pytest.fixture
def ann(add) -> Contact:
    return add(
        source="csv",
        external_id="row-1",
        observed_at=at(0),
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
    )


@pytest.fixture
def annie(add) -> Contact:
    return add(
        source="cliniko",
        external_id="p-9",
        observed_at=at(1),
        first_name="Annabel",
        last_name="Lee",
        phone="0412 345 678",
        date_of_birth="1990-04-01",
        cliniko_id="p-9",
    )


class TestMerge:
    def test_identifiers_and_source_records_move_to_the_survivor(self, merge, stored, ann, annie):
        # given
        records = {r["id"] for r in stored.records(annie)}
        identifiers = {(i["id"], i["namespace"], i["ordinal"]) for i in stored.identifiers(annie)}

        # when
        merge(ann, annie)

        # then
        assert stored.identifiers(annie) == [] and stored.records(annie) == []
        held = {(i["id"], i["namespace"], i["ordinal"]) for i in stored.identifiers(ann)}
        assert identifiers <= held
        namespaces = {i["namespace"] for i in stored.identifiers(ann)}
        assert {"email", "tel", "cliniko"} <= namespaces
        assert records <= {r["id"] for r in stored.records(ann)}

    def test_survivorship_recomputes_the_survivors_fields(self, merge, stored, ann, annie):
        # when
        survivor = merge(ann, annie)

        # then: the PMS outranks the CSV; what only one side knew is kept
        assert (survivor.first_name, survivor.last_name) == ("Annabel", "Lee")
        assert survivor.email == "ann@example.com"
        assert survivor.phone == "+61412345678"
        assert str(survivor.date_of_birth) == "1990-04-01"
        assert survivor.field_sources["first_name"]["source"] == "cliniko"
        assert survivor.source_systems == ["cliniko", "csv"]
        assert survivor.primary_source == "cliniko"
        assert "annabel" in survivor.search_text and "61412345678" in survivor.search_text

    def test_the_merged_contact_becomes_a_tombstone(self, merge, stored, ann, annie):
        # given
        before = stored.contact(annie)

        # when
        merge(ann, annie)

        # then: it keeps what it was, pointing at the survivor
        after = stored.contact(annie)
        assert (after["status"], after["merged_into_id"]) == ("merged", ann.id)
        assert after["version"] == before["version"] + 1
        assert after["first_name"] == "Annabel"

    def test_both_versions_move_and_bump(self, merge, stored, ann, annie):
        # given
        versions = (stored.contact(ann)["version"], stored.contact(annie)["version"])

        # when
        merge(ann, annie)

        # then
        assert stored.contact(ann)["version"] == versions[0] + 1
        assert stored.contact(annie)["version"] == versions[1] + 1

    def test_the_merged_id_and_identifiers_lead_to_the_survivor(
        self, session, org, merge, ann, annie
    ):
        # when
        merge(ann, annie)

        # then
        found = get_contact(
            session, organization_id=org.id, contact_id=annie.id, follow_merges=True
        )
        assert found is not None and found.id == ann.id
        by_phone = contact_by_identifier(
            session, organization_id=org.id, channel="WHATSAPP", value="0412345678", region="AU"
        )
        assert by_phone is not None and by_phone.id == ann.id
        tombstone = get_contact(session, organization_id=org.id, contact_id=annie.id)
        assert tombstone is not None and tombstone.status == "merged"

    def test_a_chain_of_merges_is_followed_to_the_live_contact(
        self, session, org, add, merge, ann, annie
    ):
        # given
        carol = add(first_name="Carol", email="carol@example.com")
        merge(ann, annie)

        # when: the survivor is merged on
        merge(carol, ann)

        # then
        found = get_contact(
            session, organization_id=org.id, contact_id=annie.id, follow_merges=True
        )
        assert found is not None and found.id == carol.id

    def test_new_observations_of_the_merged_contact_reach_the_survivor(
        self, session, org, add, merge, stored, ann, annie
    ):
        # given
        merge(ann, annie)

        # when: the PMS sends the merged patient again (changed), and WhatsApp writes
        again = add(
            source="cliniko",
            external_id="p-9",
            observed_at=at(5),
            first_name="Bel",
            cliniko_id="p-9",
        )
        whatsapp, created = resolve_contact(
            session, organization=org, channel="WHATSAPP", value="+61412345678"
        )
        session.commit()

        # then
        assert again.id == ann.id and again.first_name == "Bel"
        assert whatsapp.id == ann.id and not created
        assert stored.records(annie) == []

    def test_several_contacts_at_once_one_merge_row_each(self, add, merge, stored, ann, annie):
        # given
        third = add(first_name="A.", last_name="Lee", email="a.lee@example.com")

        # when
        merge(ann, annie, third)

        # then
        merges = stored.merges()
        assert [(m.survivor_id, m.merged_id) for m in merges] == [
            (ann.id, annie.id),
            (ann.id, third.id),
        ]
        assert all(m.reason == "manual" and m.actor == "test" for m in merges)
        assert {i["value"] for i in stored.identifiers(ann) if i["namespace"] == "email"} == {
            "ann@example.com",
            "a.lee@example.com",
        }
        assert stored.contact(third)["merged_into_id"] == ann.id

    def test_the_merge_row_holds_the_undo_snapshot(self, merge, stored, ann, annie):
        # given
        identifiers = stored.identifiers(annie)

        # when
        merge(ann, annie, reason="sweep", score=0.97)

        # then
        (row,) = stored.merges()
        assert (row.reason, row.score, row.undone_at) == ("sweep", 0.97, None)
        undo = row.undo
        assert undo["format"] == 1
        assert undo["merged"]["id"] == str(annie.id) and undo["merged"]["status"] == "active"
        assert undo["survivor"]["first_name"] == "Ann"
        assert [(i["id"], i["ordinal"], i["moved"]) for i in undo["identifiers"]] == [
            (str(i["id"]), i["ordinal"], True) for i in identifiers
        ]
        assert len(undo["source_records"]) == 1 == len(undo["current_source_records"])
        assert len(undo["survivor_source_records"]) == 1

    def test_events_on_both_sides(self, merge, stored, ann, annie):
        # when
        merge(ann, annie)

        # then
        (on_survivor,) = stored.events(ann, "merged")
        (on_merged,) = stored.events(annie, "merged")
        assert on_survivor.data["role"] == "survivor" and on_merged.data["role"] == "merged"
        assert on_survivor.data["merged_id"] == str(annie.id)
        assert on_merged.data["survivor_id"] == str(ann.id)
        assert on_survivor.actor == "test"
        changed = {e.field for e in stored.events(ann, "field_changed")}
        assert {"first_name", "phone", "date_of_birth"} <= changed


class TestSharedIdentifiers:
    def test_an_identifier_both_hold_stays_once_and_the_survivor_takes_the_better_ordinal(
        self, add, merge, stored
    ):
        # given: the merged contact is the email's primary holder, the survivor its second
        first = add(first_name="Jo", last_name="Park", email="park@example.com")
        second = add(first_name="Sam", last_name="Park", email="park@example.com")
        assert stored.held("email", "park@example.com") == [(first.id, 0), (second.id, 1)]

        # when
        merge(second, first)

        # then
        assert stored.held("email", "park@example.com") == [(second.id, 0)]

    def test_a_household_members_second_email_moves_with_a_valid_ordinal(self, add, merge, stored):
        # given: a household shares an email; the second member is a duplicate of someone
        mum = add(first_name="Mary", last_name="Park", email="parks@example.com")
        kid = add(first_name="Tom", last_name="Park", email="parks@example.com")
        tom = add(first_name="Tom", last_name="Park", phone="0400 111 222")

        # when
        merge(tom, kid)

        # then
        assert stored.held("email", "parks@example.com") == [(mum.id, 0), (tom.id, 1)]
        assert stored.contact(mum)["status"] == "active"


class TestMergeRefused:
    @pytest.mark.parametrize(
        ("case", "code", "field"),
        [
            ("survivor among merged", ErrorCode.MERGE_CONFLICT, "merge_ids"),
            ("nothing to merge", ErrorCode.INVALID_INPUT, "merge_ids"),
            ("unknown merged id", ErrorCode.NOT_FOUND, "merge_ids"),
            ("not a uuid", ErrorCode.NOT_FOUND, "merge_ids"),
            ("unknown survivor", ErrorCode.NOT_FOUND, "survivor_id"),
            ("another organization's", ErrorCode.NOT_FOUND, "merge_ids"),
            ("merged already", ErrorCode.NOT_ACTIVE, "merge_ids"),
            ("survivor merged", ErrorCode.NOT_ACTIVE, "survivor_id"),
            ("bad reason", ErrorCode.INVALID_INPUT, "reason"),
        ],
    )
    def test_refused_and_nothing_changes(
        self, session, org, other_org, add, merge, stored, ann, annie, case, code, field
    ):
        # given
        gone = add(first_name="Gone", email="gone@example.com")
        merge(annie, gone)
        foreign = add(organization=other_org, first_name="Ann", email="ann@example.com")
        survivor, merged, reason = ann.id, [annie.id], "manual"
        if case == "survivor among merged":
            merged = [annie.id, ann.id]
        elif case == "nothing to merge":
            merged = []
        elif case == "unknown merged id":
            merged = ["0190d4f2-0000-7000-8000-000000000000"]
        elif case == "not a uuid":
            merged = ["nope"]
        elif case == "unknown survivor":
            survivor = "0190d4f2-0000-7000-8000-000000000000"
        elif case == "another organization's":
            merged = [foreign.id]
        elif case == "merged already":
            merged = [gone.id]
        elif case == "survivor merged":
            survivor = gone.id
        elif case == "bad reason":
            reason = "because"
        before = (stored.state(ann), stored.state(annie), len(stored.merges()))

        # when
        with pytest.raises(ServiceError) as raised:
            merge_contacts(
                session,
                organization=org,
                survivor_id=survivor,
                merge_ids=merged,
                actor="test",
                reason=reason,
            )
        session.rollback()

        # then
        assert (raised.value.code, raised.value.field) == (code, field)
        assert (stored.state(ann), stored.state(annie), len(stored.merges())) == before
