"""Turn one raw record (canonical field names) into a normalised observation.

Invalid values are dropped and reported as issues; the record is rejected only when nothing
identifies a person afterwards (no name and no valid identifier).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crm.identity import (
    Channel,
    IdentityError,
    clean_name,
    normalize_date_of_birth,
    normalize_email,
    normalize_external_id,
    normalize_handle,
    normalize_phone,
    split_full_name,
)
from crm.models import Contact, utcnow

MAX_SOURCE_LENGTH = 64
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")
# cut to the column's length: PostgreSQL refuses a longer value and would fail the whole batch
_ADDRESS_LENGTHS = {name: Contact.__table__.c[name].type.length for name in ADDRESS_FIELDS}
# canonical input column -> identifier channel, for the columns that carry channel identifiers
IDENTIFIER_COLUMNS: dict[str, Channel] = {
    # a file's further phones (the first is ``phone``): more ``tel`` keys, in this order
    "home_phone": Channel.PHONE,
    "work_phone": Channel.PHONE,
    "other_phone": Channel.PHONE,
    "whatsapp": Channel.WHATSAPP,
    "sms": Channel.SMS,
    "instagram": Channel.INSTAGRAM,
    "facebook": Channel.FACEBOOK,
    "chatwoot_id": Channel.CHATWOOT,
    "cliniko_id": Channel.CLINIKO,
    "gentu_id": Channel.GENTU,
    "halaxy_id": Channel.HALAXY,
    "medirecords_id": Channel.MEDIRECORDS,
    "careportals_id": Channel.CAREPORTALS,
}
_HANDLE_CHANNELS = {Channel.INSTAGRAM, Channel.FACEBOOK}
_PHONE_CHANNELS = {Channel.PHONE, Channel.WHATSAPP, Channel.SMS}


@dataclass(slots=True, frozen=True)
class FieldIssue:
    """A problem with one value (or, with ``field=None``, the whole record)."""

    code: str
    field: str | None
    message: str


@dataclass(slots=True)
class Key:
    namespace: str
    value: str
    channel: str

    @property
    def identity(self) -> tuple[str, str]:
        return (self.namespace, self.value)


@dataclass(slots=True)
class Observation:
    """One normalised record from one source, ready for the pipeline."""

    source: str
    source_id: str
    external_id: str | None
    fields: dict[str, Any]
    keys: list[Key]
    payload: dict[str, Any]
    metadata: dict[str, Any]
    observed_at: datetime
    content_hash: str
    payload_hash: str = ""
    issues: list[FieldIssue] = field(default_factory=list)
    line: int | None = None
    # set when the caller already knows the contact (manual edits, linkIdentifier)
    contact_id: uuid.UUID | None = None

    @property
    def first_name(self) -> str | None:
        return self.fields.get("first_name")

    @property
    def date_of_birth(self) -> date | None:
        value = self.fields.get("date_of_birth")
        return date.fromisoformat(value) if isinstance(value, str) else value


class Rejected(Exception):
    """The record identifies nobody; ``issues`` says why."""

    def __init__(self, issues: list[FieldIssue]):
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues


def _key_for(channel: Channel, value: str, *, region: str | None) -> Key:
    if channel in _PHONE_CHANNELS:
        return Key("tel", normalize_phone(value, region=region), channel.value)
    if channel is Channel.EMAIL:
        return Key("email", normalize_email(value), channel.value)
    if channel in _HANDLE_CHANNELS:
        return Key(channel.value.lower(), normalize_handle(value, channel), channel.value)
    return Key(channel.value.lower(), normalize_external_id(value), channel.value)


# NUL, which PostgreSQL cannot store in text, and lone surrogates, which no encoding can
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    """``value`` without the characters no database column can hold."""
    if value.isascii():  # no surrogates: only a NUL can be in the way
        return value.replace("\x00", "") if "\x00" in value else value
    return _UNSTORABLE.sub("", value) if _UNSTORABLE.search(value) else value


def _text(raw: dict[str, Any], name: str) -> str | None:
    # (build_observation has made every text value of ``raw`` storable already)
    value = raw.get(name)
    if value is None:
        return None
    value = (value if type(value) is str else storable(str(value))).strip()
    return value or None


# json.dumps(content, sort_keys=True, default=str) without its per-call set-up: the same text
# (stored hashes depend on it), built by the C encoder made once
_hash_json = json.encoder.c_make_encoder(
    None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True
)


def _digest(content: Any) -> str:
    return hashlib.sha256("".join(_hash_json(content, 0)).encode()).hexdigest()


def content_hash_of(
    raw: dict[str, Any],
    *,
    region: str | None,
    extra_keys: list[tuple[Channel, str]] | None = None,
) -> str:
    """The record as received and the region that reads it. Normalisation is deterministic,
    so an equal hash means an equal observation: a bulk re-import skips such rows without
    normalising them again. (Whether an observation is new is decided on the normalised
    content, so two spellings of one record do not count as changes.)"""
    payload = {k: v for k, v in raw.items() if v not in (None, "")}
    content = {
        "raw": payload,
        "region": region,
        "keys": [[str(c), v] for c, v in extra_keys or ()],
    }
    return _digest(content)


def source_id_for(external_id: str | None, content_hash: str) -> str:
    """The source record id: the source's own id, else one derived from the content."""
    return external_id if external_id is not None else "h:" + content_hash[:40]


