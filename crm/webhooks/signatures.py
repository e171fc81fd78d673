"""Signature checks per provider, all constant-time (``hmac.compare_digest``)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

CAREPORTALS_HEADER = "x-careportals-signature"
WHATSAPP_HEADER = "x-hub-signature-256"


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``: what the providers send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().lower().encode())


def verified(
    provider: str,
    *,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> bool:
    """Whether the delivery carries the endpoint's secret as ``provider`` sends it.

    CarePortals: ``X-CarePortals-Signature``. Chatwoot (which signs nothing itself): the
    secret as ``?token=`` in the URL it is given, or the same signature header. WhatsApp
    Cloud: ``X-Hub-Signature-256`` keyed with the app secret. None of these providers sends a
    signed timestamp, so there is no replay window to check; a replayed delivery is a
    duplicate and has no second effect (the inbox's event id).
    """
    if provider == "CAREPORTALS":
        return _matches(secret, body, headers.get(CAREPORTALS_HEADER))
    if provider == "CHATWOOT":
        token = query.get("token")
        if token is not None:
            return hmac.compare_digest(token.encode(), secret.encode())
        return _matches(secret, body, headers.get(CAREPORTALS_HEADER))
    if provider == "WHATSAPP":
        return _matches(secret, body, headers.get(WHATSAPP_HEADER))
    return False
