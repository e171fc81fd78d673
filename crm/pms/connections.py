"""PMS connections: add (credentials checked and encrypted), list, change, test, remove."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session
from sqlmodel import Session, select

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.models import (
    Organization,
    PmsAppointment,
    PmsAppointmentType,
    PmsConnection,
    PmsPractitioner,
    PmsSyncRun,
    utcnow,
)
from crm.models.base import parse_uuid
from crm.models.pms import PMS_TYPES
from crm.pms import secrets
from crm.pms.adapters.base import PmsAdapter
from crm.pms.tokens import ConnectionTokenStore, Token, TokenStore
from crm.settings import Settings

# the credentials each PMS takes (CONTRACT.md, "Integrations")
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "CLINIKO": ("apiKey",),
    "HALAXY": ("clientId", "clientSecret"),
    "MEDIRECORDS": ("token", "practiceId"),
    "GENTU": ("pairingCode",),
}
# what else a PMS's credentials may hold (an alias; what pairing returns)
OPTIONAL_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "CLINIKO": ("api_key",),
    "HALAXY": (),
    "MEDIRECORDS": (),
    "GENTU": ("tenantId", "tenantSecret"),
}
DEFAULT_NAMES = {
    "CLINIKO": "Cliniko",
    "HALAXY": "Halaxy",
    "MEDIRECORDS": "MediRecords",
    "GENTU": "Gentu",
}
MAX_FREQUENCY_MINUTES = 7 * 24 * 60
_UNSET: Any = object()


def parse_type(value: str) -> str:
    kind = str(value or "").strip().upper()
    if kind not in PMS_TYPES:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"type must be one of {', '.join(t.lower() for t in PMS_TYPES)}",
            field="type",
        )
    return kind


def _key_name(key: str) -> str:
    # a key that is not a plain name may be a secret pasted in the wrong place: not repeated
    return repr(key) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", key) else "a key"


def check_credentials(kind: str, credentials: Any) -> dict[str, Any]:
    """The credentials as a dict holding what ``kind`` needs; the message names keys only."""
    if not isinstance(credentials, Mapping):
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "credentials must be a JSON object", field="credentials"
        )
    required = REQUIRED_CREDENTIALS[kind]
    missing = [k for k in required if not isinstance(credentials.get(k), str | int)]
    missing += [k for k in required if isinstance(credentials.get(k), str) and not credentials[k]]
    if missing:
        wanted = ", ".join(f'"{k}"' for k in required)
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"{DEFAULT_NAMES[kind]} credentials are {{{wanted}}}; missing {', '.join(missing)}",
            field="credentials",
        )
    known = set(required) | set(OPTIONAL_CREDENTIALS[kind])
    unknown = sorted(str(k) for k in credentials if k not in known)
    if unknown:
        # a typo or a setting in the wrong place would otherwise be kept and ignored
        hint = (
            "; the PMS's address is not a credential: give it as baseUrl (crm pms add --base-url)"
            if any(k.lower() in ("baseurl", "base_url", "url") for k in unknown)
            else ""
        )
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"{DEFAULT_NAMES[kind]} credentials do not take {', '.join(map(_key_name, unknown))}"
            f"{hint}",
            field="credentials",
        )
    return {str(k): v for k, v in credentials.items()}


def check_base_url(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().rstrip("/")
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host or len(text) > 500:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "baseUrl must be an http(s) URL", field="baseUrl"
        )
    return text


def check_frequency(value: int) -> int:
    if not isinstance(value, int) or not 1 <= value <= MAX_FREQUENCY_MINUTES:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"syncFrequencyMinutes is 1 to {MAX_FREQUENCY_MINUTES}",
            field="syncFrequencyMinutes",
        )
    return value


def adapter_for(
    connection: PmsConnection,
    *,
    region: str | None = None,
    settings: Settings | None = None,
    credentials: Mapping[str, Any] | None = None,
    token_store: TokenStore | None = _UNSET,
) -> PmsAdapter:
    """The adapter that talks to ``connection``'s PMS (credentials decrypted in memory).

    OAuth PMSs keep their access token on the connection's row (``ConnectionTokenStore``)
    when ``connection`` is stored in a database: every run and process reuses it."""
    creds = (
        credentials
        if credentials is not None
        else secrets.decrypt(connection.credentials_encrypted, settings=settings)
    )
    if token_store is _UNSET:
        token_store = _token_store(connection, settings)
    if connection.type == "CLINIKO":
        from crm.pms.adapters.cliniko import ClinikoAdapter

        return ClinikoAdapter(
            connection_id=str(connection.id),
            credentials=creds,
            base_url=connection.base_url,
            region=region,
            settings=settings,
        )
    if connection.type in ("HALAXY", "MEDIRECORDS"):
        from crm.pms.adapters.fhir import HalaxyAdapter, MediRecordsAdapter

        if connection.type == "MEDIRECORDS":  # a lasting bearer token: nothing to keep
            return MediRecordsAdapter(
                connection_id=str(connection.id),
                credentials=creds,
                base_url=connection.base_url,
                region=region,
                settings=settings,
            )
        return HalaxyAdapter(
            connection_id=str(connection.id),
            credentials=creds,
            base_url=connection.base_url,
            region=region,
            settings=settings,
            token_store=token_store,
        )
    if connection.type == "GENTU":
        from crm.pms.adapters.gentu import GentuAdapter

        return GentuAdapter(
            connection_id=str(connection.id),
            credentials=creds,
            base_url=connection.base_url,
            region=region,
            settings=settings,
            token_store=token_store,
        )
    raise ServiceError(ErrorCode.INVALID_INPUT, f"unknown PMS type {connection.type}", field="type")


def _token_store(
    connection: PmsConnection, settings: Settings | None
) -> ConnectionTokenStore | None:
    """The store of the connection's token: its row, through the engine of the session that
    holds it (None for a connection not in a session: a token is then kept in memory)."""
    session = object_session(connection)
    bind = session.get_bind() if session is not None else None
    if not isinstance(bind, Engine):
        return None
    return ConnectionTokenStore(bind, connection.id, settings=settings)


class _OnTheRow:
    """A token store for a connection being added or paired: the token the check fetched
    goes into the row with the rest of the change (flushed by the caller)."""

    def __init__(self, connection: PmsConnection, settings: Settings | None) -> None:
        self._connection = connection
        self._settings = settings

    def load(self) -> Token | None:
        return None

    def save(self, token: Token) -> None:
        self._connection.access_token_encrypted = secrets.encrypt(
            {"accessToken": token.value}, settings=self._settings
        )
        self._connection.token_expires_at = datetime.fromtimestamp(token.expires_at, UTC)


def test_adapter(adapter: PmsAdapter) -> None:
    """Raise ``PmsError`` unless the PMS accepts the credentials."""
    try:
        adapter.health_check()
    finally:
        adapter.close()


def create_connection(
    session: Session,
    *,
    organization: Organization,
    type: str,
    credentials: Any,
    display_name: str | None = None,
    base_url: str | None = None,
    sync_frequency_minutes: int = 15,
    sync_enabled: bool = True,
    test: bool = True,
    settings: Settings | None = None,
) -> PmsConnection:
    """A new connection; with ``test`` the PMS must accept the credentials first."""
    kind = parse_type(type)
    creds = check_credentials(kind, credentials)
    _check_no_other(session, organization_id=organization.id, kind=kind)
    name = (display_name or "").strip() or DEFAULT_NAMES[kind]
    if len(name) > 200:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "displayName is 1 to 200 characters", field="displayName"
        )
    connection = PmsConnection(
        organization_id=organization.id,
        type=kind,
        display_name=name,
        base_url=check_base_url(base_url),
        credentials_encrypted=secrets.encrypt(creds, settings=settings),
        sync_frequency_minutes=check_frequency(sync_frequency_minutes),
        sync_enabled=bool(sync_enabled),
        practice_id=str(creds["practiceId"]) if kind == "MEDIRECORDS" else None,
    )
    if kind == "GENTU" and test:
        # the pairing code is used once: what is stored is the tenant's lasting credentials
        _pair(connection, str(creds["pairingCode"]), settings=settings)
        creds = secrets.decrypt(connection.credentials_encrypted, settings=settings)
    if test:
        test_adapter(
            adapter_for(
                connection,
                region=organization.default_region,
                settings=settings,
                credentials=creds,
                token_store=_OnTheRow(connection, settings),
            )
        )
    try:
        with session.begin_nested():
            session.add(connection)
            session.flush()
    except IntegrityError:  # another request added one meanwhile
        _check_no_other(session, organization_id=organization.id, kind=kind)
        raise
    return connection


def _check_no_other(session: Session, *, organization_id: uuid.UUID, kind: str) -> None:
    """One account of each PMS per organization: a PMS's patient ids are the organization's
    exclusive identifiers (``CLINIKO:<id>``), and two accounts may number patients alike."""
    existing = session.exec(
        select(PmsConnection.id).where(
            PmsConnection.organization_id == organization_id, PmsConnection.type == kind
        )
    ).first()
    if existing is not None:
        raise ServiceError(
            ErrorCode.PMS_CONNECTION_EXISTS,
            f"this organization has a {DEFAULT_NAMES[kind]} connection already ({existing}): "
            f"one {DEFAULT_NAMES[kind]} account per organization, as two accounts' patient ids "
            "may be the same; change its credentials (updatePmsConnection) or delete it first",
            field="type",
        )


def _pair(connection: PmsConnection, pairing_code: str, *, settings: Settings | None) -> None:
    from crm.pms.adapters.gentu import pair
    from crm.settings import get_settings

    lasting = pair(connection.base_url, pairing_code, settings=settings or get_settings())
    connection.credentials_encrypted = secrets.encrypt(lasting, settings=settings)
    connection.tenant_id = lasting["tenantId"]
    connection.access_token_encrypted = None
    connection.token_expires_at = None
    connection.failure_count = 0
    connection.next_attempt_at = None


def pair_connection(
    session: Session,
    *,
    organization: Organization,
    connection_id: Any,
    pairing_code: str,
    settings: Settings | None = None,
) -> PmsConnection:
    """Pair (or pair again) a Gentu connection with a one-time pairing code from Gentu:
    the code becomes the tenant id and its secret (stored encrypted), then checked."""
    connection = get_connection(
        session, organization_id=organization.id, connection_id=connection_id
    )
    if connection.type != "GENTU":
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "only Gentu connections are paired", field="connectionId"
        )
    code = str(pairing_code or "").strip()
    if not code or len(code) > 200:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "pairingCode is 1 to 200 characters", field="pairingCode"
        )
    _pair(connection, code, settings=settings)
    test_adapter(
        adapter_for(
            connection,
            region=organization.default_region,
            settings=settings,
            token_store=_OnTheRow(connection, settings),
        )
    )
    connection.updated_at = utcnow()
    session.add(connection)
    session.flush()
    return connection


def get_connection(
    session: Session, *, organization_id: uuid.UUID, connection_id: Any
) -> PmsConnection:
    """The organization's connection ``connection_id``, else NOT_FOUND."""
    cid = parse_uuid(connection_id)
    connection = session.get(PmsConnection, cid) if cid is not None else None
    if connection is None or connection.organization_id != organization_id:
        raise NotFound("PMS connection", field="connectionId")
    return connection


