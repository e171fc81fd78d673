"""The PMS HTTP client against a real loopback server: retries, waits, tokens, errors."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm.errors import ErrorCode
from crm.pms.fake_cliniko import LoopbackServer
from crm.pms.http import PmsError, PmsHttp
from crm.pms.ratelimit import LocalLimiter
from crm.pms.tokens import TokenManager, client_credentials
from tests.pms.conftest import API_KEY


class Sleeps(list):
    """Records the waits; sleeps for real only when asked (a wait on the real clock)."""

    def __init__(self, *, real: bool = False) -> None:
        super().__init__()
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.real:
            time.sleep(seconds)


def client_for(fake, settings, *, sleep=None, limiter=None) -> PmsHttp:
    return PmsHttp(
        pms="Cliniko",
        base_url=fake.base_url,
        auth=httpx.BasicAuth(API_KEY, ""),
        limiter=limiter if limiter is not None else LocalLimiter(limit=200, window=60),
        settings=settings,
        sleep=sleep if sleep is not None else Sleeps(),
    )


class TestRetries:
    def test_transient_500s_are_tried_again(self, fake, settings):
        fake.fail_next(2, status=502)
        sleeps = Sleeps()
        with client_for(fake, settings, sleep=sleeps) as http:
            body = http.get_json("patients")
        assert body["patients"] == []
        assert len(sleeps) == 2 and all(0 < s <= 30 for s in sleeps)
        assert len(fake.requests) == 3

    def test_a_429_waits_until_the_reset_the_pms_names(self, fake, settings):
        fake.rate_limit_next(1, reset_in=1)
        sleeps = Sleeps(real=True)
        limiter = LocalLimiter(limit=200, window=60)
        with client_for(fake, settings, sleep=sleeps, limiter=limiter) as http:
            http.get_json("patients")
        # the wait came from X-RateLimit-Reset, not from the backoff's first half second
        assert sum(sleeps) >= 1
        assert len(fake.requests) == 2

    def test_an_answer_slower_than_the_timeout_is_tried_again(self, fake, settings):
        fake.slow_next(1, seconds=settings.pms_http_timeout * 4)
        with client_for(fake, settings) as http:
            assert http.get_json("patients")["patients"] == []
        assert len(fake.requests) == 2

    def test_an_outage_fails_with_a_clear_error_naming_no_secret(self, fake, settings):
        fake.fail_from_request = 1
        with client_for(fake, settings) as http, pytest.raises(PmsError) as caught:
            http.get_json("patients")
        assert caught.value.code == ErrorCode.PMS_UNAVAILABLE
        assert "503" in caught.value.message
        assert API_KEY not in caught.value.message
        assert len(fake.requests) == settings.pms_http_attempts

    def test_a_connection_refused_is_transient_then_unavailable(self, settings):
        with LoopbackServer(Starlette()) as server:
            url = server.url
        http = PmsHttp(
            pms="Cliniko",
            base_url=url,
            limiter=LocalLimiter(limit=9, window=60),
            settings=settings,
            sleep=Sleeps(),
        )
        with http, pytest.raises(PmsError) as caught:
            http.get_json("patients")
        assert caught.value.code == ErrorCode.PMS_UNAVAILABLE


class TestRequests:
    def test_basic_auth_with_the_key_and_the_user_agent(self, fake, settings):
        with client_for(fake, settings) as http:
            http.get_json("patients")
        assert fake.requests[0]["user_agent"] == settings.pms_user_agent

    def test_refused_credentials(self, fake, settings):
        http = PmsHttp(
            pms="Cliniko",
            base_url=fake.base_url,
            auth=httpx.BasicAuth("wrong-au2", ""),
            limiter=LocalLimiter(limit=9, window=60),
            settings=settings,
            sleep=Sleeps(),
        )
        with http, pytest.raises(PmsError) as caught:
            http.get_json("patients")
        assert caught.value.code == ErrorCode.PMS_AUTH_FAILED
        assert len(fake.requests) == 1  # a refusal is not tried again

    def test_remaining_zero_pauses_the_budget(self, settings):
        reset = time.time() + 40

        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse(
                {"ok": True},
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
            )

        limiter = LocalLimiter(limit=100, window=60)
        with (
            LoopbackServer(Starlette(routes=[Route("/x", endpoint)])) as server,
            PmsHttp(pms="Halaxy", base_url=server.url, limiter=limiter, settings=settings) as http,
        ):
            http.get_json("x")
        assert limiter.try_acquire() > 30


class TestTokens:
    def test_a_401_refreshes_the_token_once(self, settings):
        issued: list[str] = []

        async def token(request: Request) -> JSONResponse:
            form = await request.form()
            assert form["grant_type"] == "client_credentials"
            value = uuid.uuid4().hex
            issued.append(value)
            return JSONResponse({"access_token": value, "expires_in": 3600})

        async def resource(request: Request) -> JSONResponse:
            # only the newest token is valid: the first was revoked by the PMS
            good = issued and request.headers.get("authorization") == f"Bearer {issued[-1]}"
            if len(issued) < 2 or not good:
                return JSONResponse({"error": "expired"}, status_code=401)
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route("/token", token, methods=["POST"]), Route("/r", resource)])
        with LoopbackServer(app) as server:
            tokens = TokenManager(
                client_credentials(
                    token_url=f"{server.url}/token",
                    client_id="id",
                    client_secret="secret",
                    user_agent="t (t@example.com)",
                )
            )
            with PmsHttp(
                pms="Halaxy",
                base_url=server.url,
                tokens=tokens,
                limiter=LocalLimiter(limit=9, window=60),
                settings=settings,
            ) as http:
                assert http.get_json("r") == {"ok": True}
        assert tokens.fetches == 2

    def test_a_token_is_refreshed_before_it_expires(self):
        now = [1000.0]
        made: list[int] = []

        def fetch():
            from crm.pms.tokens import Token

            made.append(1)
            return Token(f"t{len(made)}", now[0] + 300)

        tokens = TokenManager(fetch, margin=60, clock=lambda: now[0])
        assert tokens.token() == "t1"
        now[0] += 200
        assert tokens.token() == "t1"
        now[0] += 50  # within the margin of the expiry
        assert tokens.token() == "t2"
