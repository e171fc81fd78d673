"""Values as people and PMS exports write them: phones with the country code and no "+", trunk
prefixes, dates with two-digit years and month names, timestamps, and placeholders."""

from __future__ import annotations

from datetime import date

import pytest

from crm.identity import IdentityError, normalize_date_of_birth, normalize_phone
from crm.identity.placeholders import is_placeholder
from tests.identity.test_phone_fast import assert_agrees

TODAY = date(2026, 12, 5)


class TestPhonesAsExportsWriteThem:
    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("61412345678", "+61412345678"),  # Cliniko: country code, no "+"
            ("61399999999", "+61399999999"),
            ("6281234567890", "+6281234567890"),  # Indonesia, read in an AU clinic
            ("628 1234 567 890", "+6281234567890"),
            ("447911123456", "+447911123456"),
            ("+61 (0) 412 345 678", "+61412345678"),  # the trunk 0 in parentheses
            ("+61 (0)412-345-678", "+61412345678"),
            ("+62 (0)812-3456-7890", "+6281234567890"),
            ("0061 412 345 678", "+61412345678"),
        ],
    )
    def test_gives_the_e164_number(self, raw, e164):
        assert normalize_phone(raw, region="AU") == e164

    @pytest.mark.parametrize(
        "raw",
        [
            "61412345678",
            "6281234567890",
            "447911123456",
            "+61 (0) 412 345 678",
            "+62 (0)812-3456-7890",
            "0412345678",
            "412345678",
        ],
    )
    def test_the_fast_path_agrees_with_phonenumbers(self, raw):
        assert_agrees(raw, "AU")

    def test_a_short_local_typo_is_not_read_as_a_foreign_number(self):
        # ten digits, invalid in AU: not taken for +44..., +62... by dropping a digit
        with pytest.raises(IdentityError):
            normalize_phone("4123456789", region="AU")


class TestDatesAsWritten:
    @pytest.mark.parametrize(
        "raw",
        [
            "8/8/86",
            "08/08/86",
            "08-Aug-1986",
            "8 Aug 86",
            "8 August 1986",
            "Aug 8, 1986",
            "August 8th 1986",
            "1986-08-08 00:00:00",
            "1986-08-08T00:00:00+10:00",
            "1986-08-08T00:00:00.000Z",
            "08/08/1986 12:00:00 AM",
        ],
    )
    def test_gives_the_date(self, raw):
        assert normalize_date_of_birth(raw, region="AU", today=TODAY) == date(1986, 8, 8)

    def test_a_timestamp_keeps_the_date_written_whatever_its_offset(self):
        got = normalize_date_of_birth("1986-08-08T23:30:00-05:00", region="AU", today=TODAY)
        assert got == date(1986, 8, 8)

    @pytest.mark.parametrize(
        ("raw", "born"),
        [
            ("1/2/05", date(2005, 2, 1)),
            ("5/12/26", date(2026, 12, 5)),  # today: this century
            ("6/12/26", date(1926, 12, 6)),  # tomorrow would be the future: last century
            ("1/2/30", date(1930, 2, 1)),
            ("31/12/99", date(1999, 12, 31)),
        ],
    )
    def test_a_two_digit_year_never_puts_a_birth_date_in_the_future(self, raw, born):
        assert normalize_date_of_birth(raw, region="AU", today=TODAY) == born

    def test_month_first_regions_read_a_two_digit_year_month_first(self):
        assert normalize_date_of_birth("2/3/04", region="US", today=TODAY) == date(2004, 2, 3)

    def test_an_unknown_month_name_is_an_invalid_date(self):
        with pytest.raises(IdentityError) as error:
            normalize_date_of_birth("8 Foo 1986", region="AU", today=TODAY)
        assert error.value.code.value == "INVALID_DATE"


class TestPlaceholders:
    @pytest.mark.parametrize("raw", ["n/a", "N/A", "none", "None", "-", "unknown", "0", "NULL"])
    def test_are_no_value(self, raw):
        assert is_placeholder(raw)

    @pytest.mark.parametrize("raw", ["Na", "Noni", "0412345678", "Jo", "x-ray", "n/a please"])
    def test_real_values_are_not(self, raw):
        assert not is_placeholder(raw)
