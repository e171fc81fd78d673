"""The pipeline's three steps: load a snapshot, plan on it alone, store the plan set-based."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from crm.ingest import CREATED, UPDATED
from crm.ingest.pipeline import ConcurrentUpdate, ingest
from crm.ingest.plan import plan
from crm.ingest.snapshot import load
from crm.ingest.store import store
from crm.models import Contact


@pytest.fixture
def contact_updates(engine):
    """The ``UPDATE contacts`` statements sent while the test runs (one per execute call,
    however many rows it updates)."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE CONTACTS"):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield sent
    event.remove(engine, "before_cursor_execute", count)


def people(observe, count: int, **extra: Any) -> list:
    return [
        observe(
            source="cliniko",
            external_id=str(i),
            first_name=f"Given{i}",
            last_name="Lee",
            **extra,
        )
        for i in range(count)
    ]


class TestStore:
    def test_a_batch_updates_all_its_contacts_in_one_statement(
        self, observe, run, rows, contact_updates
    ):
        # given: 20 contacts
        run(*people(observe, 20))
        contact_updates.clear()

        # when: a batch changes every one of them
        outcomes = run(*people(observe, 20, city="Perth"))

        # then: one UPDATE for the 20 of them, each contact's fields and version moved on
        assert {o.outcome for o in outcomes} == {UPDATED}
        assert len(contact_updates) == 1
        stored = rows.contacts()
        assert len(stored) == 20
        assert {(c.city, c.version) for c in stored} == {("Perth", 2)}

    def test_one_contact_changed_meanwhile_refuses_the_whole_batch(
        self, engine, session, org, observe, run
    ):
        # given: two contacts, a batch planned on them
        run(*people(observe, 2))
        batch = people(observe, 2, city="Perth")
        planned = plan(
            load(session, organization_id=org.id, observations=batch), batch, organization=org
        )
        session.rollback()
        # another writer moves one of them on
        with Session(engine) as other:
            contact = other.get(Contact, planned.outcomes[0].contact_id)
            assert contact is not None
            contact.version += 1
            other.add(contact)
            other.commit()

        # when / then: nothing of the batch is stored
        with pytest.raises(ConcurrentUpdate):
            store(session, planned.writes)
        session.rollback()
        assert {c.city for c in session.exec(select(Contact)).all()} == {None}


class TestPlan:
    def test_a_plan_reads_nothing_and_leaves_its_snapshot_as_it_was(self, session, org, observe):
        # given: one snapshot, read once
        batch = [
            observe(source="cliniko", external_id="1", first_name="Ann", email="ann@example.com"),
            observe(first_name="Ann", email="ann@example.com", phone="0412 345 678"),
        ]
        snapshot = load(session, organization_id=org.id, observations=batch)
        session.close()  # planning needs no database

        # when: planned twice on it
        first = plan(snapshot, batch, organization=org)
        second = plan(snapshot, batch, organization=org)

        # then: the same decisions both times
        assert [(o.outcome, o.index) for o in first.outcomes] == [(CREATED, 0), ("linked", 1)]
        assert [o.outcome for o in second.outcomes] == [o.outcome for o in first.outcomes]
        assert snapshot.holders == {} and snapshot.current == {}

    def test_a_stored_plan_is_what_ingest_stores(self, session, org, observe, rows):
        # given
        batch = [
            observe(source="cliniko", external_id="1", first_name="Ann", email="ann@example.com"),
            observe(first_name="Ann", last_name="Lee", email="ann@example.com"),
        ]

        # when: load -> plan -> store by hand
        planned = plan(
            load(session, organization_id=org.id, observations=batch), batch, organization=org
        )
        store(session, planned.writes)
        session.commit()

        # then: one contact with both records, and the re-ingest changes nothing
        [contact] = rows.contacts()
        assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
        assert len(rows.records()) == 2
        again = ingest(session, organization=org, observations=batch)
        session.commit()
        assert {o.outcome for o in again} == {"unchanged"}
