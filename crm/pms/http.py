"""The HTTP client every PMS adapter uses: timeouts, retries, the rate limit, tokens.

Transient answers (408, 429, 500, 502, 503, 504) and connection errors and timeouts are tried
again with exponential backoff and jitter (tenacity); a ``Retry-After`` or
``X-RateLimit-Reset`` the PMS sends decides the wait instead, and a 429's reset pauses every
process sharing the connection's budget. ``x-ratelimit-remaining: 0`` pauses before the PMS
has to refuse. A 401 with a token manager refreshes the token once and tries again.

Error messages name the PMS, the status and the path, never credentials or personal data.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from crm.errors import ErrorCode, ServiceError
from crm.pms.ratelimit import RateLimiter, acquire
from crm.pms.tokens import TokenManager
from crm.settings import Settings, get_settings

log = structlog.get_logger(__name__)

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class PmsError(ServiceError):
    """The PMS could not be used: refused credentials, unreachable, or an unreadable answer."""


class Transient(Exception):
    """One try failed in a way that may pass; ``wait`` is what the PMS asked for, if anything."""

    def __init__(self, message: str, *, wait: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.wait = wait


def _header_wait(response: httpx.Response, *, now: float) -> float | None:
    """Seconds the PMS asked us to wait: ``Retry-After`` (seconds or an HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds)."""
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = _reset_epoch(response)
    if reset is not None:
        return max(0.0, reset - now)
    return None


def _reset_epoch(response: httpx.Response) -> float | None:
    reset = response.headers.get("x-ratelimit-reset")
    if not reset:
        return None
    try:
        value = float(reset)
    except ValueError:
        return None
    # some APIs send seconds from now rather than an epoch time
    return value if value > 1_000_000_000 else time.time() + value


class PmsHttp:
    """Calls to one PMS account, through its connection's rate limit."""

    def __init__(
        self,
        *,
        pms: str,
        base_url: str,
        limiter: RateLimiter,
        auth: httpx.Auth | None = None,
        tokens: TokenManager | None = None,
        settings: Settings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
        explain: Callable[[httpx.Response], PmsError | None] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.pms = pms
        self.limiter = limiter
        self.tokens = tokens
        self._sleep = sleep
        self.requests = 0  # requests sent, retries included
        # reads an error answer's body (a FHIR OperationOutcome) into a clearer error
        self._explain = explain
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            auth=auth,
            timeout=httpx.Timeout(self.settings.pms_http_timeout),
            headers={
                "User-Agent": self.settings.pms_user_agent,
                "Accept": "application/json",
                **(headers or {}),
            },
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()
        close = getattr(self.limiter, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> PmsHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, url: str, params: Any = None) -> dict[str, Any]:
        """GET ``url`` (a path under the base URL, or a full ``links.next`` URL) as a JSON
        object, retrying what may pass."""
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.pms_http_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(url, params)
        except Transient as exc:
            raise PmsError(
                ErrorCode.PMS_UNAVAILABLE,
                f"{self.pms} did not answer usefully after "
                f"{self.settings.pms_http_attempts} tries: {exc.message}",
            ) from None
        raise AssertionError("unreachable")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = exc.wait if isinstance(exc, Transient) else None
        if asked is not None:
            if asked > self.settings.pms_http_max_wait:
                raise PmsError(
                    ErrorCode.PMS_UNAVAILABLE,
                    f"{self.pms} asked to wait {asked:.0f} s, beyond the "
                    f"{self.settings.pms_http_max_wait:.0f} s limit",
                )
            return asked + 0.05
        return wait_exponential_jitter(multiplier=0.5, max=30, jitter=0.5)(state)

    def _once(self, url: str, params: Any) -> dict[str, Any]:
        path = httpx.URL(url).path or url
        try:
            acquire(self.limiter, sleep=self._sleep, max_wait=self.settings.pms_http_max_wait)
        except TimeoutError:
            raise Transient(f"no request slot in the rate limit for {path}") from None
        refreshed = False
        while True:
            headers = {}
            if self.tokens is not None:
                headers["Authorization"] = f"Bearer {self.tokens.token()}"
            self.requests += 1
            try:
                response = self.client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                raise Transient(f"timed out on {path}") from None
            except httpx.TransportError as exc:
                raise Transient(f"connection failed on {path} ({type(exc).__name__})") from None
            if response.status_code == 401 and self.tokens is not None and not refreshed:
                self.tokens.invalidate()
                refreshed = True
                continue
            break
        self._note_budget(response)
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            wait = _header_wait(response, now=time.time())
            if status == 429 and (reset := _reset_epoch(response)) is not None:
                self.limiter.block_until(reset)
            log.info("crm.pms.http.transient", pms=self.pms, status=status, path=path)
            raise Transient(f"{status} on {path}", wait=wait)
        if status >= 400 and self._explain is not None:
            explained = self._explain(response)
            if explained is not None:
                raise explained
        if status in (401, 403):
            raise PmsError(
                ErrorCode.PMS_AUTH_FAILED,
                f"{self.pms} refused the credentials ({status} on {path})",
                field="credentials",
            )
        if status >= 400:
            raise PmsError(ErrorCode.PMS_BAD_RESPONSE, f"{self.pms} answered {status} on {path}")
        try:
            body = orjson.loads(response.content)
        except ValueError:
            raise PmsError(
                ErrorCode.PMS_BAD_RESPONSE, f"{self.pms} answered with no JSON on {path}"
            ) from None
        if not isinstance(body, dict):
            raise PmsError(
                ErrorCode.PMS_BAD_RESPONSE, f"{self.pms} answered with no JSON object on {path}"
            )
        return body

    def _note_budget(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is None or response.status_code == 429:
            return
        try:
            left = int(float(remaining))
        except ValueError:
            return
        if left <= 0 and (reset := _reset_epoch(response)) is not None:
            self.limiter.block_until(reset)
