"""The hot read path (identifier lookup and API-key auth) runs prepared statements on the
driver's connection, without the ORM: what it returns must equal what the ORM loads."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from crm.contacts.commands import create_contact
from crm.contacts.queries import contact_by_identifier
from crm.db import read_only
from crm.models import Contact, Organization
from crm.models.base import as_loaded
from crm.tenancy.service import authenticate, create_api_key, revoke_api_key

COLUMNS = [c.key for c in Contact.__mapper__.column_attrs]


@pytest.fixture
def full_contact(session, org) -> Contact:
    contact = create_contact(
        session,
        organization=org,
        data={
            "first_name": "Zoë",
            "last_name": "O'Brien",
            "email": "zoe@example.com",
            "phone": "0412 345 678",
            "date_of_birth": "1984-02-29",
            "address": {"line1": "Unit 3, 12 Smith St", "city": "Fitzroy", "postal_code": "3065"},
            "metadata": {"notes": "prefers SMS", "tags": ["vip"]},
        },
        actor="staff",
    )
    session.commit()
    return contact


def test_the_lookup_returns_every_column_as_the_orm_loads_it(engine, org, full_contact):
    # when: on a bare connection (the request's), and through a session
    with read_only(engine).connect() as connection:
        fast = contact_by_identifier(
            connection,
            organization_id=org.id,
            channel="PHONE",
            value="+61 412 345 678",
            region="AU",
        )
    with Session(engine) as fresh:
        orm = fresh.get(Contact, full_contact.id)
        via_session = contact_by_identifier(
            fresh, organization_id=org.id, channel="EMAIL", value="ZOE@example.com", region="AU"
        )

    # then
    assert fast is not None and via_session is not None
    for name in COLUMNS:
        assert getattr(fast, name) == getattr(orm, name), name
        assert getattr(via_session, name) == getattr(orm, name), name
    assert fast.created_at.tzinfo is not None
    assert fast.date_of_birth == datetime.date(1984, 2, 29)
    assert fast.attributes["tags"] == ["vip"]


def test_an_unknown_identifier_is_none(engine, org, full_contact):
    with read_only(engine).connect() as connection:
        assert (
            contact_by_identifier(
                connection,
                organization_id=org.id,
                channel="PHONE",
                value="0499 999 999",
                region="AU",
            )
            is None
        )


def test_another_organizations_identifier_is_none(engine, other_org, full_contact):
    with read_only(engine).connect() as connection:
        assert (
            contact_by_identifier(
                connection,
                organization_id=other_org.id,
                channel="PHONE",
                value="0412345678",
                region="AU",
            )
            is None
        )


def test_a_loaded_row_is_detached_and_can_join_a_session(engine, org, full_contact):
    # given
    with read_only(engine).connect() as connection:
        fast = contact_by_identifier(
            connection, organization_id=org.id, channel="PHONE", value="0412345678", region="AU"
        )

    # when: attached to a session, it is the stored row, not a new one to insert
    with Session(engine) as session:
        attached = session.merge(fast, load=False)
        session.flush()

        # then
        assert attached.id == full_contact.id
        assert not session.new


def test_as_loaded_keeps_the_values_without_validation(org):
    # when
    built = as_loaded(Organization, {"id": org.id, "name": "x" * 500, "default_region": "AU"})

    # then
    assert (built.id, built.name, built.default_region) == (org.id, "x" * 500, "AU")


def test_auth_on_a_bare_connection_sees_a_revocation_at_once(engine, session, org):
    # given
    key, plain = create_api_key(session, organization_id=org.id, role="reader", name="bot")
    session.commit()
    with read_only(engine).connect() as connection:
        principal = authenticate(connection, key=plain)
        assert principal is not None
        assert (principal.organization.id, principal.organization.name) == (org.id, org.name)
        assert principal.organization.settings == org.settings

        # when
        revoke_api_key(session, organization_id=org.id, key_id=key.id)
        session.commit()

        # then
        assert authenticate(connection, key=plain) is None


def test_a_lost_connection_is_an_error_and_leaves_the_pool(engine, org, full_contact):
    if engine.dialect.name != "postgresql":
        pytest.skip("a server-side disconnect needs PostgreSQL")
    reader = read_only(engine)
    with reader.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = create_engine(engine.url)  # its own pool: the reader's is shared with engine's
    with admin.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    admin.dispose()

    # when: the pool hands back the dead connection (no pre-ping)
    with reader.connect() as connection, pytest.raises(DBAPIError) as raised:
        contact_by_identifier(
            connection,
            organization_id=org.id,
            channel="PHONE",
            value="0412345678",
            region="AU",
        )

    # then: it was invalidated, and the next request gets a working connection
    assert raised.value.connection_invalidated
    with reader.connect() as connection:
        found = contact_by_identifier(
            connection, organization_id=org.id, channel="PHONE", value="0412345678", region="AU"
        )
    assert found is not None and found.id == full_contact.id
