"""Survivorship keeps the better value, not just the newest one.

Within one priority: more observations agreeing beat a newer one; a nickname or a likely typo
does not replace the value it is a variant of; notes accumulate. The same on every path: a
file, resolveContact, a merge, the dedup sweep.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.commands import resolve_contact
from crm.importing.export import export_contacts
from crm.matching.sweep import run_sweep
from crm.merging import merge_contacts
from crm.models import Contact
from tests.importing.conftest import csv_text, import_text

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def contacts_of(engine, org) -> list[Contact]:
    with Session(engine, expire_on_commit=False) as session:
        stmt = select(Contact).where(Contact.organization_id == org.id, Contact.status == "active")
        return list(session.execute(stmt.order_by(Contact.created_at, Contact.id)).scalars())


class TestWithinOneFile:
    def test_a_typo_on_a_later_row_does_not_replace_the_name(self, engine, org):
        # given: two rows of one patient (same Cliniko id), the second with a typo
        text = csv_text(
            ["first_name", "last_name", "email", "cliniko_id"],
            [
                ["Jonathan", "Smith", "jonathan@example.com", "1001"],
                ["Jonh", "Smith", "jonathan@example.com", "1001"],
            ],
        )

        # when
        import_text(engine, org, text)

        # then
        [contact] = contacts_of(engine, org)
        assert contact.first_name == "Jonathan"

    def test_more_rows_agreeing_beat_the_newest_row(self, engine, org):
        # given
        text = csv_text(
            ["first_name", "last_name", "cliniko_id", "city"],
            [
                ["Kate", "Lee", "7", "Bondi"],
                ["Kate", "Lee", "7", "Bondi Beach"],
                ["Kate", "Lee", "7", "bondi"],
                ["Kate", "Lee", "7", "Manly"],
            ],
        )

        # when
        import_text(engine, org, text)

        # then
        [contact] = contacts_of(engine, org)
        assert contact.city == "bondi"

    def test_every_rows_note_is_kept_newest_first(self, engine, org):
        # given
        text = csv_text(
            ["first_name", "last_name", "email", "notes"],
            [
                ["Kate", "Lee", "kate@example.com", "Left knee ACL rehab"],
                ["Kate", "Lee", "kate@example.com", "Prefers morning appointments"],
            ],
        )

        # when
        import_text(engine, org, text)

        # then
        [contact] = contacts_of(engine, org)
        assert contact.attributes["notes"] == "Prefers morning appointments\nLeft knee ACL rehab"
        assert contact.attributes["notes_by_source"] == {
            "csv": ["Prefers morning appointments", "Left knee ACL rehab"]
        }
        out = io.StringIO()
        with Session(engine) as session:
            export_contacts(session, organization_id=org.id, out=out)
        [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert "Left knee ACL rehab" in row["notes"]


class TestResolveContact:
    def test_a_formal_name_does_not_rename_a_contact_known_by_its_nickname(
        self, session, org, rows
    ):
        # given
        tom, _ = resolve_contact(
            session,
            organization=org,
            channel="PHONE",
            value="0412 345 678",
            data={"first_name": "Tom", "last_name": "Baker"},
        )
        session.commit()

        # when
        again, created = resolve_contact(
            session,
            organization=org,
            channel="PHONE",
            value="0412 345 678",
            data={"first_name": "Thomas", "last_name": "Baker"},
        )
        session.commit()

        # then: the same contact, still Tom; the other name is a recorded conflict
        assert (again.id, created) == (tom.id, False)
        assert rows.contact(tom.id).first_name == "Tom"
        [conflict] = rows.events("conflict", contact_id=tom.id)
        assert (conflict.field, conflict.old_value, conflict.new_value) == (
            "first_name",
            "Thomas",
            "Tom",
        )

    def test_a_new_value_that_is_no_variant_still_replaces_the_old_one(self, session, org, rows):
        # given
        resolve_contact(
            session, organization=org, channel="PHONE", value="0412 345 678",
            data={"first_name": "Mai", "last_name": "Nguyen"},
        )  # fmt: skip
        session.commit()

        # when: she married
        contact, _ = resolve_contact(
            session, organization=org, channel="PHONE", value="0412 345 678",
            data={"first_name": "Mai", "last_name": "Tran"},
        )  # fmt: skip
        session.commit()

        # then
        assert rows.contact(contact.id).last_name == "Tran"


class TestMerges:
    @pytest.mark.parametrize(
        ("kept", "variant"),
        [("Isabella", "Isabela"), ("William", "Will")],
        ids=["typo", "nickname"],
    )
    def test_a_merge_keeps_the_name_against_a_newer_variant(
        self, session, org, observe, run, rows, kept, variant
    ):
        # given: two contacts of one person, the variant seen later
        [survivor] = run(
            observe(
                observed_at=at(0), first_name=kept, last_name="Rossi", email="rossi@example.com"
            )
        )
        [other] = run(
            observe(observed_at=at(1), first_name=variant, last_name="Rossi", phone="0412 345 678")
        )

        # when
        merge_contacts(
            session,
            organization=org,
            survivor_id=survivor.contact_id,
            merge_ids=[other.contact_id],
            actor="test",
        )
        session.commit()

        # then
        contact = rows.contact(survivor.contact_id)
        assert contact.first_name == kept
        assert contact.phone == "+61412345678"

    @pytest.mark.parametrize(
        ("kept", "variant"),
        [("Isabella", "Isabela"), ("William", "Will")],
        ids=["typo", "nickname"],
    )
    def test_the_survivors_name_holds_against_an_older_variant(
        self, session, org, observe, run, rows, kept, variant
    ):
        # given: the variant seen first, on the contact merged away; the survivor's name later
        [other] = run(
            observe(observed_at=at(0), first_name=variant, last_name="Rossi", phone="0412 345 678")
        )
        [survivor] = run(
            observe(
                observed_at=at(1), first_name=kept, last_name="Rossi", email="rossi@example.com"
            )
        )

        # when
        merge_contacts(
            session,
            organization=org,
            survivor_id=survivor.contact_id,
            merge_ids=[other.contact_id],
            actor="test",
        )
        session.commit()

        # then: the name the person chose to keep stays; the other contact's phone joins it
        contact = rows.contact(survivor.contact_id)
        assert contact.first_name == kept
        assert contact.phone == "+61412345678"

    def test_the_sweep_does_not_turn_william_into_will(self, engine, session, org, observe, run):
        # given: the same person twice; "Will" arrives later
        person = {
            "last_name": "Papadopoulos",
            "date_of_birth": "1984-03-07",
            "address_line1": "12 Wattle Street",
            "city": "Bondi",
            "postal_code": "2026",
        }
        [william] = run(
            observe(
                source="cliniko", external_id="1", first_name="William", observed_at=at(0), **person
            )
        )
        [will] = run(
            observe(
                source="halaxy", external_id="2", first_name="Will", observed_at=at(1), **person
            )
        )

        # when
        summary = run_sweep(engine, organization_id=org.id)

        # then
        assert summary.auto_merged == 1
        survivors = [c for c in contacts_of(engine, org)]
        assert [c.id for c in survivors] == [william.contact_id]
        assert survivors[0].first_name == "William"
        assert will.contact_id != william.contact_id
