"""Phone numbers to E.164 (the "tel" namespace shared by PHONE, WHATSAPP and SMS)."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, ValidationResult

from crm.identity.errors import ErrorCode, IdentityError
from crm.identity.phone_fast import VALID, fast_e164
from crm.identity.regions import optional_region

_E164 = re.compile(r"\+[1-9]\d{6,14}")
# "00" is the international prefix in most of the world; phonenumbers only honours the
# prefix of the region given, so "0061 412 ..." parsed as AU (whose prefix is 0011) fails
_DOUBLE_ZERO = re.compile(r"[\s(]*00[\s).-]*(?=[1-9])")
# digits with their country code and no "+", as PMS exports write them ("6281234567890"):
# read as international when they are not a valid number of the region (11 digits at least:
# a country code and a national number, so that a short local typo is not read abroad)
_BARE_INTERNATIONAL = re.compile(r"[1-9][0-9]{10,14}")
_MAX_LENGTH = 100
_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "not a valid phone number (unknown country code)",
    ValidationResult.TOO_SHORT: "not a valid phone number (too short)",
    ValidationResult.TOO_LONG: "not a valid phone number (too long)",
    ValidationResult.INVALID_LENGTH: "not a valid phone number (wrong length)",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "not a valid phone number (area code missing)",
}


def normalize_phone(value: str, *, region: str | None = "AU") -> str:
    """The E.164 form of a phone number in any human format, else INVALID_PHONE."""
    if not isinstance(value, str):
        raise _invalid("a phone number must be text")
    region_code = optional_region(region)  # cached; an unknown region is always an error
    if len(value) <= _MAX_LENGTH and (fast := _fast(value, region_code)) is not None:
        return fast
    if _E164.fullmatch(value):
        # already E.164 (the common case for WhatsApp and re-imports): the region plays no part
        number = _parse(value, None)
    elif len(value) > _MAX_LENGTH:
        raise _invalid("too long to be a phone number")
    else:
        number = _parse(value, region_code)
    if number is not None and _is_valid(number):
        return _e164(number)
    if prefix := _DOUBLE_ZERO.match(value):
        international = _parse("+" + value[prefix.end() :], None)
        if international is not None and _is_valid(international):
            return _e164(international)
    if bare := _bare_international(value):
        international = _parse(bare, None)
        if international is not None and _is_valid(international):
            return _e164(international)
    if number is None:
        if region_code is None and not value.lstrip().startswith(("+", "tel:")):
            raise _invalid("a phone number without a country code needs a region")
        raise _invalid("not a phone number")
    raise _invalid(_why_invalid(number))


def _fast(value: str, region: str | None) -> str | None:
    """The E.164 form by the fast path, None when the library must decide (or say why not)."""
    found = fast_e164(value, region)
    if found is None:
        return None
    if found[0] == VALID:
        return found[1]
    # invalid as written: the same "00" retry as below, on the fast path too
    if prefix := _DOUBLE_ZERO.match(value):
        again = fast_e164("+" + value[prefix.end() :], None)
        if again is not None and again[0] == VALID:
            return again[1]
    if bare := _bare_international(value):
        again = fast_e164(bare, None)
        if again is not None and again[0] == VALID:
            return again[1]
    return None


def _bare_international(value: str) -> str | None:
    """``+`` and the digits of a number written with its country code but no ``+``."""
    digits = value.replace(" ", "").replace("-", "")
    return "+" + digits if _BARE_INTERNATIONAL.fullmatch(digits) else None


# is_valid_number, not just is_possible_number: "possible" only checks the length, so a number
# with a digit missing, or a 0000 000 000 placeholder, would become an identity key
_is_valid = phonenumbers.is_valid_number


def _e164(number: PhoneNumber) -> str:
    # any extension is dropped: E.164 has none, and the line is what identifies the person
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def _why_invalid(number: PhoneNumber) -> str:
    reason = phonenumbers.is_possible_number_with_reason(number)
    return _REASONS.get(reason, "not a valid phone number (no such number range)")


def _invalid(message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_PHONE, message, field="phone")
