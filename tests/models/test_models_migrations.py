"""One migration history that matches the models and applies from scratch on both dialects."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel

from crm import db as crm_db
from crm.migrate import schema_drift, upgrade
from crm.models import Contact, Organization, SourceRecord
from tests.conftest import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request, tmp_path) -> Iterator[Engine]:
    """A database of its own with no tables, to migrate step by step (SQLite, PostgreSQL)."""
    if request.param == "sqlite":
        engine = crm_db.make_engine(f"sqlite:///{tmp_path / 'steps.db'}")
        yield engine
        engine.dispose()
        return
    url = create_postgres_database("crm_test_steps")
    engine = crm_db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_postgres_database(url)


class TestMigrations:
    def test_the_migrated_database_matches_the_models(self, engine):
        assert schema_drift(engine) == []

    def test_every_model_table_is_created(self, engine):
        tables = set(inspect(engine).get_table_names())

        assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
        assert "alembic_version" in tables

    def test_migrations_apply_to_a_brand_new_sqlite_file(self, tmp_path):
        # given
        path = tmp_path / "fresh.db"
        url = f"sqlite:///{path}"

        # when
        upgrade(url=url)

        # then
        engine = crm_db.make_engine(url)
        try:
            assert schema_drift(engine) == []
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
        finally:
            engine.dispose()

    def test_upgrading_twice_is_a_no_op(self, tmp_path):
        # given
        engine = crm_db.make_engine(f"sqlite:///{tmp_path / 'twice.db'}")
        upgrade(engine=engine)

        # when
        upgrade(engine=engine)

        # then
        try:
            assert schema_drift(engine) == []
        finally:
            engine.dispose()

    def test_records_stored_before_0007_keep_their_external_ids(self, empty_engine):
        # given: a database at 0006 holding records with and without a source's own id
        engine = empty_engine
        upgrade(engine=engine, revision="0006")
        with Session(engine) as session:  # these two tables are as the models say
            org = Organization(name="Clinic", default_region="AU")
            session.add(org)
            session.flush()
            contact = Contact(organization_id=org.id, first_name="Ana")
            session.add(contact)
            session.commit()
            org_id, contact_id, now = org.id, contact.id, contact.created_at
        with engine.begin() as conn:  # the model's table, less the column 0007 adds
            conn.execute(
                SourceRecord.__table__.insert(),
                [
                    {
                        "id": uuid.uuid4(),
                        "organization_id": org_id,
                        "contact_id": contact_id,
                        "source_system": "csv",
                        "source_id": source_id,
                        "version": 1,
                        "is_current": True,
                        "content_hash": "x",
                        "payload": {},
                        "normalized": {},
                        "observed_at": now,
                        "received_at": now,
                    }
                    for source_id in ("row-7", "h:" + "0" * 40, "edit:0190")
                ],
            )

        # when
        upgrade(engine=engine)

        # then
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT source_id, source_id_given FROM source_records"))
            given = {source_id: bool(flag) for source_id, flag in rows}
        assert given == {"row-7": True, "h:" + "0" * 40: False, "edit:0190": False}
        assert schema_drift(engine) == []

    def test_the_constraint_naming_convention_is_used(self, engine):
        unique = {u["name"] for u in inspect(engine).get_unique_constraints("contact_identifiers")}

        assert "uq_contact_identifiers_organization_id_namespace_value_ordinal" in unique

    def test_identity_keys_compare_bytes_as_the_models_say(self, engine):
        # autogenerate does not compare collations: the migrated columns are checked here
        if engine.dialect.name != "postgresql":
            return  # SQLite compares bytes whatever the column says
        keys = {
            ("contact_identifiers", "namespace"),
            ("contact_identifiers", "value"),
            ("source_records", "source_system"),
            ("source_records", "source_id"),
        }
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, a.attname, coll.collname FROM pg_attribute a"
                    " JOIN pg_class c ON c.oid = a.attrelid"
                    " JOIN pg_collation coll ON coll.oid = a.attcollation"
                    " WHERE c.relname IN ('contact_identifiers', 'source_records')"
                    " AND a.attnum > 0"
                )
            ).all()
        migrated = {(table, column) for table, column, collation in rows if collation == "C"}
        modelled = {
            (table.name, column.name)
            for table in SQLModel.metadata.sorted_tables
            if table.name in ("contact_identifiers", "source_records")
            for column in table.columns
            if getattr(column.type.dialect_impl(engine.dialect), "collation", None) == "C"
        }
        assert migrated == modelled == keys
