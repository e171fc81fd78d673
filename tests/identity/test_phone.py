import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from crm.identity import ErrorCode, IdentityError, normalize_phone

REGIONS = ("AU", "NZ", "GB", "US")
NUMBER_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.VOIP,
)
SEPARATORS = (" ", "  ", "-", ".", " - ", "(", ")", ") ", " (")


@st.composite
def valid_numbers(draw):
    """A valid number near a region's example number: (region, phonenumbers object)."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(NUMBER_TYPES)))
    assume(example is not None)
    national = str(example.national_number)
    tail = draw(st.integers(min_value=0, max_value=999))
    number = phonenumbers.PhoneNumber(
        country_code=example.country_code,
        national_number=int(national[:-3] + f"{tail:03d}"),
    )
    assume(phonenumbers.is_valid_number(number))
    return region, number


@st.composite
def noisy(draw, text):
    """text with random spaces, dashes, dots and parentheses between its digits."""
    out = []
    for index, char in enumerate(text):
        out.append(char)
        between_digits = char.isdigit() and text[index + 1 : index + 2].isdigit()
        if between_digits and draw(st.booleans()):
            out.append(draw(st.sampled_from(SEPARATORS)))
    padding = st.sampled_from(("", " ", "\t", "  "))
    return draw(padding) + "".join(out) + draw(padding)


class TestPhone:
    @pytest.mark.parametrize(
        "raw",
        [
            "+61412345678",
            "+61 412 345 678",
            "0412 345 678",
            "0412-345-678",
            "(04) 1234-5678",
            "0061412345678",
            "0061 412 345 678",
            "0011 61 412 345 678",
            "61412345678",
            "+61 (0) 412 345 678",
            "tel:+61412345678",
            "tel:+61-412-345-678",
            "  0412 345 678\n",
        ],
    )
    def test_every_human_format_of_an_au_mobile_gives_e164(self, raw):
        assert normalize_phone(raw) == "+61412345678"

    def test_a_local_number_is_read_in_the_given_region(self):
        # given a number written the way a New Zealander would
        raw = "021 123 4567"
        # when / then
        assert normalize_phone(raw, region="NZ") == "+64211234567"
        assert normalize_phone(raw, region="nz") == "+64211234567"

    def test_an_international_number_ignores_the_region(self):
        assert normalize_phone("+1 201-555-0123", region="AU") == "+12015550123"
        assert normalize_phone("+44 20 7946 0958", region="US") == "+442079460958"
        assert normalize_phone("0044 20 7946 0958", region="US") == "+442079460958"

    def test_us_international_prefix_is_understood_in_the_us(self):
        assert normalize_phone("011 61 412 345 678", region="US") == "+61412345678"

    @pytest.mark.parametrize(
        "raw",
        ["+61 2 9876 5432 ext. 12", "(02) 9876 5432 x12", "tel:+61-2-9876-5432;ext=12"],
    )
    def test_an_extension_is_dropped(self, raw):
        assert normalize_phone(raw) == "+61298765432"

    def test_without_a_region_only_international_numbers_parse(self):
        assert normalize_phone("+61412345678", region=None) == "+61412345678"
        with pytest.raises(IdentityError) as caught:
            normalize_phone("0412 345 678", region=None)
        assert caught.value.code is ErrorCode.INVALID_PHONE
        assert "region" in caught.value.message

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "   ",
            "not a number",
            "0412 345 67",  # a digit missing: "possible" by length, but no such number
            "0000 000 000",  # placeholder
            "04123456789012",
            "+999 1234567",
            "+61 1",
            "1" * 200,
        ],
    )
    def test_an_invalid_number_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_phone(raw)
        assert caught.value.code is ErrorCode.INVALID_PHONE
        assert caught.value.field == "phone"

    def test_the_message_does_not_repeat_the_number(self):
        with pytest.raises(IdentityError) as caught:
            normalize_phone("0412 345 67")
        assert "345" not in caught.value.message

    @pytest.mark.parametrize("raw", [None, 412345678, b"0412345678"])
    def test_a_value_that_is_not_text_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_phone(raw)
        assert caught.value.code is ErrorCode.INVALID_PHONE

    @pytest.mark.parametrize("region", ["XX", "AUS", "", "001"])
    def test_an_unknown_region_is_rejected(self, region):
        with pytest.raises(IdentityError) as caught:
            normalize_phone("0412 345 678", region=region)
        assert caught.value.code is ErrorCode.INVALID_REGION


class TestPhoneProperties:
    @given(data=st.data(), number=valid_numbers())
    @settings(max_examples=200, deadline=None)
    def test_every_format_of_one_number_yields_one_key(self, data, number):
        # given one valid number from AU, NZ, GB or US
        region, parsed = number
        e164 = expected = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
        formats = {
            "E164": e164,
            "INTERNATIONAL": phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL),
            "NATIONAL": phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL),
            "RFC3966": phonenumbers.format_number(parsed, PhoneNumberFormat.RFC3966),
            "00": e164[1:],  # written after a "00" international prefix
        }
        for name, text in formats.items():
            # when it is written with random punctuation
            raw = data.draw(noisy(text), label=name)
            if name == "00":
                raw = data.draw(st.sampled_from(("00", "00 ", "(00) "))) + raw.lstrip()
            # international forms parse whatever the organization's region
            default = region if name == "NATIONAL" else data.draw(st.sampled_from(REGIONS))
            # then it normalises to the same E.164 key
            assert normalize_phone(raw, region=default) == expected, (name, raw, default)

    @given(number=valid_numbers())
    @settings(deadline=None)
    def test_normalising_is_idempotent(self, number):
        region, parsed = number
        raw = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
        once = normalize_phone(raw, region=region)
        assert normalize_phone(once, region=region) == once
        assert normalize_phone(once, region=None) == once

    @given(raw=st.text(alphabet=st.sampled_from("0123456789+ -().tel:x#*"), max_size=30))
    @settings(deadline=None)
    def test_any_text_is_either_a_stable_e164_key_or_an_identity_error(self, raw):
        try:
            once = normalize_phone(raw)
        except IdentityError as exc:
            assert exc.code is ErrorCode.INVALID_PHONE
            return
        assert once.startswith("+") and once[1:].isdigit()
        assert normalize_phone(once) == once
