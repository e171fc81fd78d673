"""The one string each contact is searched by."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import phonenumbers


def fold(value: str) -> str:
    """Lower-case and strip accents, so "José" is found by "jose"."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _phone_forms(e164: str) -> list[str]:
    forms = [e164.lstrip("+")]
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return forms
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    if digits and digits not in forms[0]:
        forms.append(digits)
    return forms


def build_search_text(fields: Mapping[str, Any]) -> str:
    """Names, email and phone digits (international and national) in one folded string."""
    parts: list[str] = []
    for name in ("first_name", "last_name", "email"):
        if value := fields.get(name):
            parts.append(fold(str(value)))
    if phone := fields.get("phone"):
        parts.extend(_phone_forms(str(phone)))
    return " ".join(parts)[:1000]
