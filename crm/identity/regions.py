"""Region codes (ISO 3166 alpha-2) as phonenumbers knows them."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from crm.identity.errors import ErrorCode, IdentityError

# "UK" is ISO's exceptionally reserved alias of GB, and what people type
_ALIASES = {"UK": "GB"}


@lru_cache(maxsize=1024)
def normalize_region(value: str) -> str:
    """An upper-case ISO 3166 alpha-2 code that phonenumbers supports, else INVALID_REGION."""
    code = value.strip().upper() if isinstance(value, str) else ""
    code = _ALIASES.get(code, code)
    if len(code) != 2 or code not in phonenumbers.SUPPORTED_REGIONS:
        raise IdentityError(
            ErrorCode.INVALID_REGION, "not a supported ISO 3166 alpha-2 region", field="region"
        )
    return code


def optional_region(value: str | None) -> str | None:
    """normalize_region, letting None through (no default region)."""
    return None if value is None else normalize_region(value)
