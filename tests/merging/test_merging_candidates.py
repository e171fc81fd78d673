"""The review queue: listing, dismissing, and what merges and unmerges do to candidates."""

from __future__ import annotations

import pytest

from crm.errors import ErrorCode, ServiceError
from crm.merging import dismiss_candidate, list_candidates, merge_contacts
from crm.models import Contact


@pytest.fixture
def people(add) -> dict[str, Contact]:
    return {
        name: add(external_id=name, first_name=name.title(), last_name="Ng")
        for name in ("amy", "amie", "bob", "rob", "zoe")
    }


def statuses(stored) -> dict[frozenset, str]:
    return {frozenset((c.contact_a_id, c.contact_b_id)): c.status for c in stored.candidates()}


def pair(*contacts: Contact) -> frozenset:
    return frozenset(c.id for c in contacts)


class TestQueue:
    def test_pending_highest_score_first_in_keyset_pages(self, session, org, people, candidate):
        # given
        p = people
        low = candidate(p["amy"], p["zoe"], score=0.55)
        high = candidate(p["amy"], p["amie"], score=0.91)
        middle = candidate(p["bob"], p["rob"], score=0.7)
        candidate(p["bob"], p["zoe"], score=0.99, status="dismissed")

        # when
        first = list_candidates(session, organization_id=org.id, first=2)
        rest = list_candidates(session, organization_id=org.id, first=2, after=first.cursors[-1])

        # then
        assert [c.id for c in first.items] == [high.id, middle.id]
        assert (first.total, first.has_next, first.has_previous) == (3, True, False)
        assert [c.id for c in rest.items] == [low.id]
        assert (rest.has_next, rest.has_previous) == (False, True)

    def test_equal_scores_page_without_loss_or_repeat(self, session, org, people, candidate):
        # given
        p = people
        rows = [candidate(p["amy"], p[other], score=0.8) for other in ("amie", "bob", "rob", "zoe")]

        # when
        seen, after = [], None
        while True:
            page = list_candidates(session, organization_id=org.id, first=1, after=after)
            seen += [c.id for c in page.items]
            if not page.has_next:
                break
            after = page.cursors[-1]

        # then
        assert seen == sorted(r.id for r in rows)

    def test_other_statuses_and_other_organizations(
        self, session, org, other_org, add, people, candidate
    ):
        # given
        p = people
        dismissed = candidate(p["amy"], p["zoe"], status="dismissed")
        theirs = [add(organization=other_org, external_id=n, first_name=n) for n in ("x", "y")]
        candidate(*theirs, organization=other_org)

        # when
        page = list_candidates(session, organization_id=org.id, status="dismissed")
        pending = list_candidates(session, organization_id=org.id)

        # then
        assert [c.id for c in page.items] == [dismissed.id]
        assert pending.items == [] and pending.total == 0

    def test_a_pending_pair_with_a_contact_no_longer_active_is_not_listed(
        self, session, org, people, candidate, merge
    ):
        # given: Amy-Zoe is pending, and Amie-Zoe too; Amie is merged into Amy
        p = people
        kept = candidate(p["amy"], p["zoe"])
        candidate(p["amie"], p["zoe"])
        merge(p["amy"], p["amie"])

        # when
        page = list_candidates(session, organization_id=org.id)

        # then: Amie-Zoe points at a tombstone: moot
        assert [c.id for c in page.items] == [kept.id] and page.total == 1

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"after": "garbage"}, "after"),
            ({"first": 501}, "first"),
            ({"first": -1}, "first"),
            ({"status": "maybe"}, "status"),
        ],
    )
    def test_bad_arguments(self, session, org, options, field):
        with pytest.raises(ServiceError) as raised:
            list_candidates(session, organization_id=org.id, **options)
        assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, field)


class TestDismiss:
    def test_dismissed_with_who_and_when_and_twice_is_harmless(
        self, session, org, people, candidate, stored
    ):
        # given
        row = candidate(people["amy"], people["amie"])

        # when
        dismiss_candidate(session, organization=org, candidate_id=row.id, actor="alice")
        session.commit()
        again = dismiss_candidate(session, organization=org, candidate_id=row.id, actor="bob")
        session.commit()

        # then
        (stored_row,) = stored.candidates()
        assert (stored_row.status, stored_row.decided_by) == ("dismissed", "alice")
        assert stored_row.decided_at is not None and again.decided_by == "alice"

    def test_a_merged_candidate_is_closed(self, session, org, people, candidate):
        # given
        row = candidate(people["amy"], people["amie"], status="merged")

        # when / then
        with pytest.raises(ServiceError) as raised:
            dismiss_candidate(session, organization=org, candidate_id=row.id, actor="t")
        assert (raised.value.code, raised.value.field) == (
            ErrorCode.CANDIDATE_CLOSED,
            "candidate_id",
        )

    @pytest.mark.parametrize("foreign", [True, False])
    def test_unknown_or_foreign_is_not_found(
        self, session, org, other_org, add, candidate, foreign
    ):
        # given
        theirs = [add(organization=other_org, external_id=n, first_name=n) for n in ("x", "y")]
        row = candidate(*theirs, organization=other_org)
        candidate_id = row.id if foreign else "not-an-id"

        # when / then
        with pytest.raises(ServiceError) as raised:
            dismiss_candidate(session, organization=org, candidate_id=candidate_id, actor="t")
        assert raised.value.code == ErrorCode.NOT_FOUND