def build_observation(
    raw: dict[str, Any],
    *,
    source: str,
    region: str | None,
    external_id: str | None = None,
    extra_keys: list[tuple[Channel, str]] | None = None,
    observed_at: datetime | None = None,
    line: int | None = None,
    contact_id: uuid.UUID | None = None,
    source_id: str | None = None,
    key_fields: bool = True,
    payload_hash: str | None = None,
    external_key: bool = True,
) -> Observation:
    """Normalise ``raw`` into an observation, or raise ``Rejected``.

    ``payload_hash``: ``content_hash_of(raw, region=..., extra_keys=...)`` when the caller
    has computed it already (the bulk import, to skip rows it has seen).
    ``external_key``: whether the source's own id also becomes the ``external`` key
    ``<source>:<id>``; a PMS sync says no, its id is already among ``extra_keys`` as the
    PMS's exclusive identifier (``CLINIKO`` …), and one key per id is enough.
    """
    raw = {k: storable(v) if isinstance(v, str) else v for k, v in raw.items()}
    issues: list[FieldIssue] = []
    fields: dict[str, Any] = {}
    keys: list[Key] = []
    seen: set[tuple[str, str]] = set()

    def add_key(channel: Channel, value: str, column: str) -> Key | None:
        try:
            key = _key_for(channel, value, region=region)
        except IdentityError as exc:
            issues.append(FieldIssue(exc.code.value, column, exc.message))
            return None
        if key.identity not in seen:
            seen.add(key.identity)
            keys.append(key)
        return key

    source = storable(source).strip().lower()
    if not source or len(source) > MAX_SOURCE_LENGTH:
        raise Rejected(
            [
                FieldIssue(
                    "INVALID_INPUT",
                    "source",
                    f"a source name is 1 to {MAX_SOURCE_LENGTH} characters",
                )
            ]
        )
    external_id = external_id if external_id is not None else _text(raw, "external_id")
    if external_id is not None:
        try:
            external_id = normalize_external_id(external_id)
        except IdentityError as exc:
            issues.append(FieldIssue(exc.code.value, "external_id", exc.message))
            external_id = None
    for channel, value in extra_keys or []:
        key = add_key(channel, value, "value")
        if not key_fields:
            continue
        if key and key.namespace == "tel":
            fields.setdefault("phone", key.value)
        elif key and key.namespace == "email":
            fields.setdefault("email", key.value)

    first, last = _text(raw, "first_name"), _text(raw, "last_name")
    full = _text(raw, "name")
    if full and not (first or last):
        first, last = split_full_name(full)
    for name, value in (("first_name", first), ("last_name", last)):
        try:
            cleaned = clean_name(value)
        except IdentityError as exc:
            issues.append(FieldIssue(exc.code.value, name, exc.message))
            cleaned = None
        if cleaned:
            fields[name] = cleaned

    if email := _text(raw, "email"):
        key = add_key(Channel.EMAIL, email, "email")
        if key:
            fields["email"] = key.value
    if phone := _text(raw, "phone"):
        key = add_key(Channel.PHONE, phone, "phone")
        if key:
            fields["phone"] = key.value
    for column, channel in IDENTIFIER_COLUMNS.items():
        if column in raw and (value := _text(raw, column)):
            key = add_key(channel, value, column)
            if key and channel in _PHONE_CHANNELS and "phone" not in fields:
                fields["phone"] = key.value

    if dob := raw.get("date_of_birth"):
        try:
            fields["date_of_birth"] = normalize_date_of_birth(dob, region=region).isoformat()
        except IdentityError as exc:
            issues.append(FieldIssue(exc.code.value, "date_of_birth", exc.message))
    for name in ADDRESS_FIELDS:
        if name in raw and (value := _text(raw, name)):
            fields[name] = " ".join(value.split())[: _ADDRESS_LENGTHS[name]]

    metadata: dict[str, Any] = {
        storable(str(k)): storable(v) if isinstance(v, str) else v
        for k, v in (raw.get("metadata") or {}).items()
    }
    if notes := _text(raw, "notes"):
        metadata["notes"] = notes

    if not fields.get("first_name") and not fields.get("last_name") and not keys and not contact_id:
        issues.append(
            FieldIssue(
                "NOTHING_TO_IDENTIFY",
                None,
                "no name and no valid email, phone, channel handle or PMS id",
            )
        )
        raise Rejected(issues)

    if external_id is not None and external_key:
        ext = Key("external", f"{source}:{external_id}", Channel.EXTERNAL.value)
        keys.insert(0, ext)

    payload = {k: v for k, v in raw.items() if v not in (None, "")}
    if payload_hash is None:
        payload_hash = content_hash_of(raw, region=region, extra_keys=extra_keys)
    normalized = {"fields": fields, "keys": [[k.namespace, k.value] for k in keys]}
    if metadata:
        normalized["metadata"] = metadata
    content_hash = _digest(normalized)
    if source_id is None:
        source_id = source_id_for(external_id, payload_hash)
    if observed_at is not None:
        # survivorship compares it with stored (aware, UTC) times: a naive one would crash it
        if observed_at.tzinfo is None:
            observed_at = observed_at.replace(tzinfo=UTC)
        observed_at = observed_at.astimezone(UTC)
    return Observation(
        source=source,
        source_id=source_id,
        external_id=external_id,
        fields=fields,
        keys=keys,
        payload=payload,
        metadata=metadata,
        observed_at=observed_at or utcnow(),
        content_hash=content_hash,
        payload_hash=payload_hash,
        issues=issues,
        line=line,
        contact_id=contact_id,
    )
