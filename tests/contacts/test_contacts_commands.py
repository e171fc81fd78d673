"""Contact commands: each is the ingestion pipeline with one item, plus its own rules."""

from __future__ import annotations

import pytest

from crm.contacts.commands import (
    ValidationFailed,
    create_contact,
    link_identifier,
    resolve_contact,
    unlink_identifier,
    update_contact,
)
from crm.contacts.queries import contacts_by_identifier
from crm.errors import ErrorCode, ServiceError


def resolve(session, org, channel, value, **data):
    contact, created = resolve_contact(
        session, organization=org, channel=channel, value=value, data=data or None, actor="test"
    )
    session.commit()
    return contact, created


def create(session, org, **data):
    contact = create_contact(session, organization=org, data=data, actor="staff")
    session.commit()
    return contact


class TestResolveContact:
    def test_a_new_identifier_creates_the_contact_once(self, session, org):
        # when
        first, created = resolve(session, org, "WHATSAPP", "+61 412 345 678", first_name="Ann")
        again, created_again = resolve(session, org, "WHATSAPP", "0412345678")

        # then
        assert (created, created_again) == (True, False)
        assert again.id == first.id
        assert (first.first_name, first.phone) == ("Ann", "+61412345678")
        assert first.source_systems == ["whatsapp"]

    @pytest.mark.parametrize("channel", ["PHONE", "SMS", "whatsapp"])
    def test_phone_channels_share_one_key_space(self, session, org, channel):
        # given
        whatsapp, _ = resolve(session, org, "WHATSAPP", "+61412345678")

        # when
        found, created = resolve(session, org, channel, "0412 345 678")

        # then
        assert (found.id, created) == (whatsapp.id, False)

    def test_the_source_defaults_to_the_channel_and_can_be_named(self, session, org):
        # when
        contact, _ = resolve_contact(
            session, organization=org, channel="EMAIL", value="ann@example.com", source="Chatwoot"
        )
        session.commit()

        # then
        assert contact.source_systems == ["chatwoot"]
        assert contact.email == "ann@example.com"

    def test_a_household_member_with_another_name_gets_a_contact(self, session, org, history):
        # given
        mum, _ = resolve(session, org, "PHONE", "0412 345 678", first_name="Margaret")

        # when
        kid, created = resolve(session, org, "WHATSAPP", "0412 345 678", first_name="Oliver")

        # then
        assert created is True
        assert kid.id != mum.id
        assert history.held("tel") == [(mum.id, 0), (kid.id, 1)]

    def test_an_exclusive_identifier_finds_its_holder_whatever_the_name(self, session, org):
        # given
        ann, _ = resolve(session, org, "INSTAGRAM", "@ann.lee", first_name="Ann")

        # when
        found, created = resolve(
            session, org, "INSTAGRAM", "https://instagram.com/ann.lee", first_name="Annabel"
        )

        # then
        assert (found.id, created) == (ann.id, False)

    def test_an_unknown_channel_is_refused(self, session, org):
        with pytest.raises(ServiceError) as info:
            resolve_contact(session, organization=org, channel="TELEGRAM", value="x")

        assert (info.value.code, info.value.field) == (ErrorCode.UNSUPPORTED_CHANNEL, "channel")

    def test_an_invalid_value_is_refused_and_nothing_is_written(self, session, org, history):
        with pytest.raises(ValidationFailed) as info:
            resolve_contact(session, organization=org, channel="PHONE", value="12")

        assert (info.value.code, info.value.field) == (ErrorCode.INVALID_PHONE, "value")
        assert history.identifiers() == []


