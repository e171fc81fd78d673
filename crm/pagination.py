"""Opaque cursors: clients pass them back unchanged and never parse them."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from crm.errors import ErrorCode, ServiceError

MAX_PAGE = 500


def encode_cursor(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# a cursor this service made is a few dozen characters; anything much longer is not one
MAX_CURSOR = 512


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a cursor value")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The value of a cursor made by ``encode_cursor``, or INVALID_INPUT on ``after``.

    Whatever a client sends is refused the same way: text that is not base64, JSON that is
    not an object, nesting deep enough to exhaust the parser, NaN or Infinity.
    """
    if cursor is None:
        return None
    value: Any = None
    if len(cursor) <= MAX_CURSOR:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            value = json.loads(
                base64.urlsafe_b64decode(padded.encode()), parse_constant=_no_constant
            )
        except (ValueError, TypeError, RecursionError, UnicodeError):
            value = None
    if not isinstance(value, dict):
        raise invalid_cursor()
    return value


def invalid_cursor() -> ServiceError:
    return ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")


def cursor_int(cursor: dict[str, Any], key: str, *, maximum: int) -> int:
    """``cursor[key]`` as an integer from 0 to ``maximum``, or INVALID_INPUT on ``after``."""
    value = cursor.get(key)
    if type(value) is not int or not 0 <= value <= maximum:
        raise invalid_cursor()
    return value


def cursor_number(cursor: dict[str, Any], key: str) -> float:
    """``cursor[key]`` as a finite float (an integer beyond 64 bits too), or INVALID_INPUT."""
    value = cursor.get(key)
    if type(value) not in (int, float):
        raise invalid_cursor()
    try:
        number = float(value)
    except OverflowError:
        raise invalid_cursor() from None
    if not math.isfinite(number):
        raise invalid_cursor()
    return number


def check_first(first: int, *, maximum: int = MAX_PAGE) -> int:
    if first < 0 or first > maximum:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"first must be between 0 and {maximum}", field="first"
        )
    return first
