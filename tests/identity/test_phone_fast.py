"""The phone fast path gives exactly phonenumbers' answer, or leaves the number to it."""

import phonenumbers
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from crm.identity import IdentityError, normalize_phone
from crm.identity import phone as phone_module
from crm.identity.phone_fast import INVALID, VALID, fast_e164

REGIONS = ("AU", "NZ", "GB", "US")
# regions that share a country code with another, or keep a leading zero ("Italian")
OTHER_REGIONS = ("CX", "CC", "JE", "IM", "CA", "IT", "DE", "FR", "SG", "IE")
NUMBER_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.UAN,
)
SEPARATORS = (" ", "  ", "-", ".", " - ", "(", ")", ") ", " (", "\t")
FORMATS = (
    PhoneNumberFormat.E164,
    PhoneNumberFormat.INTERNATIONAL,
    PhoneNumberFormat.NATIONAL,
)


def library(value: str, region: str | None) -> tuple[str, str | None] | None:
    """What parse + is_valid_number + E.164 say: None when parse raises."""
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return VALID, phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return INVALID, None


def library_normalize(value, region):
    """normalize_phone without the fast path."""
    original = phone_module._fast
    phone_module._fast = lambda _value, _region: None
    try:
        return normalize_phone(value, region=region)
    except IdentityError as exc:
        return ("error", exc.code, exc.message)
    finally:
        phone_module._fast = original


def fast_normalize(value, region):
    try:
        return normalize_phone(value, region=region)
    except IdentityError as exc:
        return ("error", exc.code, exc.message)


def assert_agrees(value: str, region: str | None) -> None:
    fast = fast_e164(value, region)
    if fast is not None:
        # the fast path only answers where the library parses, and answers the same
        assert fast == library(value, region), (value, region)
    assert fast_normalize(value, region) == library_normalize(value, region), (value, region)


@st.composite
def numbers(draw):
    """A valid number near an example number of some region and type, and one digit off."""
    region = draw(st.sampled_from(REGIONS + OTHER_REGIONS))
    kind = draw(st.sampled_from(NUMBER_TYPES))
    sample = phonenumbers.example_number_for_type(region, kind)
    assume(sample is not None)
    national = phonenumbers.national_significant_number(sample)
    keep = draw(st.integers(min_value=1, max_value=len(national)))
    tail = draw(st.text(alphabet="0123456789", min_size=0, max_size=len(national) - keep + 2))
    digits = national[:keep] + tail
    try:
        number = phonenumbers.parse("+" + str(sample.country_code) + digits, None)
    except NumberParseException:
        number = sample
    return region, number


@st.composite
def written(draw, text):
    """``text`` with random separators between its digits and padding around it."""
    out = []
    for index, char in enumerate(text):
        out.append(char)
        between_digits = char.isdigit() and text[index + 1 : index + 2].isdigit()
        if between_digits and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
    padding = st.sampled_from(("", " ", "\t", "(", "  "))
    return draw(padding) + "".join(out) + draw(st.sampled_from(("", " ", "\t")))


class TestPhoneFastPath:
    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("0412 345 678", "AU"),
            ("+61412345678", "AU"),
            ("+61412345678", None),
            ("(04) 1234 5678", "AU"),
            ("61 412-345-678", "AU"),
            ("0061 412 345 678", "AU"),
            ("0011 61 412 345 678", "AU"),
            ("+61 (0) 412 345 678", "AU"),
            ("021 123 4567", "NZ"),
            ("020 7946 0958", "GB"),
            ("(201) 555-0123", "US"),
            ("1 201 555 0123", "US"),
            ("+39 06 1234 5678", "AU"),
            ("0412 345 67", "AU"),
            ("0000 000 000", "AU"),
            ("+800 1234 5678", "AU"),
            ("08 9162 1234", "CX"),
            ("61 8 9162 1234", "CX"),
            ("+999 1234567", "AU"),
            ("0412345678", None),
        ],
    )
    def test_common_shapes_agree_with_the_library(self, raw, region):
        assert_agrees(raw, region)

    def test_the_common_shapes_take_the_fast_path(self):
        for raw in ("0412 345 678", "+61 412 345 678", "(03) 9123 4567", "61 412-345-678"):
            assert fast_e164(raw, "AU") is not None, raw

    @given(data=st.data(), number=numbers())
    @settings(max_examples=600, deadline=None)
    @example(data=None, number=None)
    def test_every_format_agrees_with_the_library(self, data, number):
        if data is None:
            return
        region, parsed = number
        text = phonenumbers.format_number(parsed, data.draw(st.sampled_from(FORMATS)))
        prefix = data.draw(st.sampled_from(("", "", "00", "0", "+", "1", "61", "011 ", "0011 ")))
        raw = data.draw(written(prefix + text))
        default = data.draw(st.sampled_from((region, *REGIONS, None)))
        assert_agrees(raw, default)

    @given(
        raw=st.text(alphabet=st.sampled_from("0123456789+ -().\t"), min_size=0, max_size=24),
        region=st.sampled_from((*REGIONS, *OTHER_REGIONS, None)),
    )
    @settings(max_examples=600, deadline=None)
    def test_any_digits_and_separators_agree_with_the_library(self, raw, region):
        assert_agrees(raw, region)

    @given(
        digits=st.text(alphabet="0123456789", min_size=6, max_size=16),
        lead=st.sampled_from(("", "+", "0", "00", "+0", "61", "64", "44", "1")),
        region=st.sampled_from((*REGIONS, *OTHER_REGIONS)),
    )
    @settings(max_examples=600, deadline=None)
    def test_random_digit_strings_agree_with_the_library(self, digits, lead, region):
        assert_agrees(lead + digits, region)