def list_connections(session: Session, *, organization_id: uuid.UUID) -> list[PmsConnection]:
    """The organization's connections, oldest first."""
    return list(
        session.exec(
            select(PmsConnection)
            .where(PmsConnection.organization_id == organization_id)
            .order_by(PmsConnection.id)
        ).all()
    )


def update_connection(
    session: Session,
    *,
    organization_id: uuid.UUID,
    connection_id: Any,
    display_name: str | None = _UNSET,
    credentials: Any = _UNSET,
    base_url: str | None = _UNSET,
    sync_enabled: bool = _UNSET,
    sync_frequency_minutes: int = _UNSET,
    settings: Settings | None = None,
) -> PmsConnection:
    """Change what is given; new credentials are re-encrypted and reset the failure count."""
    connection = get_connection(
        session, organization_id=organization_id, connection_id=connection_id
    )
    if display_name is not _UNSET and display_name is not None:
        name = display_name.strip()
        if not name or len(name) > 200:
            raise ServiceError(
                ErrorCode.INVALID_INPUT, "displayName is 1 to 200 characters", field="displayName"
            )
        connection.display_name = name
    if credentials is not _UNSET and credentials is not None:
        creds = check_credentials(connection.type, credentials)
        connection.credentials_encrypted = secrets.encrypt(creds, settings=settings)
        connection.access_token_encrypted = None
        connection.token_expires_at = None
        connection.failure_count = 0
        connection.next_attempt_at = None
    if base_url is not _UNSET:
        connection.base_url = check_base_url(base_url)
    if sync_enabled is not _UNSET and sync_enabled is not None:
        connection.sync_enabled = bool(sync_enabled)
    if sync_frequency_minutes is not _UNSET and sync_frequency_minutes is not None:
        connection.sync_frequency_minutes = check_frequency(sync_frequency_minutes)
    connection.updated_at = utcnow()
    session.add(connection)
    session.flush()
    return connection


