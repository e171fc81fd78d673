"""The sweep and dismissals through merges: a pair dismissed through a merge chain is never
proposed nor merged."""

from __future__ import annotations

from crm.matching.sweep import run_sweep
from crm.merging import dismiss_candidate, merge_contacts
from crm.models import Contact, DuplicateCandidate

WILLIAM = {
    "first_name": "William",
    "last_name": "Papadopoulos",
    "date_of_birth": "1984-03-07",
    "address_line1": "12 Wattle Street",
    "city": "Bondi",
    "postal_code": "2026",
}
# merged into the sure pair from a lower source: the pair's fields stay theirs
OLIVIA = {"first_name": "Olivia", "last_name": "Chen", "date_of_birth": "1990-01-01"}
HAMISH = {"first_name": "Hamish", "last_name": "Fraser", "date_of_birth": "1975-06-12"}


def queue_row(session, org, a: Contact, b: Contact, *, status: str = "pending"):
    first, second = sorted([a.id, b.id])
    row = DuplicateCandidate(
        organization_id=org.id,
        contact_a_id=first,
        contact_b_id=second,
        score=0.7,
        status=status,
        reasons=[],
    )
    session.add(row)
    session.commit()
    return row


def merge(session, org, survivor: Contact, merged: Contact) -> None:
    merge_contacts(
        session, organization=org, survivor_id=survivor.id, merge_ids=[merged.id], actor="t"
    )
    session.commit()


def state(session, *contacts: Contact) -> list[tuple[str, object]]:
    session.expire_all()
    rows = [session.get(Contact, c.id) for c in contacts]
    result = [(r.status, r.merged_into_id) for r in rows]
    session.commit()
    return result


def pair_status(candidates, a: Contact, b: Contact) -> str | None:
    wanted = {a.id, b.id}
    found = [c.status for c in candidates() if {c.contact_a_id, c.contact_b_id} == wanted]
    return found[0] if found else None


class TestDismissedThroughMerges:
    def test_a_dismissed_a_x_merged_into_b_and_y_is_never_merged_nor_proposed(
        self, engine, session, org, person, candidates
    ):
        # given: B and Y are a sure pair for the sweep; A and X were dismissed by a person;
        # B~X was already queued
        b = person(**WILLIAM)
        y = person(**WILLIAM | {"first_name": "Bill"})
        a = person(source="instagram", **OLIVIA)
        x = person(source="instagram", **HAMISH)
        dismissed = queue_row(session, org, a, x)
        dismiss_candidate(session, organization=org, candidate_id=dismissed.id, actor="alice")
        session.commit()
        queue_row(session, org, b, x)

        # when: A merged into B, X into Y, then the sweep
        merge(session, org, b, a)
        merge(session, org, y, x)
        summary = run_sweep(engine, organization_id=org.id)

        # then
        assert summary.auto_merged == 0
        assert state(session, b, y) == [("active", None), ("active", None)]
        assert pair_status(candidates, b, y) == "dismissed"

    def test_a_dismissal_left_on_a_merged_contact_still_holds_for_its_survivor(
        self, engine, session, org, person, candidates
    ):
        # given: A merged into B while A~Y was pending beside B~Y (so A~Y stays on A); then
        # a person dismisses A~Y
        b = person(**WILLIAM)
        y = person(**WILLIAM | {"first_name": "Bill"})
        a = person(source="instagram", **OLIVIA)
        left = queue_row(session, org, a, y)
        queue_row(session, org, b, y)
        merge(session, org, b, a)
        dismiss_candidate(session, organization=org, candidate_id=left.id, actor="alice")
        session.commit()

        # when
        summary = run_sweep(engine, organization_id=org.id)

        # then
        assert summary.auto_merged == 0
        assert state(session, y) == [("active", None)]