class TestCreateContact:
    def test_a_manual_contact_is_created_with_manual_provenance(self, session, org, history):
        # when
        contact = create(session, org, first_name="Ann", last_name="Lee", email="Ann@Example.com")

        # then
        assert (contact.first_name, contact.email, contact.version) == ("Ann", "ann@example.com", 1)
        assert contact.field_sources["email"]["source"] == "manual"
        [event] = history.events()
        assert (event.kind, event.actor, event.contact_id) == ("created", "staff", contact.id)

    def test_a_known_person_is_refused_and_nothing_is_written(self, session, org, history):
        # given
        ann = create(session, org, first_name="Ann", email="ann@example.com")

        # when
        with pytest.raises(ServiceError) as info:
            create_contact(
                session,
                organization=org,
                actor="staff",
                data={"first_name": "Annie", "email": "ann@example.com"},
            )
        session.commit()

        # then
        assert (info.value.code, info.value.field) == (ErrorCode.DUPLICATE_CONTACT, "email")
        assert history.held("email") == [(ann.id, 0)]
        assert [e.kind for e in history.events()] == ["created"]

    def test_a_household_member_sharing_the_email_is_created(self, session, org, history):
        # given
        mum = create(session, org, first_name="Margaret", email="family@example.com")

        # when
        kid = create(session, org, first_name="Oliver", email="family@example.com")

        # then
        assert history.held("email") == [(mum.id, 0), (kid.id, 1)]

    def test_invalid_values_are_all_reported(self, session, org):
        with pytest.raises(ValidationFailed) as info:
            create_contact(
                session,
                organization=org,
                actor="staff",
                data={"first_name": "Ann", "email": "nope", "phone": "12"},
            )

        assert {(e.code, e.field) for e in info.value.errors} == {
            (ErrorCode.INVALID_EMAIL, "email"),
            (ErrorCode.INVALID_PHONE, "phone"),
        }


class TestUpdateContact:
    def test_an_edit_changes_the_field_bumps_the_version_and_is_recorded(
        self, session, org, history
    ):
        # given
        ann = create(session, org, first_name="Ann", last_name="Lee")

        # when
        edited = update_contact(
            session,
            organization=org,
            contact_id=ann.id,
            version=1,
            data={"last_name": "Leigh"},
            actor="staff",
        )
        session.commit()

        # then
        assert (edited.last_name, edited.version) == ("Leigh", 2)
        [change] = history.events("field_changed")
        assert (change.field, change.old_value, change.new_value, change.source, change.actor) == (
            "last_name",
            "Lee",
            "Leigh",
            "manual",
            "staff",
        )

    def test_a_stale_version_is_refused(self, session, org):
        # given
        ann = create(session, org, first_name="Ann")
        update_contact(
            session,
            organization=org,
            contact_id=ann.id,
            version=1,
            data={"last_name": "Lee"},
            actor="staff",
        )
        session.commit()

        # when
        with pytest.raises(ServiceError) as info:
            update_contact(
                session,
                organization=org,
                contact_id=ann.id,
                version=1,
                data={"last_name": "Other"},
                actor="staff",
            )

        # then
        assert (info.value.code, info.value.field) == (ErrorCode.VERSION_CONFLICT, "version")

    def test_an_empty_edit_is_refused(self, session, org):
        ann = create(session, org, first_name="Ann")

        with pytest.raises(ServiceError) as info:
            update_contact(
                session,
                organization=org,
                contact_id=ann.id,
                version=None,
                data={"last_name": ""},
                actor="staff",
            )

        assert info.value.code == ErrorCode.INVALID_INPUT

    def test_another_organizations_contact_is_not_found(self, session, org, other_org):
        ann = create(session, org, first_name="Ann")

        with pytest.raises(ServiceError) as info:
            update_contact(
                session,
                organization=other_org,
                contact_id=ann.id,
                version=None,
                data={"last_name": "Lee"},
                actor="staff",
            )

        assert info.value.code == ErrorCode.NOT_FOUND

    def test_a_new_email_is_linked_to_the_contact(self, session, org, history):
        # given
        ann = create(session, org, first_name="Ann", email="old@example.com")

        # when
        edited = update_contact(
            session,
            organization=org,
            contact_id=ann.id,
            version=None,
            data={"email": "new@example.com"},
            actor="staff",
        )
        session.commit()

        # then
        assert edited.email == "new@example.com"
        assert {i.value for i in history.identifiers("email")} == {
            "old@example.com",
            "new@example.com",
        }
        [linked] = history.events("identifier_linked")
        assert linked.data["value"] == "new@example.com"


