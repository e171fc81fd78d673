"""Only races are retried: a constraint that fails the same way every time surfaces at once."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from crm.db import is_retryable, make_engine
from crm.ingest import build_observation, ingest
from crm.models import Contact, ContactIdentifier, Organization


@pytest.fixture
def attempts(engine: Engine) -> Iterator[list[str]]:
    """The savepoints taken on ``engine``: ``ingest`` takes one per attempt."""
    taken: list[str] = []

    def count(_conn, name) -> None:
        taken.append(name)

    event.listen(engine, "savepoint", count)
    yield taken
    event.remove(engine, "savepoint", count)


def _observation(**raw):
    return build_observation(raw, source="csv", region="AU")


def _raised(session: Session, statement, values) -> Exception:
    try:
        with session.begin_nested():
            session.execute(statement, values)
    except Exception as exc:
        return exc
    raise AssertionError("the statement did not fail")


class TestWhatIsRetried:
    def test_a_unique_violation_on_an_identity_key_is_a_race(self, session, org):
        # given: a contact holding an email, and a second writer claiming the same key
        ingest(session, organization=org, observations=[_observation(email="ann@example.com")])
        held = session.execute(select(ContactIdentifier.__table__)).mappings().first()
        claim = {**held, "id": uuid.uuid4()}

        # when
        error = _raised(session, insert(ContactIdentifier), claim)

        # then
        assert isinstance(error, IntegrityError)
        assert is_retryable(error)

    def test_a_foreign_key_violation_is_not(self, session, org):
        # when: a contact of an organization that does not exist
        error = _raised(
            session, insert(Contact), {"id": uuid.uuid4(), "organization_id": uuid.uuid4()}
        )

        # then
        assert isinstance(error, IntegrityError)
        assert not is_retryable(error)

    def test_a_not_null_violation_is_not(self, session, org):
        # when
        error = _raised(
            session,
            insert(Organization),
            {"id": uuid.uuid4(), "name": None, "default_region": "AU", "settings": {}},
        )

        # then
        assert isinstance(error, IntegrityError)
        assert not is_retryable(error)


class TestIngestAttempts:
    def test_a_foreign_key_violation_fails_after_one_attempt(self, session, attempts):
        # given: an organization that was never stored, so every row it writes breaks a key
        ghost = Organization(id=uuid.uuid4(), name="Ghost Clinic", default_region="AU")

        # when
        with pytest.raises(Exception) as raised:
            ingest(
                session,
                organization=ghost,
                observations=[_observation(first_name="Ann", email="ann@example.com")],
            )

        # then: the error surfaces as it is, after a single attempt
        assert not is_retryable(raised.value)
        assert len(attempts) == 1


class TestSqliteLocked:
    def test_database_is_locked_after_the_busy_timeout_is_not_retried(self, tmp_path, engine):
        if engine.dialect.name != "sqlite":
            pytest.skip("SQLite's lock")
        # given: a file whose write lock another process holds, and a short busy timeout
        path = tmp_path / "locked.db"
        with sqlite3.connect(engine.url.database) as source, sqlite3.connect(path) as copy:
            source.backup(copy)
        locked = make_engine(f"sqlite:///{path}")

        def short_wait(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=50")

        event.listen(locked, "connect", short_wait)
        checkouts: list[object] = []
        # each attempt takes a connection from the pool
        event.listen(locked, "checkout", lambda *args: checkouts.append(args))
        with Session(locked, expire_on_commit=False) as setup:
            organization = Organization(id=uuid.uuid4(), name="Locked", default_region="AU")
            setup.add(organization)
            setup.commit()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        checkouts.clear()
        try:
            # when
            with Session(locked) as session, pytest.raises(OperationalError) as raised:
                ingest(
                    session,
                    organization=organization,
                    observations=[_observation(first_name="Ann", email="ann@example.com")],
                )
        finally:
            holder.rollback()
            holder.close()
            locked.dispose()

        # then: one wait for the lock, not ten
        assert "locked" in str(raised.value)
        assert len(checkouts) == 1
