"""Organizations and API keys: create, find, authenticate."""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from crm.contacts.queries import Page
from crm.db import without_lock_wait
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import IdentityError, normalize_region
from crm.logging import get_logger
from crm.models import ApiKey, Organization, utcnow
from crm.models.base import as_loaded, parse_uuid
from crm.pagination import check_first, decode_cursor, encode_cursor
from crm.prepared import PreparedSelect
from crm.tenancy.sources import DEFAULT_KEY_SOURCES, delegated_sources, key_sources

KEY_PREFIX = "crm_"
# a key's last use is recorded at most this often (one write per key per minute, not one per
# request)
KEY_USE_GRANULARITY = timedelta(minutes=1)

MAX_KEY_NAME = 200

log = get_logger(__name__)


class Role(enum.IntEnum):
    READER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ServiceError(
                ErrorCode.INVALID_INPUT, "role must be reader, editor or admin", field="role"
            ) from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the organization the key belongs to, what it may do and the source
    names it may write observations as."""

    organization: Organization
    role: Role
    key_id: uuid.UUID
    sources: tuple[str, ...] = DEFAULT_KEY_SOURCES

    @property
    def organization_id(self) -> uuid.UUID:
        return self.organization.id

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"

    def can(self, role: Role) -> bool:
        return self.role >= role


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _name_key(name: str) -> str:
    """What two organization names must share to be the same name: case and runs of spaces
    do not count."""
    return " ".join(name.split()).casefold()


def organizations_named(session: Session, *, name: str) -> list[Organization]:
    """The organizations whose name equals ``name`` ignoring case and spacing, oldest first."""
    key = _name_key(name)
    # compared here rather than with SQL lower(), which on SQLite folds ASCII letters only;
    # an installation has tens of organizations, not millions
    rows = session.exec(
        select(Organization.id, Organization.name).order_by(Organization.created_at)
    ).all()
    return [session.get(Organization, row[0]) for row in rows if _name_key(row[1]) == key]


def create_organization(session: Session, *, name: str, region: str = "AU") -> Organization:
    """Create an organization; its name is unique, ignoring case."""
    name = " ".join(name.split())
    if not name:
        raise ServiceError(ErrorCode.INVALID_INPUT, "name must not be empty", field="name")
    try:
        region = normalize_region(region)
    except IdentityError as exc:
        raise ServiceError(exc.code.value, exc.message, field="region") from exc
    same = organizations_named(session, name=name)
    if same:
        raise ServiceError(
            ErrorCode.NAME_TAKEN,
            f"an organization named {same[0].name!r} exists (id {same[0].id})",
            field="name",
        )
    org = Organization(name=name, default_region=region)
    try:
        with session.begin_nested():
            session.add(org)
            session.flush()
    except IntegrityError:
        raise ServiceError(
            ErrorCode.NAME_TAKEN, f"an organization named {name!r} exists", field="name"
        ) from None
    return org


def find_organization(session: Session, *, ref: str) -> Organization:
    """An organization by its id or its name (case-insensitive; an exact match wins).

    Two organizations whose names differ only in case (made before names were compared that
    way) make that name ambiguous: INVALID_INPUT naming their ids.
    """
    parsed = parse_uuid(ref)
    org = session.get(Organization, parsed) if parsed is not None else None
    if org is not None:
        return org
    matches = organizations_named(session, name=ref)
    exact = [o for o in matches if o.name == ref]
    if len(exact) == 1:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(f"{o.id} ({o.name})" for o in matches)
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"{len(matches)} organizations are named {ref!r}: give the id of one: {listed}",
            field="org",
        )
    raise NotFound("organization", field="org")


@dataclass(frozen=True, slots=True)
class OrganizationSummary:
    organization: Organization
    active_keys: int


def list_organizations(session: Session) -> list[OrganizationSummary]:
    """Every organization, oldest first, with how many unrevoked keys it has."""
    keys = (
        select(func.count())
        .where(ApiKey.organization_id == Organization.id, ApiKey.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = session.exec(
        select(Organization, keys).order_by(Organization.created_at, Organization.id)
    ).all()
    return [OrganizationSummary(organization=row[0], active_keys=row[1]) for row in rows]


def create_api_key(
    session: Session,
    *,
    organization_id: uuid.UUID,
    role: str,
    name: str | None = None,
    sources: Iterable[str] | None = None,
    granted_by: Principal | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the organization; the plain key is returned once and stored hashed.

    ``sources``: the names the key may write observations as (default ``api``; a PMS's name
    for the key of that connection; never ``manual``). ``granted_by``: the key creating it
    through the API, which hands on no source ranked above its own (``delegated_sources``);
    None for the operator's ``crm key create``.
    """
    parsed = Role.parse(role)
    if granted_by is None:
        allowed = key_sources(sources)
    else:
        overrides = (granted_by.organization.settings or {}).get("source_priorities")
        allowed = delegated_sources(sources, granted_by=granted_by.sources, overrides=overrides)
    if name is not None:
        name = " ".join(name.split()) or None
        if name is not None and len(name) > MAX_KEY_NAME:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"a key's name has at most {MAX_KEY_NAME} characters",
                field="name",
            )
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        organization_id=organization_id,
        role=parsed.name.lower(),
        name=name,
        key_hash=hash_key(plain),
        prefix=plain[:12],
        sources=allowed,
    )
    session.add(key)
    session.flush()
    return key, plain


