"""Organizations and API keys: create, find, authenticate."""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import AsyncConnection
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import IdentityError, normalize_region
from crm.models import ApiKey, Organization, utcnow
from crm.models.base import as_loaded
from crm.prepared import PreparedSelect
from crm.tenancy.sources import DEFAULT_KEY_SOURCES, key_sources

KEY_PREFIX = "crm_"


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


def create_organization(session: Session, *, name: str, region: str = "AU") -> Organization:
    """Create an organization; its name is unique."""
    name = " ".join(name.split())
    if not name:
        raise ServiceError(ErrorCode.INVALID_INPUT, "name must not be empty", field="name")
    try:
        region = normalize_region(region)
    except IdentityError as exc:
        raise ServiceError(exc.code.value, exc.message, field="region") from exc
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
    """An organization by its id or its exact name."""
    try:
        org = session.get(Organization, uuid.UUID(ref))
    except ValueError:
        org = None
    if org is None:
        org = session.exec(
            select(Organization).where(Organization.name == ref)
        ).scalar_one_or_none()
    if org is None:
        raise NotFound("organization")
    return org


def create_api_key(
    session: Session,
    *,
    organization_id: uuid.UUID,
    role: str,
    name: str | None = None,
    sources: Iterable[str] | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the organization; the plain key is returned once and stored hashed.

    ``sources``: the names the key may write observations as (default ``api``; a PMS's name
    for the key of that connection; never ``manual``).
    """
    parsed = Role.parse(role)
    allowed = key_sources(sources)
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


def revoke_api_key(session: Session, *, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key of the organization; it stops working at once."""
    key = session.get(ApiKey, key_id)
    if key is None or key.organization_id != organization_id:
        raise NotFound("api key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


_ORGANIZATIONS = Organization.__table__
_ORGANIZATION_ATTRIBUTES = [
    Organization.__mapper__.get_property_by_column(c).key for c in _ORGANIZATIONS.columns
]
_KEY_WITH_ORGANIZATION = PreparedSelect(
    select(ApiKey.id, ApiKey.role, ApiKey.sources, *_ORGANIZATIONS.columns)
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
    return _principal(_KEY_WITH_ORGANIZATION.first(connection, {"hash": hash_key(key)}))


async def authenticate_async(
    connection: AsyncConnection, dialect: Dialect, *, key: str
) -> Principal | None:
    """:func:`authenticate` on an asynchronous psycopg connection (the request path's)."""
    if not _well_formed(key):
        return None
    row = await _KEY_WITH_ORGANIZATION.first_async(connection, dialect, {"hash": hash_key(key)})
    return _principal(row)


def _well_formed(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) <= 200


def _principal(row: tuple | None) -> Principal | None:
    if row is None:
        return None
    key_id, role, sources, *org_values = row
    org = as_loaded(Organization, dict(zip(_ORGANIZATION_ATTRIBUTES, org_values, strict=True)))
    return Principal(
        organization=org, role=Role[role.upper()], key_id=key_id, sources=tuple(sources)
    )
