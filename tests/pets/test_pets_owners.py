"""Pets follow their owner: merges move them, unmerge restores them, search finds the owner by
a pet's name, and the export writes them so that re-importing it changes nothing."""

from __future__ import annotations

import io

from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.queries import ContactFilter, list_contacts
from crm.importing.export import export_contacts
from crm.merging import merge_contacts, unmerge_contact
from crm.models import Contact, Merge, Pet, PetVersion
from crm.pets.service import update_pet
from tests.importing.conftest import csv_text, import_text

HEADER = ["external_id", "first_name", "last_name", "email", "pet_name", "species", "microchip"]
FILE = csv_text(
    HEADER,
    [
        ["C1", "Ann", "Lee", "ann@example.com", "Rex", "Dog", "956000012345678"],
        ["C1", "Ann", "Lee", "ann@example.com", "Tom", "Cat", ""],
        ["C2", "Annie", "Lee", "annie@example.com", "Biscuit", "Rabbit", ""],
        ["C3", "Bob", "Ray", "bob@example.com", "", "", ""],
    ],
)


def contact_ids(session: Session) -> dict[str, Contact]:
    return {c.email: c for c in session.execute(select(Contact)).scalars()}


def owners(session: Session) -> dict[str, object]:
    """pet name -> owner contact id"""
    session.expire_all()
    return {p.name: p.contact_id for p in session.execute(select(Pet)).scalars()}


class TestMerges:
    def test_a_merge_moves_the_pets_and_unmerge_restores_them(self, engine, session, org):
        # given
        import_text(engine, org, FILE)
        found = contact_ids(session)
        ann, annie = found["ann@example.com"], found["annie@example.com"]
        # when
        merge_contacts(
            session, organization=org, survivor_id=ann.id, merge_ids=[annie.id], actor="t"
        )
        session.commit()
        # then
        assert owners(session) == {"Rex": ann.id, "Tom": ann.id, "Biscuit": ann.id}
        [merge] = session.execute(select(Merge)).scalars()
        biscuit = session.execute(select(Pet).where(Pet.name == "Biscuit")).scalar_one()
        assert merge.undo["pets"] == [str(biscuit.id)]
        # when
        unmerge_contact(session, organization=org, contact_id=annie.id, actor="t")
        session.commit()
        # then
        assert owners(session) == {"Rex": ann.id, "Tom": ann.id, "Biscuit": annie.id}

    def test_a_row_for_a_merged_owner_goes_to_the_survivor(self, engine, session, org):
        # given
        import_text(engine, org, FILE)
        found = contact_ids(session)
        ann, annie = found["ann@example.com"], found["annie@example.com"]
        merge_contacts(
            session, organization=org, survivor_id=ann.id, merge_ids=[annie.id], actor="t"
        )
        session.commit()
        # when: the source sends Annie's row again, with a new pet
        import_text(
            engine,
            org,
            csv_text(HEADER, [["C2", "Annie", "Lee", "annie@example.com", "Hops", "Rabbit", ""]]),
        )
        # then
        assert owners(session)["Hops"] == ann.id


class TestSearch:
    def test_an_owner_is_found_by_a_pet_name(self, engine, session, org):
        # given
        import_text(engine, org, FILE)
        annie = contact_ids(session)["annie@example.com"]
        # when
        page = list_contacts(
            session, organization_id=org.id, filter=ContactFilter(search="biscuit")
        )
        # then
        assert [c.id for c in page.items] == [annie.id]

    def test_owners_by_name_come_before_owners_by_pet(self, engine, session, org):
        # given
        import_text(engine, org, FILE)
        import_text(
            engine,
            org,
            csv_text(HEADER, [["C3", "Bob", "Ray", "bob@example.com", "Ann", "Dog", ""]]),
        )
        # when
        page = list_contacts(session, organization_id=org.id, filter=ContactFilter(search="ann"))
        # then
        emails = [c.email for c in page.items]
        assert emails[-1] == "bob@example.com"
        assert "ann@example.com" in emails[:-1]


class TestExport:
    def test_export_writes_a_row_per_pet_and_reimporting_it_is_a_no_op(self, engine, session, org):
        # given
        import_text(engine, org, FILE)
        out = io.StringIO()
        # when
        written = export_contacts(session, organization_id=org.id, out=out)
        session.rollback()
        # then
        text = out.getvalue()
        lines = text.strip().splitlines()
        assert written == 3
        assert len(lines) == 1 + 4  # Ann twice (two pets), Annie, Bob without one
        header = lines[0].split(",")
        assert {"pet_name", "species", "microchip", "crm_pet_id"} <= set(header)
        before = session.execute(select(Pet.id, Pet.version, Pet.updated_at)).all()
        versions = session.execute(select(PetVersion.id)).all()
        session.rollback()
        # when
        job = import_text(engine, org, text)
        # then
        assert (job.status, job.created, job.updated, job.rejected) == ("succeeded", 0, 0, 0)
        session.expire_all()
        assert sorted(session.execute(select(Pet.id, Pet.version, Pet.updated_at)).all()) == sorted(
            before
        )
        assert len(session.execute(select(PetVersion.id)).all()) == len(versions)

    def test_an_organization_without_pets_exports_its_columns_as_before(self, engine, session, org):
        # given
        import_text(engine, org, csv_text(["first_name", "email"], [["Ann", "ann@example.com"]]))
        out = io.StringIO()
        # when
        export_contacts(session, organization_id=org.id, out=out)
        # then
        assert "pet_name" not in out.getvalue().splitlines()[0]

    def test_unmerge_leaves_a_pet_moved_since_where_a_person_put_it(self, engine, session, org):
        # given
        import_text(engine, org, FILE)
        found = contact_ids(session)
        ann, annie, bob = (
            found[e] for e in ("ann@example.com", "annie@example.com", "bob@example.com")
        )
        merge_contacts(
            session, organization=org, survivor_id=ann.id, merge_ids=[annie.id], actor="t"
        )
        biscuit = session.execute(select(Pet).where(Pet.name == "Biscuit")).scalar_one()
        update_pet(
            session,
            organization=org,
            pet_id=biscuit.id,
            version=None,
            data={},
            owner_id=bob.id,
            actor="t",
        )
        session.commit()
        # when
        unmerge_contact(session, organization=org, contact_id=annie.id, actor="t")
        session.commit()
        # then
        assert owners(session) == {"Rex": ann.id, "Tom": ann.id, "Biscuit": bob.id}
