"""After an unlink, only new data brings the value back: a new version of the record that still
carries the value keeps it unlinked, however else it changed; an unmerge keeps a later unlink."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from crm.contacts.commands import resolve_contact
from crm.contacts.queries import contacts_by_identifier
from crm.ingest import UPDATED, build_observation, ingest
from crm.ingest.pipeline import plan_batch
from crm.merging import merge_contacts
from crm.merging.service import unmerge_contact
from tests.contacts.test_contacts_unlink import (
    PHONE,
    ann_row,
    contact,
    events,
    holders,
    observe,
    unlink,
)
from tests.importing.conftest import csv_text, import_text

OTHER_PHONE = "+61400000000"


def merge(session, org, survivor, merged) -> None:
    merge_contacts(session, organization=org, survivor_id=survivor, merge_ids=[merged], actor="t")
    session.commit()


def unmerge(session, org, merged) -> None:
    unmerge_contact(session, organization=org, contact_id=merged, actor="t")
    session.commit()


def resolve(session, org, **data) -> Any:
    found, _ = resolve_contact(
        session, organization=org, channel="WHATSAPP", value=PHONE, data=data, actor="t"
    )
    session.commit()
    return found.id


class TestANewVersionOfTheRecord:
    def test_a_change_elsewhere_keeps_the_value_unlinked(self, engine, session, org):
        # given: the PMS record of Ann, whose number was unlinked from her
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)

        # when: the record changes its city only, twice
        first = observe(session, org, **ann_row(city="Bondi"))
        second = observe(session, org, **ann_row(city="Manly"))

        # then: both are taken (the city moves), the number stays unlinked
        assert (first.outcome, second.outcome) == (UPDATED, UPDATED)
        assert holders(engine, org) == []
        shown = contact(engine, ann)
        assert (shown.city, shown.phone, shown.email) == ("Manly", None, "ann@example.com")
        assert events(engine, ann, "identifier_linked") == []

    @pytest.mark.parametrize(
        ("column", "channel", "value"),
        [("whatsapp", "WHATSAPP", "0400 111 222"), ("instagram", "INSTAGRAM", "@ann.lee")],
        ids=["second-number", "handle"],
    )
    def test_a_value_from_another_column_keeps_unlinked_too(
        self, engine, session, org, column, channel, value
    ):
        # given: the record carries the value in a column that is not the contact's phone
        ann = observe(session, org, **ann_row(**{column: value})).contact_id
        unlink(session, org, ann, value=value, channel=channel)

        # when
        observe(session, org, **ann_row(**{column: value}, city="Bondi"))

        # then
        with Session(engine) as s:
            found = contacts_by_identifier(
                s, organization_id=org.id, channel=channel, value=value, region="AU"
            )
            assert [c.id for c in found] == []
        assert contact(engine, ann).city == "Bondi"
        assert holders(engine, org) == [ann]  # her phone is untouched

    def test_two_changes_in_one_batch_keep_the_value_unlinked(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)
        rows = [ann_row(city="Bondi"), ann_row(city="Manly")]

        # when
        observations = [
            build_observation(dict(row), source="csv", region="AU", external_id="A1")
            for row in rows
        ]
        ingest(session, organization=org, observations=observations)
        session.commit()

        # then
        assert holders(engine, org) == []
        assert (contact(engine, ann).city, contact(engine, ann).phone) == ("Manly", None)

    def test_a_batch_planned_on_one_not_stored_yet_keeps_it_unlinked(self, engine, session, org):
        # given: the import's overlap (PostgreSQL): a batch planned as if the one before,
        # which carries the unlink forward, were stored
        if engine.dialect.name != "postgresql":
            pytest.skip("planning ahead of the writes is PostgreSQL's (COPY)")
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)

        def batch(city: str) -> list[Any]:
            row = ann_row(city=city)
            return [build_observation(row, source="csv", region="AU", external_id="A1")]

        # when
        _, first = plan_batch(session, organization=org, observations=batch("Bondi"))
        _, second = plan_batch(
            session, organization=org, observations=batch("Manly"), previous=first
        )
        first.send()
        second.send()
        session.commit()

        # then
        assert holders(engine, org) == []
        assert (contact(engine, ann).city, contact(engine, ann).phone) == ("Manly", None)

    @pytest.mark.parametrize("between", [None, "0400 000 000"], ids=["absent", "different"])
    def test_the_value_comes_back_when_the_source_changed_it(self, engine, session, org, between):
        # given: the number unlinked, then a version without it (or with another number)
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)
        observe(session, org, **ann_row(phone=between))

        # when: the source sends the number again
        observe(session, org, **ann_row())

        # then: that is new data
        assert holders(engine, org) == [ann]
        assert contact(engine, ann).phone == PHONE

    def test_another_record_carrying_the_value_brings_it_back(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        unlink(session, org, ann)

        # when: another record of the source, Ann's by her email, with the number
        observe(session, org, **ann_row(external_id="A2", city="Bondi"))

        # then
        assert holders(engine, org) == [ann]
        assert contact(engine, ann).phone == PHONE


class TestReImportsAndLookups:
    def test_a_re_imported_row_with_another_column_changed_keeps_it_unlinked(
        self, engine, session, org
    ):
        # given: a file row with an id of its own, imported, then its number unlinked
        header = ["external_id", "first_name", "email", "mobile", "city"]
        row = ["A1", "Ann", "ann@example.com", "0412 345 678", "Sydney"]
        import_text(engine, org, csv_text(header, [row]))
        [ann] = holders(engine, org)
        unlink(session, org, ann)
        session.rollback()

        # when: the file comes again with the city changed (twice, as two rows)
        changed = [[*row[:4], "Bondi"], [*row[:4], "Manly"]]
        job = import_text(engine, org, csv_text(header, changed))

        # then
        assert job.updated == 2
        assert holders(engine, org) == []
        assert (contact(engine, ann).city, contact(engine, ann).phone) == ("Manly", None)

    def test_a_lookup_with_a_record_id_and_a_changed_name_keeps_it_unlinked(
        self, engine, session, org
    ):
        # given: a lookup whose record has an id of its source's own
        ann = resolve(session, org, external_id="W1", first_name="Ann", email="ann@example.com")
        unlink(session, org, ann, channel="WHATSAPP")

        # when: the same record comes with another first name
        again = resolve(session, org, external_id="W1", first_name="Annie", email="ann@example.com")

        # then: the record is Ann's (her fields change), the number is still not hers
        assert again == ann
        assert (contact(engine, ann).first_name, contact(engine, ann).phone) == ("Annie", None)
        assert holders(engine, org) == []

    def test_a_lookup_with_a_changed_name_does_not_find_the_contact(self, engine, session, org):
        # given: a lookup record identified by its content
        ann = resolve(session, org, first_name="Ann")
        unlink(session, org, ann, channel="WHATSAPP")

        # when
        again = resolve(session, org, first_name="Annie")

        # then: nothing ties it to Ann any more: another contact holds the number
        assert again != ann
        assert holders(engine, org) == [again]


class TestMergesKeepIt:
    def test_a_change_on_the_survivor_then_an_unmerge_keep_it_unlinked(self, engine, session, org):
        # given: the number unlinked from Ann, Ann merged into Annie
        ann = observe(session, org, **ann_row()).contact_id
        annie = observe(session, org, external_id="B1", first_name="Annie").contact_id
        unlink(session, org, ann)
        merge(session, org, annie, ann)

        # when: Ann's record changes its city on the survivor, then the merge is undone
        observe(session, org, **ann_row(city="Bondi"))
        on_survivor = (contact(engine, annie).phone, holders(engine, org))
        unmerge(session, org, ann)
        observe(session, org, **ann_row(city="Manly"))

        # then
        assert on_survivor == (None, [])
        assert holders(engine, org) == []
        assert (contact(engine, ann).city, contact(engine, ann).phone) == ("Manly", None)


class TestAnUnlinkAfterAMerge:
    def test_it_holds_after_the_unmerge(self, engine, session, org):
        # given: Ann merged into Annie, then her number unlinked from Annie
        ann = observe(session, org, **ann_row()).contact_id
        annie = observe(session, org, external_id="B1", first_name="Annie").contact_id
        merge(session, org, annie, ann)
        unlink(session, org, annie)

        # when
        unmerge(session, org, ann)

        # then: Ann is back without the number, in her identifiers and in her fields alike
        assert holders(engine, org) == []
        back = contact(engine, ann)
        assert (back.status, back.phone, back.email) == ("active", None, "ann@example.com")
        assert contact(engine, annie).phone is None
        [unmerged] = events(engine, ann, "unmerged")
        assert {"namespace": "tel", "value": PHONE, "reason": "unlinked"} in unmerged.data[
            "not_restored"
        ]

    def test_other_identifiers_come_back(self, engine, session, org):
        # given
        ann = observe(session, org, **ann_row()).contact_id
        annie = observe(session, org, external_id="B1", first_name="Annie").contact_id
        merge(session, org, annie, ann)
        unlink(session, org, annie)

        # when
        unmerge(session, org, ann)

        # then: her email is hers again
        with Session(engine) as s:
            by_email = contacts_by_identifier(
                s, organization_id=org.id, channel="EMAIL", value="ann@example.com", region="AU"
            )
            assert [c.id for c in by_email] == [ann]
