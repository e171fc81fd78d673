"""A fast path for the common phone shapes that gives exactly phonenumbers' answer.

``phonenumbers.parse`` plus ``is_valid_number`` costs ~25 µs a number, most of it spent on
what a hand-typed number in a CSV never has (letters, extensions, RFC 3966, unicode digits,
a second number). For text made only of ASCII digits, spaces, ``()-.`` and an optional
leading ``+``, this module follows the library's own steps on the digits (country code,
international and national prefixes, possible lengths) and decides validity as
``is_valid_number`` does, each with the region's metadata patterns compiled once. Anything
else, and any case it does not follow to the end (an international prefix, a non-geographic
code), is ``None``: the caller asks the library. The identity tests compare
the two on generated input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from phonenumbers import PhoneMetadata, ValidationResult
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    _extract_country_code,
    region_code_for_country_code,
)

# ASCII digits and the separators people type, at least 7 digits, an optional leading "+"
# (after an optional opening parenthesis); no letters, "#", "/", ",", ";", "x"
# (a tab only around the number: inside it, the library does not read it as punctuation)
_SHAPE = re.compile(r"[ \t(]*(\+)?([0-9 ().\-]*)[ \t]*")
_NOT_DIGITS = re.compile(r"[^0-9]+")
_MIN_DIGITS = 7
_MAX_DIGITS = 17
# the library's bounds (_MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN)
_MIN_NSN, _MAX_NSN = 2, 17
_KEEP_PREFIX = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)

VALID = "valid"
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class _Region:
    """What ``is_valid_number`` looks at for one region, compiled.

    ``_number_type_helper`` answers UNKNOWN (invalid) unless the general description and one
    of the number types match, each checked as ``_is_number_matching_desc`` does: the
    possible lengths first (when a description has any), then the full pattern. Here the
    types are grouped by length into one alternation each.
    """

    code: str
    country_code: int
    leading_digits: re.Pattern[str] | None
    general_lengths: frozenset[int]
    general: re.Pattern[str] | None
    by_length: dict[int, re.Pattern[str]]
    any_length: re.Pattern[str] | None

    def valid(self, nsn: str) -> bool:
        if self.general is None:
            return False
        if self.general_lengths and len(nsn) not in self.general_lengths:
            return False
        if self.general.fullmatch(nsn) is None:
            return False
        typed = self.by_length.get(len(nsn), self.any_length)
        return typed is not None and typed.fullmatch(nsn) is not None


def _alternation(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


@lru_cache(maxsize=512)
def _region(code: str) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region(code, None)
    if metadata is None:
        return None
    descs = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    # an empty pattern never matches (_match_national_number)
    descs = [d for d in descs if d is not None and d.national_number_pattern]
    unbounded = [d.national_number_pattern for d in descs if not d.possible_length]
    lengths = {n for d in descs for n in d.possible_length}
    by_length = {}
    for n in lengths:
        patterns = [d.national_number_pattern for d in descs if n in d.possible_length]
        by_length[n] = _alternation(patterns + unbounded)
    general = metadata.general_desc
    general_pattern = general.national_number_pattern if general is not None else None
    return _Region(
        code=code,
        country_code=metadata.country_code,
        leading_digits=(
            re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
        ),
        general_lengths=frozenset(general.possible_length if general is not None else ()),
        general=re.compile(general_pattern) if general_pattern else None,
        by_length=by_length,
        any_length=_alternation(unbounded),
    )


@lru_cache(maxsize=512)
def _regions_for(country_code: int) -> tuple[_Region, ...] | None:
    codes = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not codes or REGION_CODE_FOR_NON_GEO_ENTITY in codes:
        return None
    return tuple(r for r in (_region(c) for c in codes) if r is not None)


def is_valid(country_code: int, nsn: str) -> bool | None:
    """``is_valid_number`` for a number whose national significant number is ``nsn``; None
    when the library must decide (non-geographic codes)."""
    regions = _regions_for(country_code)
    if regions is None:
        return None
    if len(regions) == 1:
        region: _Region | None = regions[0]
    else:
        # region_code_for_number: the first region whose leading digits match, or (without
        # leading digits) for which the number is valid
        region = None
        for candidate in regions:
            if candidate.leading_digits is not None:
                if candidate.leading_digits.match(nsn):
                    region = candidate
                    break
            elif candidate.valid(nsn):
                return candidate.country_code == country_code
    if region is None or region.country_code != country_code:
        return False
    return region.valid(nsn)


@dataclass(frozen=True, slots=True)
class _Parsing:
    """What ``parse`` reads of one region's metadata, compiled: the national prefix
    (``_maybe_strip_national_prefix_carrier_code``), the possible lengths
    (``_test_number_length`` for an unknown type) and the international prefix."""

    country_code: int
    code_text: str
    idd: re.Pattern[str] | None
    prefix: re.Pattern[str] | None
    groups: int
    transform: str | None
    general: re.Pattern[str] | None
    lengths: tuple[int, ...]
    local_lengths: frozenset[int]

    def general_match(self, number: str) -> bool:
        # _match_national_number: the pattern alone, no length check
        return self.general is not None and self.general.fullmatch(number) is not None

    def strip_prefix(self, number: str) -> str:
        if not number or self.prefix is None:
            return number
        match = self.prefix.match(number)
        if match is None:
            return number
        viable = self.general_match(number)
        if self.transform is None or match.groups()[self.groups - 1] is None:
            rest = number[match.end() :]
        else:
            rest = self.prefix.sub(self.transform, number, count=1)
        if viable and not self.general_match(rest):
            return number
        return rest

    def length_result(self, number: str) -> ValidationResult:
        size = len(number)
        if size in self.local_lengths:
            return ValidationResult.IS_POSSIBLE_LOCAL_ONLY
        lengths = self.lengths
        if lengths[0] == size:
            return ValidationResult.IS_POSSIBLE
        if lengths[0] > size:
            return ValidationResult.TOO_SHORT
        if lengths[-1] < size:
            return ValidationResult.TOO_LONG
        return (
            ValidationResult.IS_POSSIBLE if size in lengths[1:] else ValidationResult.INVALID_LENGTH
        )

    def national(self, number: str) -> str:
        """parse's national-prefix step: stripped only if what is left has a possible length."""
        potential = self.strip_prefix(number)
        return potential if self.length_result(potential) not in _KEEP_PREFIX else number

    def without_country_code(self, digits: str) -> str | None:
        """_maybe_extract_country_code without a "+": the region's own country code written
        without one is taken off when the rest is a better number (else None)."""
        if digits.startswith(self.code_text):
            potential = self.strip_prefix(digits[len(self.code_text) :])
            if (
                not self.general_match(digits) and self.general_match(potential)
            ) or self.length_result(digits) == ValidationResult.TOO_LONG:
                return potential
        return None