class TestLinkIdentifier:
    def test_a_free_identifier_is_linked_and_recorded(self, session, org, history):
        # given
        ann = create(session, org, first_name="Ann", phone="0412 345 678")

        # when
        contact = link_identifier(
            session,
            organization=org,
            contact_id=ann.id,
            channel="WHATSAPP",
            value="0499 000 111",
            actor="staff",
        )
        session.commit()

        # then: the channel is linked; the contact's phone is not replaced by it
        assert contact.phone == "+61412345678"
        assert {i.value for i in history.identifiers("tel")} == {"+61412345678", "+61499000111"}
        [event] = history.events("identifier_linked")
        assert (event.contact_id, event.actor, event.data["value"]) == (
            ann.id,
            "staff",
            "+61499000111",
        )

    def test_an_exclusive_identifier_of_another_contact_is_a_conflict(self, session, org, history):
        # given
        ann = create(session, org, first_name="Ann")
        bob, _ = resolve(session, org, "INSTAGRAM", "@bob", first_name="Bob")
        events_before = len(history.events())

        # when
        with pytest.raises(ServiceError) as info:
            link_identifier(
                session,
                organization=org,
                contact_id=ann.id,
                channel="INSTAGRAM",
                value="@bob",
                actor="staff",
            )
        session.commit()

        # then
        assert (info.value.code, info.value.field) == (ErrorCode.IDENTIFIER_CONFLICT, "value")
        assert history.held("instagram") == [(bob.id, 0)]
        assert len(history.events()) == events_before

    def test_a_shared_email_can_be_linked_to_a_second_person(self, session, org, history):
        # given
        mum = create(session, org, first_name="Margaret", email="family@example.com")
        kid = create(session, org, first_name="Oliver")

        # when
        link_identifier(
            session,
            organization=org,
            contact_id=kid.id,
            channel="EMAIL",
            value="family@example.com",
            actor="staff",
        )
        session.commit()

        # then
        assert history.held("email") == [(mum.id, 0), (kid.id, 1)]


class TestUnlinkIdentifier:
    def test_an_unlinked_identifier_is_gone_and_recorded(self, session, org, history):
        # given
        ann, _ = resolve(session, org, "INSTAGRAM", "@ann", first_name="Ann")
        version = ann.version

        # when
        contact = unlink_identifier(
            session,
            organization=org,
            contact_id=ann.id,
            channel="INSTAGRAM",
            value="@ann",
            actor="staff",
        )
        session.commit()

        # then
        assert history.identifiers("instagram") == []
        assert contact.version == version + 1
        [event] = history.events("identifier_unlinked")
        assert (event.contact_id, event.actor) == (ann.id, "staff")
        assert event.data == {"namespace": "instagram", "value": "ann", "channel": "INSTAGRAM"}

    def test_the_next_holder_becomes_primary(self, session, org, history):
        # given
        mum = create(session, org, first_name="Margaret", email="family@example.com")
        kid = create(session, org, first_name="Oliver", email="family@example.com")

        # when
        unlink_identifier(
            session,
            organization=org,
            contact_id=mum.id,
            channel="EMAIL",
            value="family@example.com",
            actor="staff",
        )
        session.commit()

        # then
        assert history.held("email") == [(kid.id, 0)]
        holders = contacts_by_identifier(
            session,
            organization_id=org.id,
            channel="EMAIL",
            value="family@example.com",
            region="AU",
        )
        assert [c.id for c in holders] == [kid.id]

    def test_an_identifier_the_contact_does_not_hold_is_not_found(self, session, org):
        ann = create(session, org, first_name="Ann")

        with pytest.raises(ServiceError) as info:
            unlink_identifier(
                session,
                organization=org,
                contact_id=ann.id,
                channel="EMAIL",
                value="ann@example.com",
                actor="staff",
            )

        assert (info.value.code, info.value.field) == (ErrorCode.NOT_FOUND, "value")
