"""Migration 0009: keys made before it write as ``api``, the default of a new key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from crm import db as crm_db
from crm.migrate import schema_drift, upgrade
from crm.models import ApiKey, Organization, utcnow, uuid7
from crm.tenancy.service import KEY_PREFIX, authenticate, hash_key
from tests.conftest import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request, tmp_path) -> Iterator[Engine]:
    """A database of its own with no tables, to migrate step by step (SQLite, PostgreSQL)."""
    if request.param == "sqlite":
        engine = crm_db.make_engine(f"sqlite:///{tmp_path / 'steps.db'}")
        yield engine
        engine.dispose()
        return
    url = create_postgres_database("crm_test_keys")
    engine = crm_db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_postgres_database(url)


class TestApiKeySourcesMigration:
    def test_keys_made_before_0009_write_as_api(self, empty_engine):
        # given: a database at 0007 with an editor key
        engine = empty_engine
        upgrade(engine=engine, revision="0007")
        with Session(engine) as session:
            org = Organization(name="Clinic", default_region="AU")
            session.add(org)
            session.commit()
            org_id = org.id
        plain = KEY_PREFIX + "before-0009"
        with engine.begin() as conn:  # the model's table, less the column 0009 adds
            table = ApiKey.__table__
            conn.execute(
                table.insert().values(
                    id=uuid7(),
                    organization_id=org_id,
                    role="editor",
                    key_hash=hash_key(plain),
                    prefix=plain[:12],
                    created_at=utcnow(),
                ),
            )

        # when
        upgrade(engine=engine)

        # then
        with engine.connect() as conn:
            principal = authenticate(conn, key=plain)
        assert principal is not None
        assert principal.sources == ("api",)
        assert schema_drift(engine) == []
