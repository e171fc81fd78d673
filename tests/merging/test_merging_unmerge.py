"""Unmerging: the merged contact comes back exactly; the survivor keeps what came later."""

from __future__ import annotations

import pytest

from crm.contacts.commands import link_identifier
from crm.errors import ErrorCode, ServiceError
from crm.merging import unmerge_contact
from tests.merging.conftest import at


class TestTheFixture:
    def test_the_shared_emails_are_held_as_described(self, stored, family):
        ann, annie, harry = family["ann"].id, family["annie"].id, family["harry"].id
        assert stored.held("email", "lees@example.com") == [(harry, 0), (ann, 1), (annie, 2)]
        assert stored.held("email", "work@example.com") == [(annie, 0), (ann, 1)]
        # two CSV versions, two webforms, a manual edit
        assert len(stored.records(ann)) == 5


class TestUnmergeExactness:
    def test_merge_then_unmerge_leaves_everyone_exactly_as_before(
        self, merge, unmerge, stored, family
    ):
        # given
        ann, annie, harry = family["ann"], family["annie"], family["harry"]
        before = {name: stored.state(c) for name, c in family.items()}
        merge(ann, annie)
        assert stored.held("email", "work@example.com") == [(ann.id, 0)]
        assert stored.held("email", "lees@example.com") == [(harry.id, 0), (ann.id, 1)]

        # when
        restored = unmerge(annie)

        # then
        assert {name: stored.state(c) for name, c in family.items()} == before
        assert restored.id == annie.id and restored.status == "active"

    def test_versions_move_on_and_the_merge_is_marked_undone(self, merge, unmerge, stored, family):
        # given
        ann, annie = family["ann"], family["annie"]
        versions = (stored.contact(ann)["version"], stored.contact(annie)["version"])
        merge(ann, annie)

        # when
        unmerge(annie)

        # then
        assert stored.contact(ann)["version"] == versions[0] + 2
        assert stored.contact(annie)["version"] == versions[1] + 2
        (row,) = stored.merges()
        assert row.undone_at is not None
        (on_merged,) = stored.events(annie, "unmerged")
        (on_survivor,) = stored.events(ann, "unmerged")
        assert on_merged.data["survivor_id"] == str(ann.id)
        assert on_survivor.data["merged_id"] == str(annie.id)
        assert on_merged.data["not_restored"] == []

    def test_several_merged_at_once_unmerged_one_by_one(
        self, merge, unmerge, stored, family, carol
    ):
        # given
        everyone = {**family, "carol": carol}
        before = {name: stored.state(c) for name, c in everyone.items()}
        merge(family["ann"], family["annie"], carol)

        # when
        unmerge(carol)
        unmerge(family["annie"])

        # then
        assert {name: stored.state(c) for name, c in everyone.items()} == before