class TestMergingCandidates:
    def test_a_pending_pair_merged_is_closed_and_linked_to_the_merge(
        self, people, candidate, merge, stored
    ):
        # given
        row = candidate(people["amy"], people["amie"], score=0.88)

        # when
        merge(people["amy"], people["amie"])

        # then
        assert statuses(stored) == {pair(people["amy"], people["amie"]): "merged"}
        (merge_row,) = stored.merges()
        assert (merge_row.candidate_id, merge_row.score) == (row.id, 0.88)
        (closed,) = stored.candidates()
        assert closed.decided_by == "test" and closed.decided_at is not None

    def test_merging_a_named_candidate(self, session, org, people, candidate, stored):
        # given
        row = candidate(people["amy"], people["amie"])

        # when
        merge_contacts(
            session,
            organization=org,
            survivor_id=people["amie"].id,
            merge_ids=[people["amy"].id],
            actor="t",
            candidate_id=row.id,
        )
        session.commit()

        # then
        assert stored.candidates()[0].status == "merged"
        assert stored.merges()[0].candidate_id == row.id

    @pytest.mark.parametrize(
        ("status", "contacts", "code"),
        [
            ("merged", ("amy", "amie"), ErrorCode.CANDIDATE_CLOSED),
            ("dismissed", ("amy", "amie"), ErrorCode.CANDIDATE_CLOSED),
            ("pending", ("amy", "zoe"), ErrorCode.MERGE_CONFLICT),
        ],
    )
    def test_a_named_candidate_must_be_pending_and_about_these_contacts(
        self, session, org, people, candidate, stored, status, contacts, code
    ):
        # given
        row = candidate(*(people[n] for n in contacts), status=status)

        # when / then
        with pytest.raises(ServiceError) as raised:
            merge_contacts(
                session,
                organization=org,
                survivor_id=people["amy"].id,
                merge_ids=[people["amie"].id],
                actor="t",
                candidate_id=row.id,
            )
        session.rollback()
        assert (raised.value.code, raised.value.field) == (code, "candidate_id")
        assert stored.contact(people["amie"])["status"] == "active"

    def test_the_merged_contacts_other_candidates_move_to_the_survivor(
        self, people, candidate, merge, stored
    ):
        # given: Amie-Bob pending, Amie-Zoe dismissed, Amie-Rob pending but Amy-Rob exists
        p = people
        moved = candidate(p["amie"], p["bob"])
        dismissed = candidate(p["amie"], p["zoe"], status="dismissed")
        left = candidate(p["amie"], p["rob"])
        candidate(p["amy"], p["rob"], score=0.6)

        # when
        merge(p["amy"], p["amie"])

        # then: the pending one moves; the dismissal stays and is carried to the survivor
        rows = {c.id: c for c in stored.candidates()}
        assert pair_of(rows[moved.id]) == pair(p["amy"], p["bob"])
        assert pair_of(rows[dismissed.id]) == pair(p["amie"], p["zoe"])
        assert rows[dismissed.id].status == "dismissed"
        assert statuses(stored)[pair(p["amy"], p["zoe"])] == "dismissed"
        assert pair_of(rows[left.id]) == pair(p["amie"], p["rob"])

    def test_candidates_between_contacts_merged_together_are_closed(
        self, people, candidate, merge, stored
    ):
        # given
        p = people
        candidate(p["amie"], p["bob"])

        # when
        merge(p["amy"], p["amie"], p["bob"])

        # then
        assert statuses(stored) == {pair(p["amie"], p["bob"]): "merged"}


class TestUnmergingCandidates:
    def test_the_unmerged_pair_is_dismissed_so_no_sweep_merges_it_again(
        self, people, merge, unmerge, stored
    ):
        # given: merged without any candidate (as an automatic merge may be)
        merge(people["amy"], people["amie"], reason="sweep", score=0.97)

        # when
        unmerge(people["amie"])

        # then
        (row,) = stored.candidates()
        assert pair_of(row) == pair(people["amy"], people["amie"])
        assert (row.status, row.score, row.decided_by) == ("dismissed", 0.97, "test")

    def test_the_merged_candidate_becomes_dismissed(
        self, people, candidate, merge, unmerge, stored
    ):
        # given
        row = candidate(people["amy"], people["amie"])
        merge(people["amy"], people["amie"])

        # when
        unmerge(people["amie"])

        # then
        (after,) = stored.candidates()
        assert (after.id, after.status) == (row.id, "dismissed")

    def test_moved_candidates_still_pending_come_back(
        self, people, candidate, merge, unmerge, stored
    ):
        # given
        p = people
        pending = candidate(p["amie"], p["bob"])
        decided = candidate(p["amie"], p["rob"])
        merge(p["amy"], p["amie"])
        dismiss_candidate_as(stored, decided)

        # when
        unmerge(p["amie"])

        # then: the decision about the survivor stays the survivor's
        rows = {c.id: c for c in stored.candidates()}
        assert pair_of(rows[pending.id]) == pair(p["amie"], p["bob"])
        assert pair_of(rows[decided.id]) == pair(p["amy"], p["rob"])


def pair_of(row) -> frozenset:
    return frozenset((row.contact_a_id, row.contact_b_id))


def dismiss_candidate_as(stored, row) -> None:
    dismiss_candidate(stored.session, organization=stored.org, candidate_id=row.id, actor="t")
    stored.session.commit()
