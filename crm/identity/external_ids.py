"""Ids that other systems give a person (PMS patients, Chatwoot, CarePortals, anything else)."""

from __future__ import annotations

import unicodedata

from crm.identity.errors import ErrorCode, IdentityError

MAX_EXTERNAL_ID_LENGTH = 128


def normalize_external_id(value: str) -> str:
    """The stripped id, case preserved: non-empty, printable, at most 128 characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # JSON payloads (webhooks, PMS APIs) often carry numeric ids
    if not isinstance(value, str):
        raise _invalid("an external id must be text")
    text = value.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if not text:
        raise _invalid("the external id is empty")
    if len(text) > MAX_EXTERNAL_ID_LENGTH:
        raise _invalid(f"an external id is at most {MAX_EXTERNAL_ID_LENGTH} characters")
    # isprintable() is False for control, format, surrogate, private-use and unassigned
    # characters and for whitespace other than the ASCII space: none belongs in an id
    if not text.isprintable():
        raise _invalid("the external id contains control or invisible characters")
    return text


def _invalid(message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_EXTERNAL_ID, message, field="external_id")
