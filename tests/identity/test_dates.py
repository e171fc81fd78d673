from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.identity import ErrorCode, IdentityError, normalize_date_of_birth

TODAY = date(2025, 6, 30)


def dob(value, **kwargs):
    return normalize_date_of_birth(value, today=TODAY, **kwargs)


class TestDateOfBirth:
    @pytest.mark.parametrize(
        "raw",
        [
            "1996-04-22",
            "1996/04/22",
            "19960422",
            "22/04/1996",
            "22-04-1996",
            "22.04.1996",
            " 22/4/1996 ",
            "1996-04-22 00:00:00",
            "1996-04-22T00:00:00Z",
            "22/04/1996 0:00",
            date(1996, 4, 22),
            datetime(1996, 4, 22, 13, 30),
        ],
    )
    def test_every_accepted_format_gives_the_date(self, raw):
        assert dob(raw) == date(1996, 4, 22)

    def test_the_region_decides_day_and_month_order(self):
        # given a date that reads both ways
        raw = "03/04/1996"
        # then Australia reads day first and the US month first
        assert dob(raw, region="AU") == date(1996, 4, 3)
        assert dob(raw, region="GB") == date(1996, 4, 3)
        assert dob(raw, region="US") == date(1996, 3, 4)
        assert dob(raw, region="ph") == date(1996, 3, 4)

    @pytest.mark.parametrize("region", ["AU", "US", "CA", None])
    def test_an_unambiguous_date_is_read_whatever_the_region(self, region):
        assert dob("22/04/1996", region=region) == date(1996, 4, 22)
        assert dob("04/22/1996", region=region) == date(1996, 4, 22)
        assert dob("05/05/1996", region=region) == date(1996, 5, 5)

    @pytest.mark.parametrize("region", ["CA", None])
    def test_an_ambiguous_date_is_rejected_where_the_order_is_unknown(self, region):
        with pytest.raises(IdentityError) as caught:
            dob("03/04/1996", region=region)
        assert caught.value.code is ErrorCode.INVALID_DATE
        assert "YYYY-MM-DD" in caught.value.message

    def test_today_is_a_valid_date_of_birth(self):
        assert dob("2025-06-30") == TODAY

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "yesterday",
            "1996-13-01",
            "1996-02-30",
            "31/02/1996",
            "13/13/1996",
            "22/04/",
            "1996-04",
            "1996-04/22",
            "2025-07-01",  # the future
            "1899-12-31",
            date(1899, 12, 31),
            "22 Apirl 1996",
            19960422,
            None,
        ],
    )
    def test_an_invalid_date_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            dob(raw)
        assert caught.value.code is ErrorCode.INVALID_DATE
        assert caught.value.field == "date_of_birth"

    def test_an_unknown_region_is_rejected(self):
        with pytest.raises(IdentityError) as caught:
            dob("1996-04-22", region="XX")
        assert caught.value.code is ErrorCode.INVALID_REGION

    def test_the_future_is_measured_from_the_real_today_by_default(self):
        assert normalize_date_of_birth(date.today()) == date.today()
        with pytest.raises(IdentityError):
            normalize_date_of_birth(date.today() + timedelta(days=2))


class TestDateOfBirthProperties:
    @given(day=st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    def test_every_format_of_one_date_gives_that_date(self, day):
        assert dob(day.isoformat()) == day
        assert dob(day.strftime("%Y%m%d")) == day
        assert dob(day.strftime("%d/%m/%Y"), region="AU") == day
        assert dob(day.strftime("%d.%m.%Y"), region="NZ") == day
        assert dob(day.strftime("%m/%d/%Y"), region="US") == day

    @given(day=st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    def test_an_ambiguous_region_never_guesses_a_wrong_date(self, day):
        for text in (day.strftime("%d/%m/%Y"), day.strftime("%m/%d/%Y")):
            try:
                assert dob(text, region="CA") == day
            except IdentityError as exc:
                assert exc.code is ErrorCode.INVALID_DATE

    @given(raw=st.text(alphabet="0123456789/-. T:Z", max_size=24))
    def test_any_text_is_either_a_date_or_an_identity_error(self, raw):
        try:
            result = dob(raw)
        except IdentityError as exc:
            assert exc.code is ErrorCode.INVALID_DATE
            return
        assert date(1900, 1, 1) <= result <= TODAY