def revoke_api_key(session: Session, *, organization_id: uuid.UUID, key_id: object) -> ApiKey:
    """Revoke a key of the organization; every process refuses it from its next request
    (keys are checked against the database on each request, never cached)."""
    parsed = parse_uuid(key_id)
    key = session.get(ApiKey, parsed) if parsed is not None else None
    if key is None or key.organization_id != organization_id:
        raise NotFound("api key", field="id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


def find_api_key(session: Session, *, ref: str, organization_id: uuid.UUID | None) -> ApiKey:
    """A key by its id or its printed prefix (``crm_AbCd1234``), within the organization when
    one is given; NOT_FOUND, or INVALID_INPUT when a prefix is shared."""
    parsed = parse_uuid(ref)
    condition = ApiKey.id == parsed if parsed is not None else ApiKey.prefix == ref.strip()
    stmt = select(ApiKey).where(condition)
    if organization_id is not None:
        stmt = stmt.where(ApiKey.organization_id == organization_id)
    found = session.exec(stmt.limit(2)).scalars().all()
    if not found:
        raise NotFound("api key", field="key")
    if len(found) > 1:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"more than one key starts {ref!r}: give the key's id",
            field="key",
        )
    return found[0]


def list_api_keys(
    session: Session,
    *,
    organization_id: uuid.UUID,
    first: int = 50,
    after: str | None = None,
    include_revoked: bool = True,
) -> Page:
    """A page of the organization's keys, oldest first (never their secrets: only hashes are
    stored)."""
    first = check_first(first)
    conditions: list[Any] = [ApiKey.organization_id == organization_id]
    if not include_revoked:
        conditions.append(ApiKey.revoked_at.is_(None))
    cursor = decode_cursor(after)
    page_conditions = list(conditions)
    if cursor is not None:
        after_id = parse_uuid(cursor.get("id"))
        if after_id is None:
            raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
        page_conditions.append(ApiKey.id > after_id)
    rows = (
        session.exec(select(ApiKey).where(*page_conditions).order_by(ApiKey.id).limit(first + 1))
        .scalars()
        .all()
    )
    total = session.exec(select(func.count()).select_from(ApiKey).where(*conditions)).one()[0]
    items = list(rows[:first])
    return Page(
        items=items,
        cursors=[encode_cursor({"id": str(key.id)}) for key in items],
        has_next=len(rows) > first,
        has_previous=cursor is not None,
        total=total,
    )


_ORGANIZATIONS = Organization.__table__
_ORGANIZATION_ATTRIBUTES = [
    Organization.__mapper__.get_property_by_column(c).key for c in _ORGANIZATIONS.columns
]
_KEY_WITH_ORGANIZATION = PreparedSelect(
    select(ApiKey.id, ApiKey.role, ApiKey.sources, ApiKey.last_used_at, *_ORGANIZATIONS.columns)
    .join(_ORGANIZATIONS, _ORGANIZATIONS.c.id == ApiKey.organization_id)
    .where(ApiKey.key_hash == bindparam("hash"), ApiKey.revoked_at.is_(None))
)


def authenticate(db: Session | Connection, *, key: str) -> Principal | None:
    """The principal behind a plain API key, or None when it is unknown or revoked.

    Runs on every request: one prepared statement on the connection (or the session's), no ORM.
    """
    if not _well_formed(key):
        return None
    connection = db if isinstance(db, Connection) else db.connection()
    row = _KEY_WITH_ORGANIZATION.first(connection, {"hash": hash_key(key)})
    if row is not None and isinstance(db, Connection) and _stale(row[3]):
        # the request path's connection (autocommit); a session's caller is a tool or a test
        _touch(connection, key_id=row[0])
    return _principal(row)


async def authenticate_async(
    connection: AsyncConnection, dialect: Dialect, *, key: str
) -> Principal | None:
    """:func:`authenticate` on an asynchronous psycopg connection (the request path's)."""
    if not _well_formed(key):
        return None
    row = await _KEY_WITH_ORGANIZATION.first_async(connection, dialect, {"hash": hash_key(key)})
    if row is not None and _stale(row[3]):
        await _touch_async(connection, key_id=row[0])
    return _principal(row)


def _stale(last_used_at: datetime | None) -> bool:
    return last_used_at is None or utcnow() - last_used_at >= KEY_USE_GRANULARITY


def _touch(connection: Connection, *, key_id: uuid.UUID) -> None:
    """Record the key's use on an autocommit connection, best effort: a request never waits
    or fails for it. A row another transaction has locked is skipped (PostgreSQL: SKIP
    LOCKED), and so is the write while another process holds SQLite's write lock; the next
    request tries again."""
    now = utcnow()
    due = (
        select(ApiKey.id)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - KEY_USE_GRANULARITY),
        )
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = update(ApiKey).where(ApiKey.id == due).values(last_used_at=now)
    try:
        with without_lock_wait(connection):
            connection.execute(statement)
    except Exception as exc:
        log.debug("crm.api_key.touch_skipped", key_id=str(key_id), error=type(exc).__name__)


async def _touch_async(connection: AsyncConnection, *, key_id: uuid.UUID) -> None:
    now = utcnow()
    try:
        await connection.execute(
            "UPDATE api_keys SET last_used_at = %(now)s WHERE id = (SELECT id FROM api_keys "
            "WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(stale)s) "
            "FOR UPDATE SKIP LOCKED)",
            {"now": now, "id": key_id, "stale": now - KEY_USE_GRANULARITY},
        )
    except Exception as exc:  # a lock or a timeout: try again next time
        log.debug("crm.api_key.touch_skipped", key_id=str(key_id), error=type(exc).__name__)


def _well_formed(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) <= 200


def _principal(row: tuple | None) -> Principal | None:
    if row is None:
        return None
    key_id, role, sources, _last_used_at, *org_values = row
    org = as_loaded(Organization, dict(zip(_ORGANIZATION_ATTRIBUTES, org_values, strict=True)))
    return Principal(
        organization=org, role=Role[role.upper()], key_id=key_id, sources=tuple(sources)
    )
