"""A dismissal outlives merges: carried to the survivor, taken back by unmerge."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session

from crm.errors import ErrorCode, ServiceError
from crm.merging import dismiss_candidate, list_candidates, merge_contact_groups, merge_contacts
from crm.merging.merge import MergeGroup
from crm.models import Contact


@pytest.fixture
def people(add) -> dict[str, Contact]:
    """A(nn) and B(ea) are one person; X(ena) is someone else; Y(vette) another."""
    return {
        key: add(external_id=key, first_name=name, last_name="Ng")
        for key, name in (("a", "Ann"), ("b", "Bea"), ("x", "Xena"), ("y", "Yvette"))
    }


def statuses(stored) -> dict[frozenset, str]:
    return {frozenset((c.contact_a_id, c.contact_b_id)): c.status for c in stored.candidates()}


def pair(*contacts: Contact) -> frozenset:
    return frozenset(c.id for c in contacts)


def dismiss(stored, row) -> None:
    dismiss_candidate(stored.session, organization=stored.org, candidate_id=row.id, actor="alice")
    stored.session.commit()


def pending_pairs(session, org) -> set[frozenset]:
    page = list_candidates(session, organization_id=org.id)
    return {frozenset((c.contact_a_id, c.contact_b_id)) for c in page.items}


class TestCarriedOnMerge:
    def test_the_survivor_takes_the_dismissal_its_pending_pair_leaves_the_queue(
        self, session, org, people, candidate, merge, stored
    ):
        # given: A~X dismissed by a person, B~X pending
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        candidate(p["b"], p["x"])

        # when
        merge(p["b"], p["a"])

        # then: B~X is dismissed, the original A~X kept, nothing pending
        after = statuses(stored)
        assert after[pair(p["b"], p["x"])] == "dismissed"
        assert after[pair(p["a"], p["x"])] == "dismissed"
        assert pending_pairs(session, org) == set()

    def test_a_new_dismissed_row_when_the_survivor_had_none(self, people, candidate, merge, stored):
        # given
        p = people
        original = candidate(p["a"], p["x"], score=0.77)
        dismiss(stored, original)

        # when
        merge(p["b"], p["a"])

        # then
        rows = {frozenset((c.contact_a_id, c.contact_b_id)): c for c in stored.candidates()}
        carried = rows[pair(p["b"], p["x"])]
        assert carried.id != original.id
        assert (carried.status, carried.score, carried.decided_by) == ("dismissed", 0.77, "alice")
        (merge_row,) = stored.merges()
        entries = [c for c in merge_row.undo["candidates"] if c["change"] == "carried"]
        assert [(e["id"], e["from"], e["was"]) for e in entries] == [
            (str(carried.id), str(original.id), None)
        ]

    def test_through_a_chain_b_and_y_stay_dismissed(self, people, candidate, merge, stored):
        # given: A~X dismissed, A merged into B
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge(p["b"], p["a"])

        # when: X merged into Y
        merge(p["y"], p["x"])

        # then
        assert statuses(stored)[pair(p["b"], p["y"])] == "dismissed"

    def test_merging_the_other_side_first_carries_it_too(self, people, candidate, merge, stored):
        # given: A~X dismissed, X merged into Y first
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge(p["y"], p["x"])

        # when
        merge(p["b"], p["a"])

        # then
        assert statuses(stored)[pair(p["b"], p["y"])] == "dismissed"


class TestCarriedInOneBatch:
    def test_two_groups_merged_together_carry_it_as_one_at_a_time_would(
        self, session, org, people, candidate, stored
    ):
        # given
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))

        # when: the sweep's way, A into B and X into Y in one batch (one round)
        outcome = merge_contact_groups(
            session,
            organization=org,
            groups=[
                MergeGroup(survivor_id=p["b"].id, merge_ids=[p["a"].id]),
                MergeGroup(survivor_id=p["y"].id, merge_ids=[p["x"].id]),
            ],
            actor="dedup.sweep",
        )
        session.commit()

        # then
        assert outcome.failed == []
        assert statuses(stored)[pair(p["b"], p["y"])] == "dismissed"


class TestMergingADismissedPair:
    def test_the_sweep_never_merges_it(self, session, org, people, candidate, stored):
        # given
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge_contacts(
            session, organization=org, survivor_id=p["b"].id, merge_ids=[p["a"].id], actor="t"
        )
        session.commit()

        # when: an automatic merge of B and X (the dismissal carried from A)
        outcome = merge_contact_groups(
            session,
            organization=org,
            groups=[MergeGroup(survivor_id=p["b"].id, merge_ids=[p["x"].id], score=0.99)],
            actor="dedup.sweep",
        )
        session.commit()

        # then
        assert outcome.merged == []
        [(_, error)] = outcome.failed
        assert error.code == ErrorCode.MERGE_CONFLICT
        assert stored.contact(p["x"])["status"] == "active"

    def test_an_automatic_merge_through_the_service_is_refused(
        self, session, org, people, candidate, stored
    ):
        # given
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))

        # when / then
        with pytest.raises(ServiceError) as raised:
            merge_contacts(
                session,
                organization=org,
                survivor_id=p["a"].id,
                merge_ids=[p["x"].id],
                actor="dedup.sweep",
                reason="sweep",
            )
        session.rollback()
        assert raised.value.code == ErrorCode.MERGE_CONFLICT
        assert stored.contact(p["x"])["status"] == "active"

    def test_a_person_may_merge_it_and_the_dismissal_closes_as_merged(
        self, people, candidate, merge, unmerge, stored
    ):
        # given: B~X dismissed (carried from A~X)
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge(p["b"], p["a"])

        # when: a person merges X into B anyway
        merge(p["b"], p["x"])

        # then
        assert statuses(stored)[pair(p["b"], p["x"])] == "merged"
        assert stored.contact(p["x"])["merged_into_id"] == p["b"].id

        # when: and takes it back
        unmerge(p["x"])

        # then: dismissed again
        assert statuses(stored)[pair(p["b"], p["x"])] == "dismissed"


class TestUnmergeTakesItBack:
    def test_a_pending_pair_goes_back_to_pending_the_original_kept(
        self, session, org, people, candidate, merge, unmerge, stored
    ):
        # given
        p = people
        original = candidate(p["a"], p["x"])
        dismiss(stored, original)
        was_pending = candidate(p["b"], p["x"])
        merge(p["b"], p["a"])

        # when
        unmerge(p["a"])

        # then
        rows = {c.id: c for c in stored.candidates()}
        assert rows[was_pending.id].status == "pending"
        assert rows[was_pending.id].decided_at is None
        assert (rows[original.id].status, rows[original.id].decided_by) == ("dismissed", "alice")
        assert pending_pairs(session, org) == {pair(p["b"], p["x"])}

    def test_a_carried_row_is_removed(self, people, candidate, merge, unmerge, stored):
        # given
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge(p["b"], p["a"])

        # when
        unmerge(p["a"])

        # then: the original, and the unmerge's own dismissal of A~B; B~X gone
        assert statuses(stored) == {
            pair(p["a"], p["x"]): "dismissed",
            pair(p["a"], p["b"]): "dismissed",
        }

    def test_along_a_chain_what_was_carried_on_goes_too(
        self, people, candidate, merge, unmerge, stored
    ):
        # given: A~X dismissed, A into B (B~X), then B into Y (Y~X)
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge(p["b"], p["a"])
        merge(p["y"], p["b"])
        assert statuses(stored)[pair(p["y"], p["x"])] == "dismissed"

        # when: A comes out
        unmerge(p["a"])

        # then: nothing says Y (with B) and X differ any more
        after = statuses(stored)
        assert pair(p["y"], p["x"]) not in after
        assert pair(p["b"], p["x"]) not in after
        assert after[pair(p["a"], p["x"])] == "dismissed"

    def test_a_decision_taken_since_is_kept(self, people, candidate, merge, unmerge, stored):
        # given: B~X carried, then a person merged X into B and took it back (dismissing it)
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))
        merge(p["b"], p["a"])
        merge(p["b"], p["x"])
        unmerge(p["x"])

        # when
        unmerge(p["a"])

        # then: B~X is that person's decision, not the carried one
        assert statuses(stored)[pair(p["b"], p["x"])] == "dismissed"


class TestDismissingAfterAMerge:
    def test_a_pair_left_on_a_merged_contact_dismisses_the_survivors_pair(
        self, session, org, people, candidate, merge, stored
    ):
        # given: A~X and B~X pending; A merged into B (A~X stays on A: B has its own)
        p = people
        left = candidate(p["a"], p["x"])
        candidate(p["b"], p["x"])
        merge(p["b"], p["a"])

        # when: a person dismisses A~X from a page read before the merge
        dismiss(stored, left)

        # then
        assert statuses(stored)[pair(p["b"], p["x"])] == "dismissed"
        assert pending_pairs(session, org) == set()


def at_once(engine, session, *work: Callable[[Session], Any]) -> None:
    """Run each function in its own thread and session, released together; commit each."""
    session.rollback()  # the test's own session must not sit on SQLite's write lock
    barrier = threading.Barrier(len(work))

    def run(fn: Callable[[Session], Any]) -> None:
        with Session(engine, expire_on_commit=False) as own:
            barrier.wait(timeout=30)
            fn(own)
            own.commit()

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        list(pool.map(run, work, timeout=60))


def merging(org, survivor: Contact, merged: Contact) -> Callable[[Session], Any]:
    return lambda s: merge_contacts(
        s, organization=org, survivor_id=survivor.id, merge_ids=[merged.id], actor="t"
    )


class TestRaces:
    def test_a_dismissal_racing_the_merge_holds_for_the_survivor_either_way(
        self, engine, session, org, people, candidate, stored
    ):
        # given
        p = people
        a_x = candidate(p["a"], p["x"])
        candidate(p["b"], p["x"])

        def dismissing(s: Session) -> None:
            dismiss_candidate(s, organization=org, candidate_id=a_x.id, actor="alice")

        # when
        at_once(engine, session, dismissing, merging(org, p["b"], p["a"]))

        # then
        assert statuses(stored)[pair(p["b"], p["x"])] == "dismissed"
        assert pending_pairs(session, org) == set()

    def test_both_sides_merged_at_once_keep_the_dismissal(
        self, engine, session, org, people, candidate, stored
    ):
        # given
        p = people
        dismiss(stored, candidate(p["a"], p["x"]))

        # when: A into B and X into Y at the same time
        at_once(engine, session, merging(org, p["b"], p["a"]), merging(org, p["y"], p["x"]))

        # then
        assert statuses(stored)[pair(p["b"], p["y"])] == "dismissed"