class TestChains:
    def test_two_merged_into_one_unmerge_the_first(self, merge, unmerge, stored, family, carol):
        # given: A <- B, A <- C
        ann, annie = family["ann"], family["annie"]
        before = {"ann": stored.state(ann), "annie": stored.state(annie)}
        carol_before = stored.state(carol)
        merge(ann, annie)
        merge(ann, carol)

        # when
        unmerge(annie)

        # then: B exactly as before; C still merged into A, whose identifiers A keeps
        assert stored.state(annie) == before["annie"]
        assert stored.contact(carol)["merged_into_id"] == ann.id
        assert stored.contact(carol)["status"] == "merged"
        assert {r["id"] for r in carol_before["records"]} <= {r["id"] for r in stored.records(ann)}
        assert stored.contact(ann)["first_name"] == "Carol"  # the PMS record now decides

        # when: C comes back too
        unmerge(carol)

        # then
        assert stored.state(ann) == before["ann"]
        assert stored.state(carol) == carol_before

    def test_a_survivor_merged_on_then_unmerged(self, merge, unmerge, stored, family, carol):
        # given: A <- B, then C <- A
        ann, annie = family["ann"], family["annie"]
        before = {name: stored.state(c) for name, c in family.items()}
        carol_before = stored.state(carol)
        merge(ann, annie)
        ann_with_annie = stored.state(ann)
        merge(carol, ann)

        # when
        unmerge(ann)

        # then: A as it was with B in it (B still merged into A); C as before
        assert stored.state(ann) == ann_with_annie
        assert stored.state(carol) == carol_before
        assert stored.contact(annie)["merged_into_id"] == ann.id

        # when
        unmerge(annie)

        # then
        assert {name: stored.state(c) for name, c in family.items()} == before

    def test_unmerge_the_first_while_its_survivor_is_merged_on(
        self, merge, unmerge, stored, family, carol
    ):
        # given: A <- B, then C <- A
        ann, annie = family["ann"], family["annie"]
        before = {name: stored.state(c) for name, c in family.items()}
        carol_before = stored.state(carol)
        merge(ann, annie)
        merge(carol, ann)

        # when: B leaves C (where its data now is)
        unmerge(annie)

        # then
        assert stored.state(annie) == before["annie"]
        annie_records = {r["id"] for r in before["annie"]["records"]}
        assert not annie_records & {r["id"] for r in stored.records(carol)}
        (event,) = stored.events(carol, "unmerged")
        assert event.data["merged_id"] == str(annie.id)

        # when: A leaves C, without B's data (B took it)
        unmerge(ann)

        # then
        assert {name: stored.state(c) for name, c in family.items()} == before
        assert stored.state(carol) == carol_before


class TestWhatArrivedAfterTheMerge:
    def test_identifiers_and_records_that_arrived_after_stay_with_the_survivor(
        self, session, org, add, merge, unmerge, stored, family
    ):
        # given
        ann, annie = family["ann"], family["annie"]
        annie_before = stored.state(annie)
        merge(ann, annie)
        link_identifier(
            session,
            organization=org,
            contact_id=ann.id,
            channel="INSTAGRAM",
            value="@annlee",
            actor="test",
        )
        session.commit()
        later = add(
            source="careportals",
            external_id="cp-1",
            observed_at=at(9),
            contact=ann,
            email="later@example.com",
        )

        # when
        unmerge(annie)

        # then
        assert stored.state(annie) == annie_before
        mine = {(i["namespace"], i["value"]) for i in stored.identifiers(ann)}
        assert {("instagram", "annlee"), ("email", "later@example.com")} <= mine
        assert "careportals" in {r["source_system"] for r in stored.records(later)}
        assert stored.contact(ann)["status"] == "active"

    def test_a_new_version_of_a_moved_record_goes_back_with_it(
        self, add, merge, unmerge, stored, family
    ):
        # given: after the merge the PMS changes the merged patient (attached to the survivor)
        ann, annie = family["ann"], family["annie"]
        merge(ann, annie)
        add(
            source="cliniko",
            external_id="p-9",
            observed_at=at(8),
            first_name="Annabel",
            last_name="Lee-Jones",
            cliniko_id="p-9",
        )

        # when
        restored = unmerge(annie)

        # then: the record is the patient's, in both versions; the fields follow it
        records = stored.records(annie)
        assert [
            (r["source_system"], r["version"], r["is_current"])
            for r in records
            if r["source_system"] == "cliniko"
        ] == [("cliniko", 1, False), ("cliniko", 2, True)]
        assert restored.last_name == "Lee-Jones"
        assert "cliniko" not in stored.contact(ann)["source_systems"]

    def test_an_identifier_unlinked_from_the_survivor_meanwhile_stays_unlinked(
        self, session, org, merge, unmerge, stored, family
    ):
        # given
        from crm.contacts.commands import unlink_identifier

        ann, annie = family["ann"], family["annie"]
        annie_before = stored.state(annie)
        merge(ann, annie)
        unlink_identifier(
            session,
            organization=org,
            contact_id=ann.id,
            channel="CLINIKO",
            value="p-9",
            actor="test",
        )
        session.commit()

        # when
        unmerge(annie)

        # then: the later unlink holds (docs/merging.md); all else is as before the merge
        after = stored.state(annie)
        kept = [i for i in annie_before["identifiers"] if i["namespace"] != "cliniko"]
        assert (after["contact"], after["records"]) == (
            annie_before["contact"],
            annie_before["records"],
        )
        assert after["identifiers"] == kept
        assert stored.held("cliniko", "p-9") == []
        (event,) = stored.events(annie, "unmerged")
        assert event.data["not_restored"] == [
            {"namespace": "cliniko", "value": "p-9", "reason": "unlinked"}
        ]

    def test_an_exclusive_identifier_taken_meanwhile_is_reported_not_stolen(
        self, session, org, add, merge, unmerge, stored, family
    ):
        # given: the PMS id is unlinked from the survivor and linked to someone else
        from crm.contacts.commands import unlink_identifier

        ann, annie = family["ann"], family["annie"]
        zed = add(first_name="Zed", email="zed@example.com")
        merge(ann, annie)
        unlink_identifier(
            session,
            organization=org,
            contact_id=ann.id,
            channel="CLINIKO",
            value="p-9",
            actor="test",
        )
        link_identifier(
            session,
            organization=org,
            contact_id=zed.id,
            channel="CLINIKO",
            value="p-9",
            actor="test",
        )
        session.commit()

        # when
        unmerge(annie)

        # then
        assert stored.held("cliniko", "p-9") == [(zed.id, 0)]
        (event,) = stored.events(annie, "unmerged")
        assert event.data["not_restored"] == [
            {"namespace": "cliniko", "value": "p-9", "reason": "unlinked"}
        ]

    def test_a_holder_that_took_the_ordinal_meanwhile_keeps_it(
        self, add, merge, unmerge, stored, family
    ):
        # given: after the merge a new household member gets the email's next ordinal
        ann, annie, harry = family["ann"], family["annie"], family["harry"]
        merge(ann, annie)
        kim = add(external_id="k-1", first_name="Kim", last_name="Lee", email="lees@example.com")
        assert stored.held("email", "lees@example.com") == [(harry.id, 0), (ann.id, 1), (kim.id, 2)]

        # when
        unmerge(annie)

        # then: Annie's old ordinal went to Kim; she gets the next free one
        assert stored.held("email", "lees@example.com") == [
            (harry.id, 0),
            (ann.id, 1),
            (kim.id, 2),
            (annie.id, 3),
        ]


