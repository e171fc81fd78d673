"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

Isolation: SQLite gets a fresh copy of a migrated database file per test; PostgreSQL gets one
migrated database per xdist worker, truncated after each test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from crm import db as crm_db
from crm.migrate import upgrade
from crm.models import Organization
from crm.tenancy.service import create_api_key, create_organization

PG_URL = os.environ.get("CRM_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL")
PG_SKIP = "PostgreSQL tests skipped: set CRM_TEST_DATABASE_URL to run them"
REDIS_SKIP = "Redis tests skipped: set CRM_TEST_REDIS_URL to run them"


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"postgresql: {'CRM_TEST_DATABASE_URL set' if PG_URL else PG_SKIP}",
        f"redis: {'CRM_TEST_REDIS_URL set' if REDIS_URL else REDIS_SKIP}",
    ]


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch) -> None:
    # the secret file and the default database live in the working directory
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = crm_db.make_engine(f"sqlite:///{path}")
    upgrade(engine=engine)
    engine.dispose()
    return str(path)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def create_postgres_database(prefix: str) -> str:
    """A new, empty PostgreSQL database of a unique name; its URL (skips without a server)."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    name = f"{prefix}_{_worker()}_{uuid.uuid4().hex[:8]}"
    admin = crm_db.make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(crm_db.normalize_url(PG_URL)).set(database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    admin = crm_db.make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = create_postgres_database("crm_test")
    engine = crm_db.make_engine(url)
    upgrade(engine=engine)
    engine.dispose()
    yield url
    drop_postgres_database(url)


def _truncate(engine: Engine) -> None:
    # DELETE is ~1 ms on a test's few rows where TRUNCATE costs ~75 ms; children go first
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path, sqlite_template) -> Iterator[Engine]:
    """A migrated, empty database (SQLite, then PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        shutil.copy(sqlite_template, path)
        eng = crm_db.make_engine(f"sqlite:///{path}")
        crm_db.set_engine(eng)
        yield eng
        crm_db.set_engine(None)
        eng.dispose()
    else:
        url = request.getfixturevalue("postgres_url")
        eng = crm_db.make_engine(url, pool_size=20)
        crm_db.set_engine(eng)
        try:
            yield eng
        finally:
            crm_db.set_engine(None)
            _truncate(eng)
            eng.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.rollback()


@pytest.fixture
def org(session) -> Organization:
    organization = create_organization(session, name="Bondi Physio", region="AU")
    session.commit()
    return organization


@pytest.fixture
def other_org(session) -> Organization:
    organization = create_organization(session, name="Other Clinic", region="NZ")
    session.commit()
    return organization


def make_key(
    session: Session,
    organization: Organization,
    role: str = "admin",
    *,
    sources: list[str] | None = None,
) -> str:
    _, plain = create_api_key(session, organization_id=organization.id, role=role, sources=sources)
    session.commit()
    return plain
