"""Access tokens for PMSs that use OAuth (client credentials): fetched, cached, refreshed.

A token is refreshed ``margin`` seconds before it expires, and at once after the PMS answers
401 (``invalidate``; the HTTP client then tries the request once more).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from crm.errors import ErrorCode, ServiceError


@dataclass(slots=True)
class Token:
    value: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at})"


class TokenManager:
    """The current token, from ``fetch`` when there is none or it is about to expire."""

    def __init__(
        self,
        fetch: Callable[[], Token],
        *,
        margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        on_new: Callable[[Token], None] | None = None,
        initial: Token | None = None,
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._on_new = on_new
        self._token = initial
        self._lock = threading.Lock()
        self.fetches = 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._token.expires_at - self._margin <= self._clock():
                self._token = self._fetch()
                self.fetches += 1
                if self._on_new is not None:
                    self._on_new(self._token)
            return self._token.value

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


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
