"""Opaque cursors: clients pass them back unchanged and never parse them."""

from __future__ import annotations

import base64
import json
from typing import Any

from crm.errors import ErrorCode, ServiceError

MAX_PAGE = 500


def encode_cursor(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        value = None
    if not isinstance(value, dict):
        raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
    return value


def check_first(first: int, *, maximum: int = MAX_PAGE) -> int:
    if first < 0 or first > maximum:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"first must be between 0 and {maximum}", field="first"
        )
    return first
