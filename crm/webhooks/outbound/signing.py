"""The Standard Webhooks signature (standardwebhooks.com): ``webhook-signature: v1,<base64
HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`` keyed with the secret's bytes (the
base64 after ``whsec_``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"


def new_secret() -> str:
    """``whsec_`` and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id=msg_id, timestamp=timestamp, body=body),
        "content-type": "application/json",
    }


# how far a receiver lets ``webhook-timestamp`` be from its clock (the Standard Webhooks
# libraries' default): an older message is stale, a replay
TOLERANCE = 300


def verify(
    secret: str,
    *,
    msg_id: str,
    timestamp: str,
    body: bytes,
    header: str,
    tolerance: int | None = TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver does: whether the timestamp is within ``tolerance`` seconds of ``now``
    (not stale) and one of the header's space-separated signatures is ours."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if tolerance is not None and abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    expected = signature(secret, msg_id=msg_id, timestamp=sent, body=body)
    return any(hmac.compare_digest(expected, s) for s in header.split())
