"""Writes naming a contact that is no longer active: a merged one's go to its survivor (and
say so), an erased one's are NOT_ACTIVE; a merge racing the write is decided by the database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session

from crm.contacts.commands import create_contact, link_identifier, update_contact
from crm.errors import ErrorCode, ServiceError
from crm.merging import merge_contacts
from crm.models import Contact


def person(session, org, **data) -> Contact:
    contact = create_contact(session, organization=org, data=data, actor="staff")
    session.commit()
    return contact


def merged_pair(session, org) -> tuple[Contact, Contact]:
    """Ann (survivor) and Annie merged into her, committed."""
    ann = person(session, org, first_name="Ann", last_name="Lee", email="ann@example.com")
    annie = person(session, org, first_name="Annie", last_name="Lee", email="annie@example.com")
    merge_contacts(session, organization=org, survivor_id=ann.id, merge_ids=[annie.id], actor="t")
    session.commit()
    return ann, annie


def erase(session, contact: Contact) -> None:
    session.execute(update(Contact).where(Contact.id == contact.id).values(status="erased"))
    session.commit()


def stored(engine, contact_id) -> Contact:
    with Session(engine, expire_on_commit=False) as fresh:
        row = fresh.get(Contact, contact_id)
        assert row is not None
        return row


class TestWritesToAMergedContact:
    def test_an_edit_without_version_goes_to_the_survivor_and_says_so(
        self, engine, session, org, history
    ):
        # given
        ann, annie = merged_pair(session, org)
        tombstone_version = stored(engine, annie.id).version

        # when
        result = update_contact(
            session,
            organization=org,
            contact_id=annie.id,
            version=None,
            data={"last_name": "Nguyen"},
            actor="staff",
        )
        session.commit()

        # then: the survivor shows the edit; the tombstone is untouched
        assert result.id == ann.id
        assert stored(engine, ann.id).last_name == "Nguyen"
        tombstone = stored(engine, annie.id)
        assert (tombstone.status, tombstone.version) == ("merged", tombstone_version)
        [redirect] = history.events("write_redirected")
        assert redirect.contact_id == ann.id
        assert redirect.data == {"from": str(annie.id), "to": str(ann.id)}

    def test_an_edit_with_the_tombstones_version_is_a_version_conflict(self, session, org):
        # given
        _ann, annie = merged_pair(session, org)
        session.refresh(annie)

        # when
        with pytest.raises(ServiceError) as caught:
            update_contact(
                session,
                organization=org,
                contact_id=annie.id,
                version=annie.version,
                data={"last_name": "Nguyen"},
                actor="staff",
            )

        # then
        assert caught.value.code is ErrorCode.VERSION_CONFLICT

    def test_a_linked_identifier_goes_to_the_survivor(self, engine, session, org, history):
        # given
        ann, annie = merged_pair(session, org)

        # when
        result = link_identifier(
            session,
            organization=org,
            contact_id=annie.id,
            channel="WHATSAPP",
            value="+61 412 345 678",
            actor="staff",
        )
        session.commit()

        # then
        assert result.id == ann.id
        assert history.held("tel") == [(ann.id, 0)]
        assert [e.contact_id for e in history.events("write_redirected")] == [ann.id]

    def test_a_chain_of_merges_is_followed_to_the_live_contact(self, engine, session, org):
        # given: Annie into Ann, then Ann into Anne
        ann, annie = merged_pair(session, org)
        anne = person(session, org, first_name="Anne", email="anne@example.com")
        merge_contacts(
            session, organization=org, survivor_id=anne.id, merge_ids=[ann.id], actor="t"
        )
        session.commit()

        # when
        result = update_contact(
            session,
            organization=org,
            contact_id=annie.id,
            version=None,
            data={"last_name": "Nguyen"},
            actor="staff",
        )
        session.commit()

        # then
        assert result.id == anne.id
        assert stored(engine, anne.id).last_name == "Nguyen"


class TestWritesToAnErasedContact:
    @pytest.mark.parametrize("version", [None, 1])
    def test_an_edit_is_not_active(self, engine, session, org, version):
        # given
        ann = person(session, org, first_name="Ann", email="ann@example.com")
        ann_id = ann.id
        erase(session, ann)

        # when
        with pytest.raises(ServiceError) as caught:
            update_contact(
                session,
                organization=org,
                contact_id=ann_id,
                version=version,
                data={"last_name": "Nguyen"},
                actor="staff",
            )

        # then
        assert caught.value.code is ErrorCode.NOT_ACTIVE
        session.rollback()
        assert stored(engine, ann_id).last_name is None

    def test_a_link_is_not_active(self, session, org, history):
        # given
        ann = person(session, org, first_name="Ann", email="ann@example.com")
        erase(session, ann)

        # when
        with pytest.raises(ServiceError) as caught:
            link_identifier(
                session,
                organization=org,
                contact_id=ann.id,
                channel="PHONE",
                value="0412 345 678",
                actor="staff",
            )

        # then
        assert caught.value.code is ErrorCode.NOT_ACTIVE
        session.rollback()
        assert history.held("tel") == []


def merge_before_first_contact_update(engine, org, survivor, merged, monkeypatch) -> list[bool]:
    """Commit a merge of ``merged`` into ``survivor`` from another session just before the
    first ``UPDATE contacts`` of any session: after the write's reads, before its writes."""
    done: list[bool] = []
    execute = Session.execute

    def interpose(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if not done and str(statement).lstrip().startswith("UPDATE contacts"):
            done.append(True)
            with Session(engine, expire_on_commit=False) as other:
                merge_contacts(
                    other,
                    organization=org,
                    survivor_id=survivor.id,
                    merge_ids=[merged.id],
                    actor="t",
                )
                other.commit()
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "execute", interpose)
    return done


class TestAMergeRacingTheWrite:
    @pytest.fixture(autouse=True)
    def _postgres_only(self, engine):
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite's one writer cannot commit a merge between a read and a write")

    def test_an_edit_lands_on_the_survivor(self, engine, session, org, monkeypatch):
        # given: the merge commits after the edit has read Annie as active
        ann = person(session, org, first_name="Ann", last_name="Lee", email="ann@example.com")
        annie = person(session, org, first_name="Annie", email="annie@example.com")
        done = merge_before_first_contact_update(engine, org, ann, annie, monkeypatch)

        # when
        with Session(engine, expire_on_commit=False) as own:
            result = update_contact(
                own,
                organization=org,
                contact_id=annie.id,
                version=None,
                data={"last_name": "Nguyen"},
                actor="staff",
            )
            own.commit()
        monkeypatch.undo()

        # then: the edit is visible on the contact that is shown, not on the tombstone
        assert done == [True]
        assert result.id == ann.id
        assert stored(engine, ann.id).last_name == "Nguyen"
        assert stored(engine, annie.id).last_name is None

    def test_a_linked_identifier_lands_on_the_survivor(
        self, engine, session, org, monkeypatch, history
    ):
        # given
        ann = person(session, org, first_name="Ann", email="ann@example.com")
        annie = person(session, org, first_name="Annie", email="annie@example.com")
        done = merge_before_first_contact_update(engine, org, ann, annie, monkeypatch)

        # when
        with Session(engine, expire_on_commit=False) as own:
            result = link_identifier(
                own,
                organization=org,
                contact_id=annie.id,
                channel="INSTAGRAM",
                value="@annie.lee",
                actor="staff",
            )
            own.commit()
        monkeypatch.undo()

        # then
        assert done == [True]
        assert result.id == ann.id
        session.rollback()
        assert [i.contact_id for i in history.identifiers("instagram")] == [ann.id]