@lru_cache(maxsize=512)
def _parsing(region: str) -> _Parsing | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.general_desc is None:
        return None
    general = metadata.general_desc
    lengths = tuple(general.possible_length)
    if not lengths:
        return None  # the library would fail on it: let it
    prefix = metadata.national_prefix_for_parsing or None
    prefix_re = re.compile(prefix) if prefix else None
    transform = metadata.national_prefix_transform_rule or None
    groups = prefix_re.groups if prefix_re is not None else 0
    if transform is not None and groups == 0:
        return None  # the library would index an empty tuple: let it
    idd = metadata.international_prefix
    return _Parsing(
        country_code=metadata.country_code,
        code_text=str(metadata.country_code),
        idd=re.compile(idd) if idd else None,
        prefix=prefix_re,
        groups=groups,
        transform=transform,
        general=re.compile(general.national_number_pattern)
        if general.national_number_pattern
        else None,
        lengths=lengths,
        local_lengths=frozenset(general.possible_length_local_only),
    )


def fast_e164(value: str, region: str | None) -> tuple[str, str | None] | None:
    """``(VALID, "+E164")`` or ``(INVALID, None)`` as ``parse(value, region)`` and
    ``is_valid_number`` would find it; None when the library must be asked."""
    match = _SHAPE.fullmatch(value)
    if match is None:
        return None
    plus, rest = match.groups()
    digits = _NOT_DIGITS.sub("", rest)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return None
    if plus:
        country_code, national = _extract_country_code(digits)
        if country_code == 0:
            return None
        parsing = _parsing(region_code_for_country_code(country_code))
    else:
        if region is None:
            return None
        parsing = _parsing(region)
        if parsing is None:
            return None
        if parsing.idd is not None and parsing.idd.match(digits):
            return None  # an international prefix: the library's IDD rules
        country_code = parsing.country_code
        national = parsing.without_country_code(digits)
        if national is None:
            national = digits
        elif (number_region := region_code_for_country_code(country_code)) != region:
            # parse reads a country code it found with that code's main region
            parsing = _parsing(number_region)
    if parsing is None or len(national) < _MIN_NSN:
        return None
    national = parsing.national(national)
    if len(national) > _MAX_NSN:
        return None  # parse raises TOO_LONG
    # with "Italian" leading zeros kept (parse's _set_italian_leading_zeros_for_phone_number),
    # the national significant number is still exactly these digits
    valid = is_valid(country_code, national)
    if valid is None:
        return None
    return (VALID, f"+{country_code}{national}") if valid else (INVALID, None)
