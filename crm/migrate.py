"""Programmatic alembic: ``crm db upgrade`` and the tests use the same entry points."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An alembic config pointing at the project's one migration history."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(
    *, url: str | None = None, engine: Engine | None = None, revision: str = "head"
) -> None:
    """Apply migrations up to ``revision`` on ``engine`` (or the database at ``url``)."""
    config = alembic_config(url)
    if engine is not None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    else:
        command.upgrade(config, revision)


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Autogenerate filter: skip objects the model marks for other dialects only."""

    def include_object(obj: Any, name: Any, type_: Any, reflected: Any, compare_to: Any) -> bool:
        for candidate in (obj, compare_to):
            info = getattr(candidate, "info", None) or {}
            dialects = info.get("dialects")
            if dialects and dialect not in dialects:
                return False
        return True

    return include_object


def schema_drift(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: none)."""
    from sqlmodel import SQLModel

    import crm.models  # noqa: F401

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": include_object_for(connection.dialect.name),
            },
        )
        return compare_metadata(context, SQLModel.metadata)
