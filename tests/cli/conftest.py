"""CLI fixtures: invoke ``crm`` in-process; settings come from a clean environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import Result
from typer.testing import CliRunner

from crm import db as crm_db
from crm.cli import app
from crm.settings import get_settings


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch) -> Iterator[None]:
    # a developer's own CRM_DATABASE_URL / CRM_REDIS_URL must not leak into these tests
    for var in ("CRM_DATABASE_URL", "CRM_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``crm ARGS...``; ``result.stdout`` and ``result.stderr`` are kept apart."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture
def database_url(monkeypatch) -> Iterator[Callable[[str], None]]:
    """Point the CLI at a database through CRM_DATABASE_URL, as a user would."""

    def configure(url: str) -> None:
        monkeypatch.setenv("CRM_DATABASE_URL", url)
        get_settings.cache_clear()
        crm_db.set_engine(None)

    yield configure
    engine = crm_db._engine  # the one the CLI built from CRM_DATABASE_URL, if any
    if engine is not None:
        engine.dispose()
    crm_db.set_engine(None)
