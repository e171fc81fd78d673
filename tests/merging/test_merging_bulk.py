"""Merging many groups at once (the dedup sweep's path): the same merges as one at a time."""

from __future__ import annotations

from typing import Any

import pytest

from crm.contacts.queries import contact_by_identifier, get_contact
from crm.errors import ErrorCode
from crm.merging import MergeGroup, merge_contact_groups, merge_contacts
from crm.models import Contact
from tests.merging.conftest import at

# what differs between two runs of the same merges: instants and generated ids
_MOVING = {"updated_at", "version", "decided_at", "created_at"}


@pytest.fixture
def henry(add) -> Contact:
    """Harry again, from a PMS, with the work email Annie and Ann hold too."""
    return add(
        source="gentu",
        external_id="g-7",
        observed_at=at(5),
        first_name="Henry",
        last_name="Lee",
        email="work@example.com",
        gentu_id="g-7",
    )


@pytest.fixture
def everyone(family, carol, henry) -> dict[str, Contact]:
    return {**family, "carol": carol, "henry": henry}


def groups_of(everyone: dict[str, Contact]) -> list[MergeGroup]:
    """Ann <- Annie, Carol (two rounds) and Harry <- Henry, who shares an email with both."""
    return [
        MergeGroup(
            survivor_id=everyone["ann"].id,
            merge_ids=[everyone["annie"].id, everyone["carol"].id],
        ),
        MergeGroup(survivor_id=everyone["harry"].id, merge_ids=[everyone["henry"].id], score=0.99),
    ]


def bulk(session, org, groups: list[MergeGroup], *, actor: str = "test"):
    outcome = merge_contact_groups(
        session, organization=org, groups=groups, actor=actor, reason="sweep"
    )
    session.commit()
    return outcome


def comparable(value: Any) -> Any:
    """A snapshot without what moves between runs (instants, versions)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in _MOVING}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


class TestLikeOneAtATime:
    def test_the_same_rows_snapshots_and_events_as_single_merges(
        self, session, org, stored, everyone, candidate
    ):
        # given: a pending pair across the two groups, which both merges move
        candidate(everyone["annie"], everyone["henry"])

        def merged_state() -> dict[str, Any]:
            return {
                "contacts": {n: stored.state(c) for n, c in everyone.items()},
                # by merged contact: several groups' merges interleave (a round at a time)
                "undo": sorted(
                    (m.merged_id, m.survivor_id, m.score, comparable(m.undo))
                    for m in stored.merges()
                ),
                "events": {
                    n: [(e.kind, e.field, e.old_value, e.new_value) for e in stored.events(c)]
                    for n, c in everyone.items()
                },
                "candidates": [
                    (c.id, c.contact_a_id, c.contact_b_id, c.status) for c in stored.candidates()
                ],
            }

        # when: one at a time, rolled back
        savepoint = session.begin_nested()
        for group in groups_of(everyone):
            merge_contacts(
                session,
                organization=org,
                survivor_id=group.survivor_id,
                merge_ids=group.merge_ids,
                actor="test",
                reason="sweep",
                score=group.score,
            )
        one_at_a_time = merged_state()
        savepoint.rollback()

        # when: all at once
        outcome = bulk(session, org, groups_of(everyone))

        # then
        assert outcome.failed == []
        assert [len(ids) for _, ids in outcome.merged] == [2, 1]
        assert merged_state() == one_at_a_time


class TestUnmergeAfterBulk:
    def test_every_merged_contact_comes_back_exactly(
        self, session, org, unmerge, stored, everyone, candidate
    ):
        # given
        candidate(everyone["annie"], everyone["henry"])
        before = {name: stored.state(c) for name, c in everyone.items()}
        pending = [(c.contact_a_id, c.contact_b_id) for c in stored.candidates()]
        bulk(session, org, groups_of(everyone))
        assert stored.contact(everyone["henry"])["merged_into_id"] == everyone["harry"].id

        # when: in another order than they merged
        unmerge(everyone["henry"])
        unmerge(everyone["annie"])
        unmerge(everyone["carol"])

        # then
        assert {name: stored.state(c) for name, c in everyone.items()} == before
        by_pair = {(c.contact_a_id, c.contact_b_id): c.status for c in stored.candidates()}
        assert by_pair[pending[0]] == "pending"

    def test_a_chain_after_a_bulk_merge(self, session, org, merge, unmerge, stored, everyone):
        # given: the sweep's Harry <- Henry, then a person merges Ann into Harry
        before = {name: stored.state(c) for name, c in everyone.items()}
        bulk(session, org, [groups_of(everyone)[1]])
        merge(everyone["harry"], everyone["ann"])

        # when
        unmerge(everyone["henry"])
        unmerge(everyone["ann"])

        # then
        assert {name: stored.state(c) for name, c in everyone.items()} == before


class TestBulkMerge:
    def test_lookups_lead_to_the_survivor_and_events_on_both_sides(
        self, session, org, stored, everyone
    ):
        # when
        outcome = bulk(session, org, groups_of(everyone))

        # then
        ann, annie = everyone["ann"], everyone["annie"]
        found = get_contact(
            session, organization_id=org.id, contact_id=annie.id, follow_merges=True
        )
        assert found is not None and found.id == ann.id
        by_phone = contact_by_identifier(
            session, organization_id=org.id, channel="PHONE", value="0412345678", region="AU"
        )
        assert by_phone is not None and by_phone.id == ann.id
        rows = stored.merges()
        assert {m.id for m in rows} == {i for _, ids in outcome.merged for i in ids}
        assert len(rows) == 3
        henry_merge = next(m for m in rows if m.merged_id == everyone["henry"].id)
        assert (henry_merge.reason, henry_merge.score, henry_merge.actor) == ("sweep", 0.99, "test")
        for merged, survivor in [("annie", "ann"), ("carol", "ann"), ("henry", "harry")]:
            (on_merged,) = stored.events(everyone[merged], "merged")
            assert on_merged.data["survivor_id"] == str(everyone[survivor].id)
            assert on_merged.data["role"] == "merged"
        assert len(stored.events(ann, "merged")) == 2

    def test_a_refused_group_is_reported_and_the_others_merge(
        self, session, org, merge, stored, everyone
    ):
        # given: Henry was merged by hand meanwhile
        merge(everyone["carol"], everyone["henry"])
        annie_before = stored.state(everyone["annie"])

        # when
        outcome = bulk(
            session,
            org,
            [
                MergeGroup(survivor_id=everyone["ann"].id, merge_ids=[everyone["annie"].id]),
                MergeGroup(survivor_id=everyone["harry"].id, merge_ids=[everyone["henry"].id]),
                MergeGroup(survivor_id=everyone["harry"].id, merge_ids=[everyone["annie"].id]),
            ],
        )

        # then
        assert [len(ids) for _, ids in outcome.merged] == [1]
        codes = {str(group.merge_ids[0]): exc.code for group, exc in outcome.failed}
        assert codes == {
            str(everyone["henry"].id): ErrorCode.NOT_ACTIVE,
            str(everyone["annie"].id): ErrorCode.MERGE_CONFLICT,
        }
        assert stored.contact(everyone["henry"])["merged_into_id"] == everyone["carol"].id
        assert stored.contact(everyone["annie"])["merged_into_id"] == everyone["ann"].id
        assert annie_before["records"][0]["id"] in {
            r["id"] for r in stored.records(everyone["ann"])
        }

    def test_nothing_to_merge_is_nothing(self, session, org):
        outcome = bulk(session, org, [])

        assert (outcome.merged, outcome.failed) == ([], [])