def delete_connection(session: Session, *, organization_id: uuid.UUID, connection_id: Any) -> None:
    """Remove the connection with its runs and synced appointments. The contacts and source
    records the sync brought stay: they are the organization's data, not the connection's."""
    connection = get_connection(
        session, organization_id=organization_id, connection_id=connection_id
    )
    if session.exec(
        select(PmsSyncRun.id).where(
            PmsSyncRun.connection_id == connection.id, PmsSyncRun.status == "running"
        )
    ).first():
        raise ServiceError(
            ErrorCode.SYNC_RUNNING, "a sync of this connection is running", field="connectionId"
        )
    for table in (
        PmsAppointment.__table__,
        PmsSyncRun.__table__,
        PmsPractitioner.__table__,
        PmsAppointmentType.__table__,
    ):
        session.execute(sa.delete(table).where(table.c.connection_id == connection.id))
    session.delete(connection)
    session.flush()


def test_connection(
    session: Session,
    *,
    organization: Organization,
    connection_id: Any,
    settings: Settings | None = None,
) -> PmsConnection:
    """Check the stored credentials against the PMS (``PmsError`` when refused)."""
    connection = get_connection(
        session, organization_id=organization.id, connection_id=connection_id
    )
    test_adapter(adapter_for(connection, region=organization.default_region, settings=settings))
    return connection
