from __future__ import annotations

from sqlalchemy import inspect

from crm.db import make_engine
from crm.migrate import schema_drift


class TestDbUpgrade:
    def test_creates_the_tables_in_a_fresh_sqlite_file(self, tmp_path, database_url, cli):
        # given
        path = tmp_path / "fresh.db"
        database_url(f"sqlite:///{path}")

        # when
        result = cli("db", "upgrade")

        # then
        assert result.exit_code == 0, result.output
        engine = make_engine(f"sqlite:///{path}")
        try:
            tables = set(inspect(engine).get_table_names())
            assert {"alembic_version", "organizations", "api_keys", "contacts"} <= tables
            assert schema_drift(engine) == []
        finally:
            engine.dispose()

    def test_running_it_again_changes_nothing(self, engine, cli):
        # when
        result = cli("db", "upgrade")

        # then
        assert result.exit_code == 0, result.output
        assert schema_drift(engine) == []

    def test_an_unreachable_database_fails(self, database_url, cli):
        # given: nothing listens on port 1
        database_url("postgresql://postgres@127.0.0.1:1/crm?connect_timeout=2")

        # when
        result = cli("db", "upgrade")

        # then
        assert result.exit_code == 1
        assert "did not answer" in result.stderr

    def test_an_unsupported_database_url_is_bad_usage(self, database_url, cli):
        # given
        database_url("mysql://root@127.0.0.1/crm")

        # when
        result = cli("db", "upgrade")

        # then
        assert result.exit_code == 2
        assert "CRM_DATABASE_URL" in result.stderr
