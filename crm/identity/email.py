"""Email addresses: syntax-checked, case-folded, domain in ASCII (punycode)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from crm.identity.errors import ErrorCode, IdentityError

_MAX_LENGTH = 320
# RFC 5322 dot-atom over ASCII atext: local parts email_validator accepts as they are (strict
# mode adds only the 64-character limit), which lets the common case skip re-validating a
# domain it has seen
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MAX_LOCAL = 64
_MAX_ASCII_EMAIL = 254


def normalize_email(value: str) -> str:
    """The trimmed, case-folded address with an ASCII (IDNA) domain, else INVALID_EMAIL."""
    if not isinstance(value, str):
        raise _invalid("an email address must be text")
    text = value.strip()
    if not text:
        raise _invalid("the email address is empty")
    if len(text) > _MAX_LENGTH:
        raise _invalid("too long to be an email address")
    local, at, domain = text.rpartition("@")
    if at and text.isascii() and len(local) <= _MAX_LOCAL and _DOT_ATOM.fullmatch(local):
        ascii_domain = _valid_domain(domain.lower())
        if ascii_domain is not None and len(local) + 1 + len(ascii_domain) <= _MAX_ASCII_EMAIL:
            return local.lower() + "@" + ascii_domain
    try:
        # "Mary Smith <mary@example.com>" (pasted from a mail client) keeps only the address
        result = validate_email(
            text, check_deliverability=False, allow_display_name=True, strict=True
        )
    except EmailNotValidError as exc:
        # email_validator's reasons name characters and rules, not the address itself
        raise _invalid(f"not a valid email address: {exc}") from None
    # only the local part is folded: the domain is already lower-cased by IDNA, and casefold
    # would turn a real "straße.de" into the different domain "strasse.de"
    return _fold(result.local_part) + "@" + result.ascii_domain


@lru_cache(maxsize=65536)
def _valid_domain(domain: str) -> str | None:
    """The ASCII form of a domain email_validator accepts, or None (the full check explains)."""
    try:
        return validate_email("a@" + domain, check_deliverability=False, strict=True).ascii_domain
    except EmailNotValidError:
        return None


def _fold(local_part: str) -> str:
    if local_part.isascii():
        return local_part.lower()
    # canonical caseless form (Unicode D145), recomposed as email_validator keeps NFC
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", local_part).casefold())


def _invalid(message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_EMAIL, message, field="email")
