"""Email addresses: syntax-checked, case-folded, domain in ASCII (punycode)."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from crm.identity.errors import ErrorCode, IdentityError

_MAX_LENGTH = 320


def normalize_email(value: str) -> str:
    """The trimmed, case-folded address with an ASCII (IDNA) domain, else INVALID_EMAIL."""
    if not isinstance(value, str):
        raise _invalid("an email address must be text")
    text = value.strip()
    if not text:
        raise _invalid("the email address is empty")
    if len(text) > _MAX_LENGTH:
        raise _invalid("too long to be an email address")
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


def _fold(local_part: str) -> str:
    if local_part.isascii():
        return local_part.lower()
    # canonical caseless form (Unicode D145), recomposed as email_validator keeps NFC
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", local_part).casefold())


def _invalid(message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_EMAIL, message, field="email")
