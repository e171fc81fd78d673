"""Shared column types, id generation and the metadata naming convention."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import SQLModel

M = TypeVar("M", bound=SQLModel)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator):
    """Timezone-aware UTC timestamps on both dialects (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and dialect.name == "sqlite":
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def byte_ordered(length: int) -> sa.types.TypeEngine:
    """A key column compared byte by byte: the "C" collation on PostgreSQL (SQLite compares
    bytes anyway). For machine-made keys looked up by equality, where the locale's ordering
    only makes every index comparison dearer (migration 0006)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


_last_uuid7 = 0
_random = random.Random(int.from_bytes(os.urandom(16), "big"))
# a forked child must not repeat its parent's sequence
os.register_at_fork(after_in_child=lambda: _random.seed(int.from_bytes(os.urandom(16), "big")))
_uuid7_lock = threading.Lock()


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), strictly increasing within this process.

    Ids sort by creation, which keyset paging and the audit trail's order rely on.
    """
    global _last_uuid7
    ms = time.time_ns() // 1_000_000
    # ids need to be unique and ordered, not secret: the seeded PRNG is several times cheaper
    # than a system call per id, and the counter below rules out collisions in-process
    rand = _random.getrandbits(80)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    with _uuid7_lock:
        if value <= _last_uuid7:
            # same millisecond: count up from the last id (the random bits absorb it)
            value = _last_uuid7 + 1
        _last_uuid7 = value
    # uuid.UUID(int=value) less its range check, which the bits above cannot fail: an import
    # makes about five ids a row
    made = _new_object(uuid.UUID)
    _set_attribute(made, "int", value)
    _set_attribute(made, "is_safe", uuid.SafeUUID.unknown)
    return made


_new_object = object.__new__
_set_attribute = object.__setattr__


def parse_uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (ids arrive as text from clients)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def as_loaded(model: type[M], values: dict[str, Any]) -> M:
    """A detached instance of ``model`` holding ``values`` (attribute name -> value), built the
    way the ORM builds a loaded row: no ``__init__``, no validation, one ``__dict__`` update.

    For hot read paths that select with Core: ``model(**values)`` validates and sets every
    attribute through the instrumentation, several times the cost of the query's own Python.
    """
    obj = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    state = sa.inspect(obj)
    state.key = state.mapper.identity_key_from_primary_key(
        [values[c.key] for c in state.mapper.primary_key]
    )
    return obj


def ts_column(*, nullable: bool = False, index: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


def json_column(name: str | None = None, *, nullable: bool = False) -> Any:
    if name:
        return sa.Column(name, JSONType, nullable=nullable)
    return sa.Column(JSONType, nullable=nullable)


def contact_of_same_organization() -> sa.ForeignKeyConstraint:
    """``(organization_id, contact_id)`` -> ``contacts (organization_id, id)``: the row's
    contact exists and belongs to the row's organization (which, through the contact, exists
    too). One check per row where a contact FK and an organization FK took two."""
    return sa.ForeignKeyConstraint(
        ["organization_id", "contact_id"], ["contacts.organization_id", "contacts.id"]
    )
