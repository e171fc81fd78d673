"""unlinkIdentifier as a recorded observation: the fields are recomputed, the value no longer
finds the contact, and only new data from a source brings it back; races are settled."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.commands import resolve_contact, unlink_identifier
from crm.contacts.queries import contacts_by_identifier
from crm.errors import ServiceError
from crm.ingest import UNCHANGED, build_observation, ingest
from crm.merging import merge_contacts
from crm.models import Contact, ContactEvent, ContactIdentifier
from tests.importing.conftest import csv_text, import_text

PHONE = "+61412345678"


def observe(session, org, **fields) -> Any:
    """One CSV row through the pipeline, committed; its outcome."""
    external_id = fields.pop("external_id", None)
    obs = build_observation(fields, source="csv", region="AU", external_id=external_id)
    outcome = ingest(session, organization=org, observations=[obs])[0]
    session.commit()
    return outcome


def unlink(session, org, contact_id, value=PHONE, channel="PHONE") -> Contact:
    contact = unlink_identifier(
        session, organization=org, contact_id=contact_id, channel=channel, value=value, actor="t"
    )
    session.commit()
    return contact


def contact(engine, contact_id) -> Contact:
    with Session(engine) as s:
        row = s.get(Contact, contact_id)
        assert row is not None
        return row


def holders(engine, org, value=PHONE) -> list[Any]:
    with Session(engine) as s:
        return [
            c.id
            for c in contacts_by_identifier(
                s, organization_id=org.id, channel="PHONE", value=value, region="AU"
            )
        ]


def events(engine, contact_id, kind) -> list[ContactEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(ContactEvent)
                .where(ContactEvent.contact_id == contact_id, ContactEvent.kind == kind)
                .order_by(ContactEvent.id)
            ).scalars()
        )


def ann_row(**changes) -> dict[str, Any]:
    return {
        "external_id": "A1",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "phone": "0412 345 678",
        **changes,
    }


class TestAfterAnUnlink:
    def test_the_contact_no_longer_shows_the_value(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id

        # when
        result = unlink(session, org, ann)

        # then: the phone came from the record only: it is gone, and the change is recorded
        assert result.phone is None
        assert (contact(engine, ann).phone, contact(engine, ann).email) == (None, "ann@example.com")
        [changed] = events(engine, ann, "field_changed")[-1:]
        assert (changed.field, changed.old_value, changed.new_value) == ("phone", PHONE, None)
        assert len(events(engine, ann, "identifier_unlinked")) == 1

    def test_the_value_no_longer_finds_the_contact(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id

        # when
        unlink(session, org, ann)
        found, created = resolve_contact(
            session, organization=org, channel="PHONE", value=PHONE, actor="t"
        )
        session.commit()

        # then
        assert (found.id != ann, created) == (True, True)
        assert holders(engine, org) == [found.id]

    def test_resolving_with_the_same_payload_does_not_find_it_again(self, engine, session, org):
        # given: Ann is known by her WhatsApp number and the email she gave
        first, _ = resolve_contact(
            session, organization=org, channel="WHATSAPP", value=PHONE, data={"first_name": "Ann"}
        )
        session.commit()
        ann = first.id
        observe(session, org, first_name="Ann", email="ann@example.com", phone="0412 345 678")

        # when: the number is unlinked, then the same lookup comes again
        unlink(session, org, ann, channel="WHATSAPP")
        again, created = resolve_contact(
            session, organization=org, channel="WHATSAPP", value=PHONE, data={"first_name": "Ann"}
        )
        session.commit()

        # then: another contact holds the number now; Ann keeps her email, not the number
        assert (again.id != ann, created) == (True, True)
        assert holders(engine, org) == [again.id]
        assert (contact(engine, ann).phone, contact(engine, ann).email) == (None, "ann@example.com")

    def test_resolving_a_handle_with_the_same_payload_does_not_find_it_again(
        self, engine, session, org
    ):
        # given
        first, _ = resolve_contact(
            session, organization=org, channel="INSTAGRAM", value="@ann", data={"first_name": "Ann"}
        )
        session.commit()

        # when
        unlink(session, org, first.id, value="@ann", channel="INSTAGRAM")
        again, created = resolve_contact(
            session, organization=org, channel="INSTAGRAM", value="@ann", data={"first_name": "Ann"}
        )
        session.commit()

        # then
        assert (again.id != first.id, created) == (True, True)

    def test_an_imported_row_with_the_value_finds_someone_else(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)
        session.rollback()

        # when: a file row with the number and Ann's first name, nothing else of hers
        job = import_text(
            engine, org, csv_text(["first_name", "mobile"], [["Ann", "0412 345 678"]])
        )

        # then
        assert (job.created, job.linked) == (1, 0)
        [holder] = holders(engine, org)
        assert holder != ann
        assert contact(engine, ann).phone is None

    def test_re_sending_the_identical_record_does_not_link_it_again(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)

        # when
        outcome = observe(session, org, **ann_row())

        # then
        assert (outcome.outcome, outcome.contact_id) == (UNCHANGED, ann)
        assert holders(engine, org) == []
        assert contact(engine, ann).phone is None

    def test_a_merge_does_not_bring_the_value_back(self, engine, session, org):
        # given: the number was unlinked from Ann, who is then merged into Annie
        ann = observe(session, org, **ann_row()).contact_id
        annie = observe(session, org, external_id="B1", first_name="Annie", last_name="Lee")
        unlink(session, org, ann)

        # when
        merge_contacts(
            session, organization=org, survivor_id=annie.contact_id, merge_ids=[ann], actor="t"
        )
        session.commit()

        # then
        survivor = contact(engine, annie.contact_id)
        assert (survivor.phone, survivor.email) == (None, "ann@example.com")
        assert holders(engine, org) == []

    def test_a_merged_contact_s_unlink_goes_to_its_survivor(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        annie = observe(session, org, external_id="B1", first_name="Annie", last_name="Lee")
        merge_contacts(
            session, organization=org, survivor_id=annie.contact_id, merge_ids=[ann], actor="t"
        )
        session.commit()

        # when
        result = unlink(session, org, ann)

        # then
        assert result.id == annie.contact_id
        assert (result.phone, holders(engine, org)) == (None, [])


def at_once(engine, session: Session, *work: Callable[[Session], Any]) -> list[Any]:
    """Run each function in its own thread and session, released together; commit each."""
    session.rollback()
    barrier = threading.Barrier(len(work))

    def run(fn: Callable[[Session], Any]) -> Any:
        with Session(engine, expire_on_commit=False) as own:
            barrier.wait(timeout=30)
            try:
                result = fn(own)
                own.commit()
                return result
            except ServiceError as exc:
                own.rollback()
                return exc.code.value

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        return list(pool.map(run, work, timeout=60))


class TestConcurrentUnlinks:
    def test_two_unlinks_of_one_value_unlink_it_once(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id

        def unlink_phone(s: Session) -> str:
            unlink_identifier(
                s, organization=org, contact_id=ann, channel="PHONE", value=PHONE, actor="t"
            )
            return "ok"

        # when
        results = at_once(engine, session, unlink_phone, unlink_phone)

        # then: one unlinked it, the other found it gone
        assert sorted(results) == ["NOT_FOUND", "ok"]
        assert len(events(engine, ann, "identifier_unlinked")) == 1
        assert contact(engine, ann).phone is None

    def test_unlinks_of_a_shared_value_by_each_holder_leave_nobody(self, engine, session, org):
        # given: a household phone, Mum first, Kid second
        mum = observe(session, org, external_id="M", first_name="Margaret", phone="0412345678")
        kid = observe(session, org, external_id="K", first_name="Oliver", phone="0412345678")

        def unlink_from(contact_id: Any) -> Callable[[Session], str]:
            def work(s: Session) -> str:
                unlink_identifier(
                    s,
                    organization=org,
                    contact_id=contact_id,
                    channel="PHONE",
                    value=PHONE,
                    actor="t",
                )
                return "ok"

            return work

        # when
        results = at_once(engine, session, unlink_from(mum.contact_id), unlink_from(kid.contact_id))

        # then
        assert results == ["ok", "ok"]
        assert holders(engine, org) == []

    def test_an_unlink_racing_a_merge_is_not_undone_by_it(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        annie = observe(session, org, external_id="B1", first_name="Annie", last_name="Lee")

        def unlink_phone(s: Session) -> str:
            unlink_identifier(
                s, organization=org, contact_id=ann, channel="PHONE", value=PHONE, actor="t"
            )
            return "ok"

        def merge(s: Session) -> str:
            merge_contacts(
                s, organization=org, survivor_id=annie.contact_id, merge_ids=[ann], actor="t"
            )
            return "ok"

        # when
        results = at_once(engine, session, unlink_phone, merge)

        # then: whichever went first, the survivor neither holds nor shows the number
        assert results == ["ok", "ok"]
        assert holders(engine, org) == []
        survivor = contact(engine, annie.contact_id)
        assert (survivor.phone, survivor.email) == (None, "ann@example.com")
        with Session(engine) as s:
            held = s.exec(select(ContactIdentifier.value)).scalars().all()
        assert PHONE not in held
