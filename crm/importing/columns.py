"""Header matching: canonical column names, their common aliases, and ``--map SRC=DST``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crm.errors import ErrorCode, ServiceError
from crm.importing.pet_columns import PET_ALIASES, PET_COLUMNS

CANONICAL = (
    "external_id",
    "first_name",
    "last_name",
    "name",
    "email",
    "phone",
    "whatsapp",
    "instagram",
    "facebook",
    "date_of_birth",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "address",
    "cliniko_id",
    "gentu_id",
    "halaxy_id",
    "medirecords_id",
    "notes",
    "contact_id",
)

# Columns a rejects file adds in front of the original row; import skips them, so a fixed
# rejects file imports as it is.
REJECT_COLUMNS = ("reject_line", "reject_column", "reject_code", "reject_message")

# What export writes: every canonical column but the combined ones.
EXPORT_COLUMNS = (
    "contact_id",
    *(c for c in CANONICAL if c not in ("name", "address", "contact_id")),
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("id", "externalid", "recordid", "clientid", "customerid", "patientid", "uid"),
    "first_name": ("firstname", "givenname", "forename", "first", "fname", "given"),
    "last_name": ("lastname", "surname", "familyname", "last", "lname", "family"),
    "name": ("fullname", "name", "clientname", "patientname", "customername", "contactname"),
    "email": ("email", "emailaddress", "mail", "emails", "email1", "primaryemail"),
    "phone": (
        "phone",
        "mobile",
        "mobilephone",
        "cell",
        "cellphone",
        "telephone",
        "tel",
        "phonenumber",
        "mobilenumber",
        "contactnumber",
        "homephone",
        "phone1",
        "primaryphone",
    ),
    "whatsapp": ("whatsapp", "whatsappnumber", "wa"),
    "instagram": ("instagram", "instagramhandle", "ig", "insta"),
    "facebook": ("facebook", "fb", "facebookid"),
    "date_of_birth": ("dateofbirth", "dob", "birthdate", "birthday", "birth", "bday"),
    "address_line1": ("addressline1", "address1", "street", "streetaddress", "line1"),
    "address_line2": ("addressline2", "address2", "line2", "unit", "suite"),
    "city": ("city", "suburb", "town", "locality"),
    "region": ("region", "state", "province", "county"),
    "postal_code": ("postalcode", "postcode", "zip", "zipcode", "pcode"),
    "country": ("country", "countrycode"),
    "address": ("address", "fulladdress", "postaladdress", "homeaddress"),
    "cliniko_id": ("clinikoid", "clinikopatientid"),
    "gentu_id": ("gentuid", "gentupatientid"),
    "halaxy_id": ("halaxyid", "halaxypatientid"),
    "medirecords_id": ("medirecordsid", "medirecordspatientid"),
    "notes": ("notes", "note", "comments", "comment", "remarks"),
    "contact_id": ("contactid", "crmid"),
}
# pet columns (crm/importing/pet_columns.py, docs/pets.md): recognised and mappable; not in
# EXPORT_COLUMNS, which the export extends with them for an organization with pets
CANONICAL = (*CANONICAL, *PET_COLUMNS)
_ALIASES.update(PET_ALIASES)
_LOOKUP = {alias: canonical for canonical, aliases in _ALIASES.items() for alias in aliases}
for _name in CANONICAL:
    _LOOKUP.setdefault(_name.replace("_", ""), _name)


def squash(header: str) -> str:
    """Case- and punctuation-insensitive form of a header: "E-mail " -> "email"."""
    return re.sub(r"[^0-9a-z]", "", header.lower())


@dataclass(slots=True)
class ColumnPlan:
    """How each file column is read: its canonical name, or kept in metadata."""

    headers: list[str]
    canonical: dict[int, str] = field(default_factory=dict)
    unknown: dict[int, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    skipped: set[int] = field(default_factory=set)


def parse_column_map(pairs: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["Client Ref=external_id"]`` (or a mapping) to {squashed source: canonical}."""
    if not pairs:
        return {}
    items = pairs.items() if isinstance(pairs, Mapping) else [_split_pair(p) for p in pairs]
    result: dict[str, str] = {}
    for src, dst in items:
        target = dst if dst in CANONICAL else _LOOKUP.get(squash(dst))
        if target is None or not squash(src):
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"cannot map {src!r} to {dst!r}: the target must be one of {', '.join(CANONICAL)}",
                field="columnMap",
            )
        result[squash(src)] = target
    return result


def _split_pair(pair: str) -> tuple[str, str]:
    src, sep, dst = pair.partition("=")
    if not sep:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"--map takes SRC=DST, not {pair!r}", field="columnMap"
        )
    return src.strip(), dst.strip()


def plan_columns(headers: Sequence[str], column_map: Mapping[str, str]) -> ColumnPlan:
    """Match each header to a canonical column (explicit map first, then aliases)."""
    plan = ColumnPlan(headers=list(headers))
    taken: set[str] = set()
    skipped = {squash(c) for c in REJECT_COLUMNS}
    for index, header in enumerate(headers):
        key = squash(header)
        if key in skipped:
            plan.skipped.add(index)
            continue
        target = column_map.get(key) or _LOOKUP.get(key)
        if target is None or not key:
            plan.unknown[index] = header.strip() or f"column_{index + 1}"
        elif target in taken:
            plan.duplicates.append(header)
            plan.unknown[index] = header.strip()
        else:
            taken.add(target)
            plan.canonical[index] = target
    return plan
