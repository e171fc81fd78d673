"""The common-case shortcut in normalize_email agrees with full email_validator checking."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.identity import IdentityError, normalize_email
from crm.identity.email import _fold

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-."
DOMAINS = [
    "example.com",
    "Example.COM",
    "bigpond.net.au",
    "xn--bcher-kva.de",
    "bücher.de",
    "localhost",
    "example",
    "-bad.com",
    "a..b.com",
    "mail.example.org.",
    "1.2.3.4",
]


def slow(address: str) -> str | None:
    try:
        result = validate_email(address, check_deliverability=False, strict=True)
    except EmailNotValidError:
        return None
    return _fold(result.local_part) + "@" + result.ascii_domain


def fast(address: str) -> str | None:
    try:
        return normalize_email(address)
    except IdentityError:
        return None


@settings(max_examples=400, deadline=None)
@given(local=st.text(alphabet=ATEXT, min_size=0, max_size=70), domain=st.sampled_from(DOMAINS))
def test_shortcut_accepts_and_refuses_exactly_what_email_validator_does(local, domain):
    address = f"{local}@{domain}"
    assert fast(address) == slow(address)
