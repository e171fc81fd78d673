"""Settings from the environment, database URLs, the generated secret key, ids."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from crm.db import make_engine, normalize_url
from crm.models import uuid7
from crm.settings import Settings


class TestSettings:
    def test_defaults_match_the_contract(self, monkeypatch):
        for name in ("CRM_DATABASE_URL", "CRM_REDIS_URL", "CRM_SECRET_KEY", "CRM_ENV"):
            monkeypatch.delenv(name, raising=False)
        settings = Settings()
        assert settings.database_url == "sqlite:///./crm.db"
        assert settings.redis_url is None
        assert settings.env == "development"
        assert settings.production is False

    def test_environment_with_crm_prefix_is_read(self, monkeypatch):
        monkeypatch.setenv("CRM_ENV", "production")
        monkeypatch.setenv("CRM_REDIS_URL", "redis://127.0.0.1:6379/0")
        settings = Settings()
        assert settings.production is True
        assert settings.redis_url == "redis://127.0.0.1:6379/0"

    def test_secret_key_is_generated_once_into_a_private_file(self, monkeypatch):
        # given: the autouse fixture runs each test in its own empty directory
        monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
        # when
        first = Settings().resolved_secret_key()
        second = Settings().resolved_secret_key()
        # then
        path = Path(".crm-secret")
        assert first == second == path.read_text().strip()
        assert len(first) >= 40
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_configured_secret_key_wins(self, monkeypatch):
        monkeypatch.setenv("CRM_SECRET_KEY", "from-env")
        assert Settings().resolved_secret_key() == "from-env"
        assert not Path(".crm-secret").exists()


class TestDatabaseUrls:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("sqlite:///./crm.db", "sqlite+pysqlite:///./crm.db"),
            (
                "postgresql://postgres@127.0.0.1:5432/crm",
                "postgresql+psycopg://postgres@127.0.0.1:5432/crm",
            ),
            ("postgres://u:p@db/crm", "postgresql+psycopg://u:p@db/crm"),
            ("postgresql+psycopg://u@db/crm", "postgresql+psycopg://u@db/crm"),
        ],
    )
    def test_plain_urls_get_the_projects_drivers(self, url, expected):
        assert normalize_url(url) == expected

    def test_other_databases_are_refused(self):
        with pytest.raises(ValueError):
            normalize_url("mysql://root@localhost/crm")

    def test_sqlite_runs_with_wal_and_foreign_keys(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        engine.dispose()


class TestIds:
    def test_uuid7_is_version_7_and_strictly_increasing(self):
        ids = [uuid7() for _ in range(10_000)]
        assert all(i.version == 7 for i in ids)
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
