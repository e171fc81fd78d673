import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.identity import ErrorCode, IdentityError, normalize_email

DOMAINS = ("example.com", "Example.COM.au", "bücher.de", "straße.de", "xn--bcher-kva.de", "мир.рф")

# characters whose case folding expands, decomposes or differs from lower()
CASE_FOLDING_TRAPS = "İßẞǰΐΣσςﬁŉǅᾈÅKΩé"  # noqa: RUF001 (deliberately confusable)


@st.composite
def addresses(draw):
    """Mostly valid addresses: ASCII or Unicode local parts on ASCII or IDN domains."""
    ascii_local = st.from_regex(
        r"[A-Za-z0-9][A-Za-z0-9_+-]{0,10}(\.[A-Za-z0-9_+-]{1,8}){0,2}", fullmatch=True
    )
    letters = st.characters(categories=["Lu", "Ll", "Lt", "Lo", "Nd"])
    unicode_local = st.text(
        alphabet=st.one_of(letters, st.sampled_from(CASE_FOLDING_TRAPS)), min_size=1, max_size=12
    )
    local = draw(st.one_of(ascii_local, unicode_local))
    domain = draw(st.sampled_from(DOMAINS))
    padding = st.sampled_from(("", " ", "\t", "\n "))
    return draw(padding) + local + "@" + domain + draw(padding)


class TestEmail:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("mary@example.com", "mary@example.com"),
            ("  Mary.Smith@Example.COM ", "mary.smith@example.com"),
            ("MARY+clinic@GMAIL.com", "mary+clinic@gmail.com"),
            ("mary@bücher.de", "mary@xn--bcher-kva.de"),
            ("mary@BÜCHER.DE", "mary@xn--bcher-kva.de"),
            ("mary@xn--bcher-kva.de", "mary@xn--bcher-kva.de"),
            ("Mary Smith <Mary@Example.com>", "mary@example.com"),
            ("ΣΊΣΥΦΟΣ@example.gr", "σίσυφοσ@example.gr"),
        ],
    )
    def test_an_address_is_trimmed_folded_and_ascii_domained(self, raw, expected):
        assert normalize_email(raw) == expected

    def test_a_sharp_s_domain_keeps_its_own_punycode(self):
        # straße.de and strasse.de are different domains under IDNA 2008
        assert normalize_email("a@straße.de") == "a@xn--strae-oqa.de"
        assert normalize_email("a@strasse.de") == "a@strasse.de"

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "   ",
            "mary",
            "mary@",
            "@example.com",
            "mary@localhost",
            "mary@example",
            "mary..smith@example.com",
            "mary smith@example.com",
            "mary@exa mple.com",
            "mary@-example.com",
            "mary@example.test",  # special-use domain
            "a@b@example.com",
            "x" * 65 + "@example.com",
            "a@" + "b" * 400 + ".com",
        ],
    )
    def test_an_invalid_address_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_email(raw)
        assert caught.value.code is ErrorCode.INVALID_EMAIL
        assert caught.value.field == "email"

    @pytest.mark.parametrize("raw", [None, 42, b"mary@example.com"])
    def test_a_value_that_is_not_text_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_email(raw)
        assert caught.value.code is ErrorCode.INVALID_EMAIL

    def test_no_dns_lookup_is_made(self):
        # a domain that does not exist is still a syntactically valid address
        assert normalize_email("a@no-such-domain-zz9.invalid-tld-zz") == (
            "a@no-such-domain-zz9.invalid-tld-zz"
        )


class TestEmailProperties:
    @given(raw=addresses())
    @settings(max_examples=200, deadline=None)
    def test_normalising_is_idempotent(self, raw):
        try:
            once = normalize_email(raw)
        except IdentityError:
            return
        assert normalize_email(once) == once
        assert once.split("@")[1].isascii()

    @given(raw=st.emails())
    @settings(deadline=None)
    def test_normalising_generated_addresses_is_idempotent(self, raw):
        try:
            once = normalize_email(raw)
        except IdentityError:
            return
        assert normalize_email(once) == once
        assert normalize_email(once.upper()) == once

    @given(raw=st.text(max_size=40))
    @settings(deadline=None)
    def test_any_text_is_either_an_address_or_an_identity_error(self, raw):
        try:
            once = normalize_email(raw)
        except IdentityError as exc:
            assert exc.code is ErrorCode.INVALID_EMAIL
            return
        assert normalize_email(once) == once