class TestUnmergeRefused:
    def test_an_active_contact_is_not_merged(self, session, org, stored, family):
        with pytest.raises(ServiceError) as raised:
            unmerge_contact(session, organization=org, contact_id=family["ann"].id, actor="t")
        assert (raised.value.code, raised.value.field) == (ErrorCode.NOT_MERGED, "contact_id")

    def test_unmerging_twice_is_not_merged(self, session, org, merge, unmerge, family):
        # given
        merge(family["ann"], family["annie"])
        unmerge(family["annie"])

        # when / then
        with pytest.raises(ServiceError) as raised:
            unmerge_contact(session, organization=org, contact_id=family["annie"].id, actor="t")
        assert raised.value.code == ErrorCode.NOT_MERGED

    @pytest.mark.parametrize("contact_id", ["nope", "0190d4f2-0000-7000-8000-000000000000"])
    def test_an_unknown_contact_is_not_found(self, session, org, contact_id):
        with pytest.raises(ServiceError) as raised:
            unmerge_contact(session, organization=org, contact_id=contact_id, actor="t")
        assert (raised.value.code, raised.value.field) == (ErrorCode.NOT_FOUND, "contact_id")

    def test_another_organizations_contact_is_not_found(self, session, org, other_org, add, merge):
        # given
        a = add(organization=other_org, first_name="Ann", email="ann@example.com")
        b = add(organization=other_org, first_name="Ann", email="ann2@example.com")
        merge(a, b, organization=other_org)

        # when / then
        with pytest.raises(ServiceError) as raised:
            unmerge_contact(session, organization=org, contact_id=b.id, actor="t")
        assert raised.value.code == ErrorCode.NOT_FOUND
