"""Rows naming their contact (``contact_id``): a merged contact's row goes to its survivor and
says so, an erased contact's is rejected, and a row cannot take another contact's record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from crm.merging import merge_contacts
from crm.models import Contact, ContactIdentifier, ImportRowError, SourceRecord
from tests.importing.conftest import csv_text, import_text

HEADER = ["contact_id", "external_id", "first_name", "last_name", "email", "city"]


def contact_by(engine, org, **where) -> Contact:
    with Session(engine) as s:
        stmt = select(Contact).where(Contact.organization_id == org.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Contact, name) == value)
        return s.exec(stmt).scalars().one()


def reload(engine, contact: Contact) -> Contact:
    with Session(engine) as s:
        row = s.get(Contact, contact.id)
        assert row is not None
        return row


def row_errors(engine, job) -> list[tuple[int, str, bool]]:
    with Session(engine) as s:
        rows = s.exec(
            select(ImportRowError)
            .where(ImportRowError.import_job_id == job.id)
            .order_by(ImportRowError.line)
        ).scalars()
        return [(e.line, e.code, e.rejected) for e in rows]


def records_of(engine, contact: Contact) -> list[tuple[str, bool]]:
    with Session(engine) as s:
        rows = s.exec(
            select(SourceRecord)
            .where(SourceRecord.contact_id == contact.id)
            .order_by(SourceRecord.source_id, SourceRecord.version)
        ).scalars()
        return [(r.source_id, r.is_current) for r in rows]


def external_keys(engine, contact: Contact) -> list[str]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(ContactIdentifier.value).where(
                    ContactIdentifier.contact_id == contact.id,
                    ContactIdentifier.namespace == "external",
                )
            ).scalars()
        )


def two_people(engine, org) -> tuple[Contact, Contact]:
    import_text(
        engine,
        org,
        csv_text(
            HEADER,
            [
                ["", "A1", "Ann", "Lee", "ann@example.com", "Bondi"],
                ["", "B1", "Bob", "Tran", "bob@example.com", "Manly"],
            ],
        ),
    )
    return contact_by(engine, org, first_name="Ann"), contact_by(engine, org, first_name="Bob")


class TestRowsNamingAMergedContact:
    def test_the_row_goes_to_the_survivor_with_a_warning(self, engine, org):
        # given: Ann was merged into Bob (say, one person after all)
        ann, bob = two_people(engine, org)
        with Session(engine) as s:
            merge_contacts(s, organization=org, survivor_id=bob.id, merge_ids=[ann.id], actor="t")
            s.commit()

        # when: a row exported before the merge, edited, names Ann
        job = import_text(
            engine,
            org,
            csv_text(HEADER, [[str(ann.id), "", "Ann", "Lee", "ann@example.com", "Hobart"]]),
        )

        # then: the survivor shows the edit, the tombstone stays as it was
        assert (job.created, job.rejected) == (0, 0)
        assert reload(engine, bob).city == "Hobart"
        tombstone = reload(engine, ann)
        assert (tombstone.status, tombstone.city) == ("merged", "Bondi")
        assert row_errors(engine, job) == [(2, "CONTACT_REDIRECTED", False)]


class TestRowsNamingAnErasedContact:
    def test_the_row_is_rejected(self, engine, org):
        # given
        ann, _bob = two_people(engine, org)
        with Session(engine) as s:
            s.execute(update(Contact).where(Contact.id == ann.id).values(status="erased"))
            s.commit()

        # when
        job = import_text(
            engine,
            org,
            csv_text(HEADER, [[str(ann.id), "", "Ann", "Lee", "ann@example.com", "Hobart"]]),
        )

        # then: nothing was written anywhere
        assert (job.created, job.updated, job.linked, job.rejected) == (0, 0, 0, 1)
        assert row_errors(engine, job) == [(2, "NOT_ACTIVE", True)]
        assert reload(engine, ann).city == "Bondi"
        assert [c.first_name for c in _active(engine, org)] == ["Bob"]


def _active(engine, org) -> list[Contact]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Contact)
                .where(Contact.organization_id == org.id, Contact.status == "active")
                .order_by(Contact.first_name)
            ).scalars()
        )


class TestRowsNamingAnotherContactsRecord:
    def test_the_row_is_rejected_as_an_identifier_conflict(self, engine, org):
        # given: record A1 is Ann's
        ann, bob = two_people(engine, org)

        # when: a row names Bob but carries Ann's record id
        job = import_text(
            engine,
            org,
            csv_text(HEADER, [[str(bob.id), "A1", "Bob", "Tran", "bob@example.com", "Perth"]]),
        )

        # then: the row is refused; each contact keeps its record, key and fields
        assert (job.updated, job.linked, job.rejected) == (0, 0, 1)
        assert row_errors(engine, job) == [(2, "IDENTIFIER_CONFLICT", True)]
        assert records_of(engine, ann) == [("A1", True)]
        assert records_of(engine, bob) == [("B1", True)]
        assert external_keys(engine, ann) == ["csv:A1"]
        assert (reload(engine, ann).first_name, reload(engine, bob).city) == ("Ann", "Manly")

    def test_a_row_naming_the_records_own_contact_still_updates_it(self, engine, org):
        # given
        ann, _bob = two_people(engine, org)

        # when
        job = import_text(
            engine,
            org,
            csv_text(HEADER, [[str(ann.id), "A1", "Ann", "Lee", "ann@example.com", "Perth"]]),
        )

        # then
        assert (job.updated, job.rejected) == (1, 0)
        assert reload(engine, ann).city == "Perth"


class TestARowRacingAMerge:
    def test_the_row_lands_on_the_survivor(self, engine, org, monkeypatch):
        # given: a merge of Ann into Bob commits after the import has read Ann as active,
        # just before it writes her row
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite's one writer cannot commit a merge between a read and a write")
        ann, bob = two_people(engine, org)
        done: list[bool] = []
        execute = Session.execute

        def merge_first(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
            if not done and str(statement).lstrip().startswith("UPDATE contacts"):
                done.append(True)
                with Session(engine) as other:
                    merge_contacts(
                        other, organization=org, survivor_id=bob.id, merge_ids=[ann.id], actor="t"
                    )
                    other.commit()
            return execute(self, statement, *args, **kwargs)

        monkeypatch.setattr(Session, "execute", merge_first)

        # when
        job = import_text(
            engine,
            org,
            csv_text(HEADER, [[str(ann.id), "", "Ann", "Lee", "ann@example.com", "Hobart"]]),
        )
        monkeypatch.undo()

        # then: the edit is on the contact that is shown, not on the tombstone
        assert done == [True]
        assert (job.created, job.rejected) == (0, 0)
        assert reload(engine, bob).city == "Hobart"
        assert reload(engine, ann).city == "Bondi"
