"""Gentu (Magentus): pairing, then the FHIR R4 mapping.

**Gentu's partner API is not public. Everything about its shape here is an assumption,
confined to this module** (docs/pms.md, "Gentu"):

- The practice generates a one-time pairing code in Gentu. ``POST {base}/pairing`` with
  ``{"pairingCode"}`` answers ``{"tenantId", "tenantSecret"}`` (400 once the code is used or
  unknown).
- ``POST {base}/tenants/{tenantId}/token`` with ``{"tenantSecret"}`` answers
  ``{"accessToken", "expiresIn"}``: a bearer token, cached and refreshed by the token manager.
- The data is FHIR R4 under ``{base}/tenants/{tenantId}/fhir`` (Patient, Appointment,
  Practitioner), read with the same mapping as Halaxy and MediRecords.
- 300 requests a minute assumed.

The pairing code is used once: after pairing, the stored credentials are
``{"tenantId", "tenantSecret"}`` and the connection's ``tenant_id`` is set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from crm.errors import ErrorCode
from crm.identity import Channel
from crm.pms.adapters.fhir import FHIR_JSON, FhirAdapter, _text, explain
from crm.pms.http import PmsError, PmsHttp
from crm.pms.ratelimit import limiter_for
from crm.pms.tokens import Token, TokenManager, TokenStore
from crm.settings import Settings, get_settings

BASE_URL = "https://api.gentu.com.au/v1"  # assumed
RATE_LIMIT = 300


def _post(settings: Settings, url: str, body: dict[str, Any]) -> httpx.Response:
    try:
        with httpx.Client(timeout=settings.pms_http_timeout) as client:
            return client.post(
                url,
                json=body,
                headers={"User-Agent": settings.pms_user_agent, "Accept": "application/json"},
            )
    except httpx.HTTPError as exc:
        raise PmsError(
            ErrorCode.PMS_UNAVAILABLE, f"Gentu could not be reached ({type(exc).__name__})"
        ) from None


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PmsError(
            ErrorCode.PMS_BAD_RESPONSE, f"Gentu answered {response.status_code} without {what}"
        )
    return body


def pair(base_url: str | None, pairing_code: str, *, settings: Settings) -> dict[str, str]:
    """Exchange a one-time pairing code for the tenant's lasting credentials."""
    base = (base_url or BASE_URL).rstrip("/")
    response = _post(settings, f"{base}/pairing", {"pairingCode": pairing_code.strip()})
    if response.status_code in (400, 401, 403, 404, 410):
        raise PmsError(
            ErrorCode.PMS_AUTH_FAILED,
            f"Gentu refused the pairing code ({response.status_code}): it is used, expired or "
            "mistyped; generate a new one in Gentu",
            field="pairingCode",
        )
    if response.status_code >= 400:
        raise PmsError(
            ErrorCode.PMS_UNAVAILABLE, f"Gentu answered {response.status_code} to the pairing"
        )
    body = _json(response, "a tenant")
    tenant, secret = _text(body.get("tenantId")), _text(body.get("tenantSecret"))
    if not tenant or not secret:
        raise PmsError(ErrorCode.PMS_BAD_RESPONSE, "Gentu's pairing answer has no tenant")
    return {"tenantId": tenant, "tenantSecret": secret}


class GentuAdapter(FhirAdapter):
    source = "gentu"
    channel = Channel.GENTU
    pms = "Gentu"

    def __init__(
        self,
        *,
        connection_id: str,
        credentials: Mapping[str, Any],
        base_url: str | None = None,
        region: str | None = "AU",
        settings: Settings | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        settings = settings or get_settings()
        tenant, secret = _text(credentials.get("tenantId")), _text(credentials.get("tenantSecret"))
        if not tenant or not secret:
            raise PmsError(
                ErrorCode.INVALID_INPUT,
                "this Gentu connection is not paired: pair it with a pairing code "
                "(pairGentuConnection, crm pms pair)",
                field="pairingCode",
            )
        self.region = region
        base = (base_url or BASE_URL).rstrip("/")

        def fetch() -> Token:
            response = _post(settings, f"{base}/tenants/{tenant}/token", {"tenantSecret": secret})
            if response.status_code in (400, 401, 403):
                raise PmsError(
                    ErrorCode.PMS_AUTH_FAILED,
                    f"Gentu refused the tenant's secret ({response.status_code}): pair again",
                    field="credentials",
                )
            body = _json(response, "a token")
            value = _text(body.get("accessToken"))
            if not value:
                raise PmsError(ErrorCode.PMS_BAD_RESPONSE, "Gentu's token answer has no token")
            return Token(value, time.time() + float(body.get("expiresIn") or 900))

        super().__init__(
            http=PmsHttp(
                pms=self.pms,
                base_url=f"{base}/tenants/{tenant}/fhir",
                tokens=TokenManager(fetch, store=token_store),
                limiter=limiter_for(f"gentu:{connection_id}", limit=RATE_LIMIT),
                settings=settings,
                headers={"Accept": FHIR_JSON},
                explain=explain(self.pms),
            ),
            settings=settings,
        )
