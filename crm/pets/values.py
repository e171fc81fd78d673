"""Normalising a pet's values: microchip, sex, desexed, date of birth, weight, status.

Each bad value is a ``PetIssue`` with a code and the value is dropped; the rest of the pet
(and its owner's row) still imports. Messages never quote the value (docs/pets.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crm.identity import IdentityError
from crm.identity.dates import normalize_date_of_birth
from crm.identity.names import clean_name
from crm.search.text import fold

MAX_NAME = 100
_TEXT_LIMITS = {"species": 50, "breed": 100, "colour": 50}
MAX_WEIGHT_KG = 2000.0
_LB = 0.45359237

# the codes of a pet value's issue (import row warnings, UserError codes)
INVALID_MICROCHIP = "INVALID_MICROCHIP"
INVALID_PET_SEX = "INVALID_PET_SEX"
INVALID_PET_DATE = "INVALID_DATE"
INVALID_PET_VALUE = "INVALID_INPUT"
INVALID_PET_NAME = "INVALID_NAME"

_SEPARATORS = re.compile(r"[\s\-./:_]")
_DIGITS_15 = re.compile(r"\d{15}")
_DIGITS_9 = re.compile(r"\d{9}")
_OLD_10 = re.compile(r"[0-9A-F]{10}")

_SEX = {
    "m": ("male", None),
    "male": ("male", None),
    "boy": ("male", None),
    "mn": ("male", True),
    "maleneutered": ("male", True),
    "maledesexed": ("male", True),
    "malecastrated": ("male", True),
    "me": ("male", False),
    "maleentire": ("male", False),
    "maleintact": ("male", False),
    "f": ("female", None),
    "female": ("female", None),
    "girl": ("female", None),
    "fs": ("female", True),
    "femalespayed": ("female", True),
    "femaledesexed": ("female", True),
    "femaleneutered": ("female", True),
    "fe": ("female", False),
    "femaleentire": ("female", False),
    "femaleintact": ("female", False),
    "u": ("unknown", None),
    "unknown": ("unknown", None),
    "unk": ("unknown", None),
}
_YES = {"y", "yes", "true", "1", "desexed", "neutered", "spayed", "castrated", "fixed"}
_NO = {"n", "no", "false", "0", "entire", "intact", "notdesexed"}
_DECEASED = {"deceased", "dead", "died", "passed", "passedaway", "euthanised", "euthanized"}
_ACTIVE = {"active", "alive", "living", "current"}
_WEIGHT = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(kg|kgs|kilos?|kilograms?|lb|lbs|pounds?|g)?\s*$")


@dataclass(frozen=True, slots=True)
class PetIssue:
    code: str
    field: str
    message: str


def _squash(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


def normalize_microchip(value: str) -> str:
    """The microchip number without separators: 15 digits (ISO 11784/11785), or an older
    chip's 9 digits or 10 hexadecimal characters (upper case); else ValueError."""
    text = _SEPARATORS.sub("", str(value)).upper()
    if _DIGITS_15.fullmatch(text) or _DIGITS_9.fullmatch(text) or _OLD_10.fullmatch(text):
        return text
    raise ValueError(
        "a microchip number has 15 digits (ISO 11784/11785), or 9 digits or 10 hexadecimal "
        "characters (older chips)"
    )


def name_key(name: str) -> str:
    """The pet's name folded (case, accents, spaces): its key per owner without a source id."""
    return " ".join(fold(name).split())[:MAX_NAME]


def _sex(value: str) -> tuple[str, bool | None]:
    found = _SEX.get(_squash(value))
    if found is None:
        raise ValueError("sex is male, female or unknown (M, F, MN, FS also)")
    return found


def _desexed(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    key = _squash(str(value))
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise ValueError("desexed is yes or no")


def _status(value: str) -> str:
    key = _squash(value)
    if key in _DECEASED:
        return "deceased"
    if key in _ACTIVE:
        return "active"
    raise ValueError("status is active or deceased")


def _weight(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        kg = float(value)
    else:
        match = _WEIGHT.match(str(value).lower())
        if match is None:
            raise ValueError("weight is a number of kilograms (or '12 lb')")
        number = float(match[1].replace(",", "."))
        unit = match[2] or "kg"
        kg = number * _LB if unit.startswith(("lb", "pound")) else number
        if unit == "g":
            kg = number / 1000
    if not 0 < kg <= MAX_WEIGHT_KG:
        raise ValueError(f"weight must be above 0 and at most {MAX_WEIGHT_KG:g} kg")
    return round(kg, 3)


def _text(value: Any, limit: int, field: str) -> str | None:
    text = " ".join(str(value).split())
    if len(text) > limit:
        raise ValueError(f"{field} is at most {limit} characters")
    return text or None


def normalize_pet(
    raw: dict[str, Any], *, region: str | None
) -> tuple[dict[str, Any], list[PetIssue]]:
    """The given pet values (keys of ``PET_FIELDS``) normalised; a bad value is left out and
    reported. Values not given are absent (an update keeps them); ``None`` clears one."""
    values: dict[str, Any] = {}
    issues: list[PetIssue] = []

    def bad(code: str, field: str, exc: Exception) -> None:
        issues.append(
            PetIssue(code, field, str(exc) if not isinstance(exc, IdentityError) else exc.message)
        )

    for field, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            if field in raw and value is None:
                values[field] = None
            continue
        try:
            if field == "name":
                name = clean_name(str(value))
                if name and len(name) > MAX_NAME:
                    raise ValueError(f"a pet's name is at most {MAX_NAME} characters")
                values["name"] = name
            elif field == "sex":
                sex, desexed = _sex(str(value))
                values["sex"] = sex
                if desexed is not None and raw.get("desexed") in (None, ""):
                    values["desexed"] = desexed
            elif field == "desexed":
                values["desexed"] = _desexed(value)
            elif field == "date_of_birth":
                values["date_of_birth"] = normalize_date_of_birth(value, region=region)
            elif field == "weight_kg":
                values["weight_kg"] = _weight(value)
            elif field == "microchip":
                values["microchip"] = normalize_microchip(str(value))
            elif field == "status":
                values["status"] = _status(str(value))
            elif field in _TEXT_LIMITS:
                values[field] = _text(value, _TEXT_LIMITS[field], field)
        except IdentityError as exc:
            code = {"date_of_birth": INVALID_PET_DATE, "name": INVALID_PET_NAME}.get(
                field, INVALID_PET_VALUE
            )
            issues.append(PetIssue(code, field, exc.message))
        except ValueError as exc:
            code = {
                "microchip": INVALID_MICROCHIP,
                "sex": INVALID_PET_SEX,
                "date_of_birth": INVALID_PET_DATE,
            }.get(field, INVALID_PET_VALUE)
            bad(code, field, exc)
    return values, issues


def as_json(values: dict[str, Any]) -> dict[str, Any]:
    """Pet values as JSON (dates as ISO text), for versions and hashes."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}
