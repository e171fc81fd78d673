"""Header matching: canonical columns, their aliases, header words, content, and ``--map``.

Each file column gets a field with a confidence, once per file (docs/guide/preparing-a-file.md):

1. ``--map SRC=DST`` (1.0; DST may be ``metadata``);
2. an exact alias after case and punctuation are dropped (1.0): ``E-mail``, ``Surname``;
3. the header's words (0.9, ``header_tokens``): ``Client First Name``, ``Mobile Ph``;
4. the column's values (``sniff``): mostly emails, phones or birth dates; proposed only.

Phones are several kinds (mobile, home, work, other): the mobile (else a plain "phone", else
home, work, other) is ``phone``, the contact's primary; each other one is its kind's column
and is linked as a further ``tel`` identifier. Another module adds its own columns with
``register_column``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crm.errors import ErrorCode, ServiceError
from crm.importing.header_tokens import (
    GENERIC,
    HOME,
    MOBILE,
    OTHER,
    PHONE_KINDS,
    WORK,
    read_header,
    words,
)
from crm.importing.pet_columns import PET_ALIASES, PET_COLUMNS


@dataclass(frozen=True, slots=True)
class Column:
    """A canonical column: its name, the headers that are it, and what it says."""

    name: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    export: bool = True
    # "name" or "channel": a file needs one of each (else a real import asks first)
    identifies: str | None = None


METADATA = "metadata"  # the --map target that keeps a column in metadata, as decided

_COLUMNS: dict[str, Column] = {}


def register_column(
    name: str,
    *,
    aliases: Sequence[str] = (),
    description: str = "",
    export: bool = True,
    identifies: str | None = None,
) -> Column:
    """Add a canonical column (e.g. a pets module's ``microchip``); idempotent per name."""
    if name == METADATA or squash(name) != name.replace("_", ""):
        raise ValueError(f"not a canonical column name: {name!r}")
    column = Column(name, tuple(squash(a) for a in aliases), description, export, identifies)
    _COLUMNS[name] = column
    _rebuild()
    return column


def squash(header: str) -> str:
    """Case- and punctuation-insensitive form of a header: "E-mail " -> "email"."""
    return re.sub(r"[^0-9a-z]", "", header.lower())


_PHONE_ALIASES = (
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
    "phone1",
    "primaryphone",
)
for _column in (
    Column(
        "external_id",
        (
            *("id", "externalid", "recordid", "clientid", "customerid", "patientid", "uid"),
            *("ref", "reference", "code", "clientcode", "clientref", "clientno", "clientnumber"),
        ),
        "the row's id in the system it came from; makes re-import idempotent per row",
    ),
    Column(
        "first_name",
        ("firstname", "givenname", "forename", "first", "fname", "given", "givennames"),
        identifies="name",
    ),
    Column(
        "last_name",
        ("lastname", "surname", "familyname", "last", "lname", "family"),
        identifies="name",
    ),
    Column(
        "name",
        ("fullname", "name", "clientname", "patientname", "customername", "contactname"),
        "split on the last space when there is no first/last name",
        identifies="name",
    ),
    Column(
        "email",
        ("email", "emailaddress", "mail", "emails", "email1", "primaryemail"),
        identifies="channel",
    ),
    Column("phone", _PHONE_ALIASES, "the primary phone: a mobile first", identifies="channel"),
    Column(
        "home_phone",
        ("homephone", "phonehome", "homeph"),
        "kept as a further phone identifier",
        export=False,
        identifies="channel",
    ),
    Column(
        "work_phone",
        ("workphone", "phonework", "businessphone", "officephone"),
        "kept as a further phone identifier",
        export=False,
        identifies="channel",
    ),
    Column(
        "other_phone",
        ("otherphone", "phoneother", "phone2", "altphone"),
        "kept as a further phone identifier",
        export=False,
        identifies="channel",
    ),
    Column("whatsapp", ("whatsapp", "whatsappnumber", "wa"), identifies="channel"),
    Column("instagram", ("instagram", "instagramhandle", "ig", "insta"), identifies="channel"),
    Column("facebook", ("facebook", "fb", "facebookid"), identifies="channel"),
    Column(
        "date_of_birth",
        ("dateofbirth", "dob", "birthdate", "birthday", "birth", "bday"),
        "YYYY-MM-DD, DD/MM/YYYY (region order), 8/8/86, 08-Aug-1986...",
    ),
    Column("address_line1", ("addressline1", "address1", "street", "streetaddress", "line1")),
    Column("address_line2", ("addressline2", "address2", "line2", "unit", "suite")),
    Column("city", ("city", "suburb", "town", "locality", "suburbtown", "towncity")),
    Column(
        "region",
        ("region", "state", "province", "county", "stateregion", "provincecode", "statecode"),
    ),
    Column("postal_code", ("postalcode", "postcode", "zip", "zipcode", "pcode")),
    Column("country", ("country", "countrycode", "countryregion")),
    Column(
        "address",
        ("address", "fulladdress", "postaladdress", "homeaddress"),
        "one address cell, split into its parts",
    ),
    Column("cliniko_id", ("clinikoid", "clinikopatientid"), identifies="channel"),
    Column("gentu_id", ("gentuid", "gentupatientid"), identifies="channel"),
    Column("halaxy_id", ("halaxyid", "halaxypatientid"), identifies="channel"),
    Column("medirecords_id", ("medirecordsid", "medirecordspatientid"), identifies="channel"),
    Column("notes", ("notes", "note", "comments", "comment", "remarks"), "kept in metadata"),
    Column("contact_id", ("contactid", "crmid"), "from `crm export`", identifies="channel"),
):
    _COLUMNS[_column.name] = _column

# the phone columns, by kind; the first one present is the primary ``phone``
PHONE_COLUMNS = {MOBILE: "phone", GENERIC: "phone", HOME: "home_phone", WORK: "work_phone"}
PHONE_COLUMNS[OTHER] = "other_phone"
MULTI_PHONE = ("phone", "home_phone", "work_phone", "other_phone")
_KIND_OF_COLUMN = {"home_phone": HOME, "work_phone": WORK, "other_phone": OTHER}

# Columns a rejects file adds in front of the original row; import skips them, so a fixed
# rejects file imports as it is.
REJECT_COLUMNS = ("reject_line", "reject_column", "reject_code", "reject_message")

CANONICAL: tuple[str, ...] = ()
EXPORT_COLUMNS: tuple[str, ...] = ()
_LOOKUP: dict[str, str] = {}
_LOOKUP_ITEMS: tuple[tuple[str, str], ...] = ()


def _rebuild() -> None:
    global CANONICAL, EXPORT_COLUMNS, _LOOKUP, _LOOKUP_ITEMS
    CANONICAL = tuple(_COLUMNS)
    # what export writes: every exported canonical column but the combined ones
    EXPORT_COLUMNS = (
        "contact_id",
        *(
            c.name
            for c in _COLUMNS.values()
            if c.export and c.name not in ("name", "address", "contact_id")
        ),
    )
    lookup = {alias: c.name for c in _COLUMNS.values() for alias in c.aliases}
    for name in _COLUMNS:
        lookup.setdefault(name.replace("_", ""), name)
    _LOOKUP = lookup
    _LOOKUP_ITEMS = tuple(sorted(lookup.items()))


# pet columns (crm/importing/pet_columns.py, docs/pets.md): recognised and mappable; not in
# EXPORT_COLUMNS, which the export extends with them for an organization with pets
for _name in PET_COLUMNS:
    _COLUMNS[_name] = Column(_name, PET_ALIASES.get(_name, ()), "a pet of the row's owner", False)

_rebuild()


def columns() -> list[Column]:
    """Every canonical column, in order."""
    return list(_COLUMNS.values())


@dataclass(slots=True)
class ColumnMatch:
    """One file column's place in the plan."""

    index: int
    header: str
    field: str | None  # None: kept in metadata
    confidence: float
    how: str  # map | alias | words | content | none | skipped
    note: str | None = None
    # a real import stops on it unless --yes (or --map decides it)
    confirm: bool = False
    looks_like: str | None = None

    def as_json(self) -> dict:
        return {
            "column": self.header,
            "field": self.field,
            "confidence": self.confidence,
            "how": self.how,
            "note": self.note,
            "confirm": self.confirm,
        }


@dataclass(slots=True)
class ColumnPlan:
    """How each file column is read: its canonical name, or kept in metadata."""

    headers: list[str]
    canonical: dict[int, str] = field(default_factory=dict)
    unknown: dict[int, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    skipped: set[int] = field(default_factory=set)
    matches: list[ColumnMatch] = field(default_factory=list)

    def fields(self) -> set[str]:
        return set(self.canonical.values())

    def identifies(self, kind: str) -> bool:
        """Whether a column of the file gives a name (``name``) or a channel (``channel``)."""
        return any(_COLUMNS[f].identifies == kind for f in self.canonical.values())

    def as_json(self) -> list[dict]:
        return [m.as_json() for m in self.matches if m.how != "skipped"]


def parse_column_map(pairs: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["Client Ref=external_id"]`` (or a mapping) to {squashed source: canonical}; the
    target ``metadata`` keeps the column in metadata."""
    if not pairs:
        return {}
    items = pairs.items() if isinstance(pairs, Mapping) else [_split_pair(p) for p in pairs]
    result: dict[str, str] = {}
    for src, dst in items:
        target = (
            dst
            if dst in _COLUMNS or dst == METADATA
            else _LOOKUP.get(squash(dst), METADATA if squash(dst) == METADATA else None)
        )
        if target is None or not squash(src):
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"cannot map {src!r} to {dst!r}: the target must be one of "
                f"{', '.join(CANONICAL)} or {METADATA}",
                field="columnMap",
            )
        result[squash(src)] = target
    return result


def _split_pair(pair: str) -> tuple[str, str]:
    src, sep, dst = pair.rpartition("=")
    if not sep:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"--map takes SRC=DST, not {pair!r}", field="columnMap"
        )
    return src.strip(), dst.strip()


def plan_columns(
    headers: Sequence[str],
    column_map: Mapping[str, str],
    *,
    sample: Sequence[Sequence[str]] | None = None,
    region: str | None = None,
) -> ColumnPlan:
    """Match each header to a canonical column (explicit map, aliases, words, then the
    values of ``sample`` rows for the headers that say nothing)."""
    plan = ColumnPlan(headers=list(headers))
    skipped = {squash(c) for c in REJECT_COLUMNS}
    matches: list[ColumnMatch] = []
    phones: list[tuple[int, str, ColumnMatch]] = []  # (kind rank, kind, match)
    for index, header in enumerate(headers):
        key = squash(header)
        label = header.strip() or f"column_{index + 1}"
        match = ColumnMatch(index, label, None, 0.0, "none")
        matches.append(match)
        if key in skipped:
            match.how = "skipped"
            plan.skipped.add(index)
            continue
        if not key:
            continue
        if (mapped := column_map.get(key)) is not None:
            match.field, match.confidence, match.how = mapped, 1.0, "map"
            if mapped == METADATA:
                match.field, match.note = None, "kept in metadata (--map)"
                continue
            if mapped in MULTI_PHONE:
                phones.append((-1, mapped, match))  # as mapped, before any matched phone
            continue
        if (alias := _LOOKUP.get(key)) is not None:
            match.field, match.confidence, match.how = alias, 1.0, "alias"
            if alias in MULTI_PHONE:
                kind = _KIND_OF_COLUMN.get(alias) or (
                    MOBILE if "mobile" in words(header) else GENERIC
                )
                phones.append((PHONE_KINDS.index(kind), kind, match))
            continue
        reading = read_header(header, _LOOKUP_ITEMS)
        if reading.field is not None:
            match.field, match.confidence, match.how = reading.field, reading.confidence, "words"
            if reading.phone_kind is not None:
                kind = reading.phone_kind
                phones.append((PHONE_KINDS.index(kind), kind, match))
        elif reading.looks_like is not None:
            match.confidence, match.looks_like = reading.confidence, reading.looks_like
            match.note, match.confirm = reading.note, True
        elif reading.quiet:
            match.note = "known, not a contact field"
    _assign_phones(phones)
    _settle_single_fields(matches)
    if sample:
        _sniff(matches, headers, sample, region)
    for match in matches:
        if match.how == "skipped":
            continue
        if match.field is None:
            plan.unknown[match.index] = match.header
        else:
            plan.canonical[match.index] = match.field
    plan.matches = matches
    return plan


def _assign_phones(phones: list[tuple[int, str, ColumnMatch]]) -> None:
    """The mobile (else the plain phone, then home, work, other) is ``phone``; the others
    their kind's column, or ``other_phone``; more than one of a kind is left to decide."""
    taken: set[str] = set()
    for rank, kind, match in sorted(phones, key=lambda p: (p[0], p[2].index)):
        if rank == -1:  # --map decided
            taken.add(kind)
            continue
        for target in ("phone", PHONE_COLUMNS[kind], "other_phone"):
            if target not in taken:
                taken.add(target)
                match.field = target
                break
        else:
            match.note = f"another phone: {', '.join(MULTI_PHONE)} are all taken"
            match.field, match.looks_like, match.confirm = None, "phone", True


def _settle_single_fields(matches: list[ColumnMatch]) -> None:
    """Two columns matched one field: the surer (then the first) keeps it; the other is
    left to decide (--map it elsewhere, or --yes to keep it in metadata)."""
    holder: dict[str, ColumnMatch] = {}
    for match in sorted(matches, key=lambda m: (-m.confidence, m.index)):
        if match.field is None:
            continue
        if (first := holder.get(match.field)) is None:
            holder[match.field] = match
            continue
        if match.how == "map" and first.how == "map":
            match.note = (
                f"--map gives {match.field} to column {first.header!r} too; a field takes one "
                "column: map this one elsewhere or to metadata"
            )
        else:
            match.note = f"also {match.field}, which column {first.header!r} gives"
        match.looks_like, match.field, match.confirm = match.field, None, True


def _sniff(
    matches: list[ColumnMatch],
    headers: Sequence[str],
    sample: Sequence[Sequence[str]],
    region: str | None,
) -> None:
    from crm.importing.sniff import propose

    taken = {m.field for m in matches if m.field}
    for match in matches:
        if match.field is not None or match.how != "none" or match.confirm or match.note:
            continue
        column = [row[match.index] for row in sample if match.index < len(row)]
        proposal = propose(column, header_words=words(headers[match.index]), region=region)
        if proposal is None:
            continue
        target = proposal.field
        if target == "phone":
            target = next((p for p in MULTI_PHONE if p not in taken), None)  # type: ignore[assignment]
        if target is None or target in taken:
            continue
        taken.add(target)
        match.field, match.how, match.confirm = target, "content", True
        match.confidence = round(0.8 * proposal.share, 2)
        match.note = (
            f"{int(proposal.share * 100)}% of {proposal.values} sampled values "
            f"read as {proposal.field}"
        )


def markdown() -> str:
    """The recognised headers, as the user guide lists them (generated from this module)."""
    lines = [
        "| column | headers recognised (any case and punctuation) | notes |",
        "|---|---|---|",
    ]
    for column in _COLUMNS.values():
        aliases = ", ".join(f"`{a}`" for a in sorted(set(column.aliases) | {column.name}))
        lines.append(f"| `{column.name}` | {aliases} | {column.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m crm.importing.columns --markdown
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m crm.importing.columns --markdown")
    sys.stdout.write(markdown())
