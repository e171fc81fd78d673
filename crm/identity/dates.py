"""Dates of birth from the formats people and spreadsheets write them in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from crm.identity.errors import ErrorCode, IdentityError
from crm.identity.regions import optional_region

EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)
# Regions that write numeric dates month first (US and the territories and freely associated
# states that follow it, Belize, and the Philippines, where MDY dominates in practice).
MONTH_FIRST_REGIONS: frozenset[str] = frozenset(
    {"US", "PR", "GU", "VI", "AS", "MP", "UM", "FM", "MH", "PW", "BZ", "PH"}
)
# Regions where both orders are common (Canada: MDY in much English software, DMY in Quebec):
# a date that reads both ways is rejected rather than guessed, since a wrong birth date is
# worse than none in a medical record. Also the rule when no region is known.
AMBIGUOUS_ORDER_REGIONS: frozenset[str] = frozenset({"CA"})

# an optional time of day, as spreadsheets and exports append it ("1990-04-22 00:00:00",
# "...T00:00Z", "...T00:00:00+10:00", "8/8/1986 12:00:00 AM"): the date is taken as written
_TIME = (
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s?(?:[AaPp][Mm])?"
    r"\s?(?:Z|UTC|[+-]\d{2}:?\d{2})?)?"
)
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
# a two-digit year: see ``_full_year``
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})" + _TIME)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# "08-Aug-1986", "8 Aug 86", "8 August, 1986"
_DAY_MONTH_NAME = re.compile(
    r"(\d{1,2})(?:st|nd|rd|th)?[-/. ]+([A-Za-z]{3,9})\.?[-/., ]+(\d{4}|\d{2})" + _TIME
)
# "Aug 8, 1986", "August 8 1986"
_MONTH_NAME_DAY = re.compile(
    r"([A-Za-z]{3,9})\.?[-/. ]+(\d{1,2})(?:st|nd|rd|th)?,?[-/. ]+(\d{4}|\d{2})" + _TIME
)


def normalize_date_of_birth(
    value: str | date, *, region: str | None = "AU", today: date | None = None
) -> date:
    """A date of birth from YYYY-MM-DD, YYYYMMDD, regional DD/MM/YYYY (or YY), a month name
    (08-Aug-1986, Aug 8, 1986) or a timestamp, else INVALID_DATE."""
    if isinstance(value, datetime):
        parsed = value.date()
    elif isinstance(value, date):
        parsed = value
    elif isinstance(value, str):
        parsed = _parse(value.strip(), optional_region(region), today)
    else:
        raise _invalid("a date of birth must be text or a date")
    if parsed < EARLIEST_DATE_OF_BIRTH:
        raise _invalid("a date of birth cannot be before 1900")
    if parsed > (today or _latest_today()):
        raise _invalid("a date of birth cannot be in the future")
    return parsed


def _latest_today() -> date:
    # the date where it is latest (UTC+14): a baby born "today" in Sydney is not in the future
    # for a server running on UTC
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def _parse(text: str, region: str | None, today: date | None) -> date:
    if match := _YEAR_FIRST.fullmatch(text):
        return _date(int(match[1]), int(match[3]), int(match[4]))
    if match := _COMPACT.fullmatch(text):
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if match := _YEAR_LAST.fullmatch(text):
        month, day = _month_and_day(int(match[1]), int(match[3]), region)
        return _dated(match[4], month, day, today)
    if match := _DAY_MONTH_NAME.fullmatch(text):
        return _dated(match[3], _month(match[2]), int(match[1]), today)
    if match := _MONTH_NAME_DAY.fullmatch(text):
        return _dated(match[3], _month(match[1]), int(match[2]), today)
    raise _invalid("use YYYY-MM-DD, YYYYMMDD or DD/MM/YYYY")


def _month(name: str) -> int:
    if (month := _MONTHS.get(name.lower())) is None:
        raise _invalid(f"not a month: {name[:12]!r}")
    return month


def _dated(year: str, month: int, day: int, today: date | None) -> date:
    if len(year) == 4:
        return _date(int(year), month, day)
    return _full_year(int(year), month, day, today or _latest_today())


def _full_year(short: int, month: int, day: int, today: date) -> date:
    """A two-digit year is this century's unless that is in the future, then the last
    century's: a birth date is never in the future ("86" -> 1986; "05" -> 2005 in 2026)."""
    recent = _date(2000 + short, month, day) if (month, day) != (2, 29) or short % 4 == 0 else None
    if recent is not None and recent <= today:
        return recent
    return _date(1900 + short, month, day)


def _month_and_day(first: int, second: int, region: str | None) -> tuple[int, int]:
    if first > 12 >= second:
        return second, first
    if second > 12 >= first:
        return first, second
    if first > 12 or first == second:
        return second, first  # both over 12 fails in _date; equal parts read the same both ways
    if region in MONTH_FIRST_REGIONS:
        return first, second
    if region is None or region in AMBIGUOUS_ORDER_REGIONS:
        raise _invalid("day and month are ambiguous here: use YYYY-MM-DD")
    return second, first


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _invalid("not a calendar date") from None


def _invalid(message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_DATE, message, field="date_of_birth")
