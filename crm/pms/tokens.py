"""Access tokens for PMSs that use OAuth (client credentials): fetched, kept, refreshed.

A token is refreshed ``margin`` seconds before it expires, and at once after the PMS answers
401 (``invalidate``; the HTTP client then tries the request once more). With a store
(``ConnectionTokenStore``) the token is kept encrypted on the connection's row with its
expiry, so every process and every run reuses it until it is due for refresh instead of
asking the PMS for a new one each time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import SQLAlchemyError

from crm.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from crm.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Token:
    value: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at})"


class TokenStore(Protocol):
    """Where a token outlives the process that fetched it."""

    def load(self) -> Token | None: ...

    def save(self, token: Token) -> None: ...


class TokenManager:
    """The current token: the one held or stored while it is not about to expire, else a new
    one from ``fetch`` (then stored)."""

    def __init__(
        self,
        fetch: Callable[[], Token],
        *,
        margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        on_new: Callable[[Token], None] | None = None,
        initial: Token | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._on_new = on_new
        self._token = initial
        self._store = store
        # the token the PMS answered 401 to: never taken from the store again
        self._refused: str | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _usable(self, token: Token | None) -> bool:
        return (
            token is not None
            and token.value != self._refused
            and token.expires_at - self._margin > self._clock()
        )

    def token(self) -> str:
        with self._lock:
            if not self._usable(self._token):
                # another process (or an earlier run) may hold a fresh one already
                stored = self._store.load() if self._store is not None else None
                if self._usable(stored):
                    self._token = stored
                else:
                    self._token = self._fetch()
                    self.fetches += 1
                    if self._store is not None:
                        self._store.save(self._token)
                    if self._on_new is not None:
                        self._on_new(self._token)
            assert self._token is not None
            return self._token.value

    def invalidate(self) -> None:
        """The PMS refused the current token (401): the next ``token()`` is a new one."""
        with self._lock:
            if self._token is not None:
                self._refused = self._token.value
            self._token = None


class ConnectionTokenStore:
    """A connection's access token, encrypted (``crm.pms.secrets``) in its row with its expiry
    (``access_token_encrypted``, ``token_expires_at``), shared by every process.

    It is a cache, and never holds up a sync: it is read without taking a lock, and written
    by a thread of its own (a sync's transaction may hold SQLite's write lock, or the row,
    while it fetches a token), the process waiting for that write before it exits. A later
    write never replaces a token that expires later. When the database cannot be read or
    written (or the token was encrypted under a key no longer known) the token is fetched
    from the PMS as if none were stored, and the failure is logged without the token.
    """

    def __init__(
        self, engine: Engine, connection_id: uuid.UUID, *, settings: Settings | None = None
    ) -> None:
        self._engine = engine
        self._connection_id = connection_id
        self._settings = settings
        self._writers: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"ConnectionTokenStore({self._connection_id})"

    def load(self) -> Token | None:
        from crm.db import read_only
        from crm.pms import secrets

        table = _table()
        try:
            with read_only(self._engine).connect() as conn:
                row = conn.execute(
                    sa.select(table.c.access_token_encrypted, table.c.token_expires_at).where(
                        table.c.id == self._connection_id
                    )
                ).first()
        except SQLAlchemyError as exc:
            log.warning("crm.pms.token.load_failed", error=type(exc).__name__)
            return None
        if row is None or not row.access_token_encrypted or row.token_expires_at is None:
            return None
        try:
            value = secrets.decrypt(row.access_token_encrypted, settings=self._settings)
        except ServiceError:
            return None
        expires = row.token_expires_at
        if expires.tzinfo is None:  # SQLite hands back naive UTC
            expires = expires.replace(tzinfo=UTC)
        text = value.get("accessToken")
        return Token(str(text), expires.timestamp()) if text else None

    def save(self, token: Token) -> None:
        from crm.pms import secrets

        encrypted = secrets.encrypt({"accessToken": token.value}, settings=self._settings)
        expires = datetime.fromtimestamp(token.expires_at, UTC)
        # not a daemon: a process that ends (``crm pms sync``) first finishes the write
        writer = threading.Thread(
            target=self._write, args=(encrypted, expires), name="crm-pms-token-save"
        )
        self._writers.append(writer)
        writer.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until the writes started so far are done (tests; a process exiting waits anyway)."""
        for writer in list(self._writers):
            writer.join(timeout)

    def _write(self, encrypted: str, expires: datetime) -> None:
        table = _table()
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    sa.update(table)
                    .where(
                        table.c.id == self._connection_id,
                        sa.or_(
                            table.c.token_expires_at.is_(None),
                            table.c.token_expires_at <= expires,
                        ),
                    )
                    .values(access_token_encrypted=encrypted, token_expires_at=expires)
                )
        except SQLAlchemyError as exc:
            log.warning("crm.pms.token.save_failed", error=type(exc).__name__)


def _table() -> sa.Table:
    from crm.models import PmsConnection

    return PmsConnection.__table__  # type: ignore[return-value]


def client_credentials(
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    scope: str | None = None,
    user_agent: str,
    timeout: float = 20.0,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    json_body: bool = False,
) -> Callable[[], Token]:
    """A ``fetch`` for ``TokenManager``: the OAuth 2 client-credentials grant.

    ``json_body``: the id and secret go in a JSON body (Halaxy's way) rather than as Basic
    auth with a form body (RFC 6749's)."""

    def fetch() -> Token:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        try:
            with httpx.Client(timeout=timeout, transport=transport) as client:
                headers = {"User-Agent": user_agent, "Accept": "application/json"}
                if json_body:
                    body = {**data, "client_id": client_id, "client_secret": client_secret}
                    response = client.post(token_url, json=body, headers=headers)
                else:
                    response = client.post(
                        token_url, data=data, auth=(client_id, client_secret), headers=headers
                    )
        except httpx.HTTPError as exc:
            raise ServiceError(
                ErrorCode.PMS_UNAVAILABLE,
                f"the token endpoint could not be reached ({type(exc).__name__})",
            ) from None
        if response.status_code in (400, 401, 403):
            raise ServiceError(
                ErrorCode.PMS_AUTH_FAILED,
                f"the token endpoint refused the client credentials ({response.status_code})",
                field="credentials",
            )
        try:
            body = response.json()
            value = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise ServiceError(
                ErrorCode.PMS_BAD_RESPONSE,
                f"the token endpoint answered {response.status_code} without a token",
            ) from None
        return Token(value, clock() + expires_in)

    return fetch
