"""The test suite's database fixtures, for the internals checks."""

from __future__ import annotations

import pytest

from crm.settings import get_settings
from tests.conftest import (  # noqa: F401  (fixtures)
    _isolated_cwd,
    engine,
    org,
    postgres_url,
    session,
    sqlite_template,
)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setenv("CRM_IMPORT_BATCH_SIZE", "40")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def pg(engine):  # noqa: F811
    if engine.dialect.name != "postgresql":
        pytest.skip("the writer thread is PostgreSQL's")
    return engine
