"""Cliniko (https://github.com/redguava/cliniko-api): patients, appointments, practitioners.

Basic auth with the API key as the user name; the shard (``au2``) is the key's suffix
(``...-au2``), ``au1`` without one. 100 records a page, following ``links.next``. Changes
are read with ``q[]=updated_at:>`` less an overlap window, sorted by ``updated_at`` so a
page's last time is a safe place to resume. Archived patients (and merged ones, which Cliniko
archives with ``merged_with_patient``) and deleted patients come from their own endpoints,
each with its own cursor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import phonenumbers

from crm.errors import ErrorCode
from crm.identity import Channel
from crm.pms.adapters.base import (
    ACTIVE,
    ARCHIVED,
    DELETED,
    AppointmentRecord,
    AppointmentType,
    Page,
    PatientRecord,
    Practitioner,
    format_time,
    read_page,
)
from crm.pms.http import PmsError, PmsHttp
from crm.pms.ratelimit import limiter_for
from crm.settings import Settings, get_settings

PER_PAGE = 100
# 200 requests a minute per user (the API key's user)
RATE_LIMIT = 200
_SHARD = re.compile(r"^[a-z]{2}\d{1,2}$", re.IGNORECASE)
# stream -> (path, time field that orders it and filters it)
PATIENT_STREAMS: dict[str, tuple[str, str]] = {
    "patients": ("patients", "updated_at"),
    "archived_patients": ("patients/archived", "updated_at"),
    "deleted_patients": ("patients/deleted", "deleted_at"),
}


def shard_of(api_key: str) -> str:
    """The shard an API key names by its suffix (``...-au2``), else ``au1``."""
    _, _, suffix = api_key.rpartition("-")
    return suffix.lower() if suffix and _SHARD.match(suffix) and "-" in api_key else "au1"


def base_url_for(api_key: str) -> str:
    return f"https://api.{shard_of(api_key)}.cliniko.com/v1"


def parse_time(value: Any) -> datetime | None:
    """Cliniko's ``2013-03-26T14:00:00Z``; ``""`` and null mean none."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError("not a time")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def id_from_link(value: Any) -> str | None:
    """The id at the end of a ``{"links": {"self": ".../patients/82"}}`` reference."""
    if not isinstance(value, dict):
        return None
    link = (value.get("links") or {}).get("self")
    if not isinstance(link, str):
        return None
    # plain string work: an ``httpx.URL`` per reference was a third of a sync's time
    path = link.partition("?")[0].partition("#")[0].rstrip("/")
    last = unquote(path.rpartition("/")[2])
    return last or None


def phone_text(number: str, *, region: str | None) -> str:
    """Cliniko often stores numbers as digits with the country code and no ``+``
    (``61444444444``): read those as international when that makes a valid number."""
    text = number.strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith(("+", "0")) or not digits or len(digits) < 8:
        return text
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return text
    if phonenumbers.is_valid_number(parsed):
        national = None
        try:
            national = phonenumbers.parse(text, region) if region else None
        except phonenumbers.NumberParseException:
            national = None
        if national is None or not phonenumbers.is_valid_number(national) or national == parsed:
            return "+" + digits
    return text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_patient(raw: Any, *, status: str, region: str | None) -> PatientRecord:
    """A Cliniko patient as a ``PatientRecord``; ``ValueError`` when it cannot be read."""
    if not isinstance(raw, dict):
        raise ValueError("the record is not an object")
    pms_id = _text(raw.get("id")) or id_from_link(raw)
    if pms_id is None:
        raise ValueError("the record has no id")
    updated = parse_time(raw.get("updated_at"))
    if status == DELETED:
        deleted_at = parse_time(raw.get("deleted_at"))
        return PatientRecord(
            pms_id=pms_id,
            status=DELETED,
            fields={},
            facts={"deleted_at": format_time(deleted_at) if deleted_at else None},
            updated_at=deleted_at or updated,
        )
    phones: list[tuple[str, str]] = []
    numbers = raw.get("patient_phone_numbers") or []
    if not isinstance(numbers, list):
        raise ValueError("patient_phone_numbers is not a list")
    for entry in numbers:
        if isinstance(entry, dict) and (number := _text(entry.get("number"))):
            phones.append((_text(entry.get("phone_type")) or "Other", number))
    mobile = next((n for t, n in phones if t.lower() == "mobile"), None)
    line2 = " ".join(x for x in (_text(raw.get("address_2")), _text(raw.get("address_3"))) if x)
    fields = {
        "first_name": _text(raw.get("first_name")),
        "last_name": _text(raw.get("last_name")),
        "email": _text(raw.get("email")),
        "phone": phone_text(mobile or phones[0][1], region=region) if phones else None,
        "date_of_birth": _text(raw.get("date_of_birth")),
        "address_line1": _text(raw.get("address_1")),
        "address_line2": line2 or None,
        "city": _text(raw.get("city")),
        "region": _text(raw.get("state")),
        "postal_code": _text(raw.get("post_code")),
        "country": _text(raw.get("country")),
    }
    archived_at = parse_time(raw.get("archived_at"))
    merged_at = parse_time(raw.get("merged_at"))
    merged_into = (
        id_from_link(raw.get("merged_with_patient"))
        if merged_at or raw.get("merged_with_patient")
        else None
    )
    if archived_at and status == ACTIVE:
        status = ARCHIVED
    facts: dict[str, Any] = {
        "accepted_email_marketing": raw.get("accepted_email_marketing"),
        "accepted_sms_marketing": raw.get("accepted_sms_marketing"),
        "accepted_privacy_policy": raw.get("accepted_privacy_policy"),
        "preferred_first_name": _text(raw.get("preferred_first_name")),
        "archived_at": format_time(archived_at) if archived_at else None,
        "merged_at": format_time(merged_at) if merged_at else None,
        "merged_into": merged_into,
        "phone_numbers": [{"type": t, "number": n} for t, n in phones],
    }
    return PatientRecord(
        pms_id=pms_id,
        status=status,
        fields={k: v for k, v in fields.items() if v is not None},
        phones=[(t, phone_text(n, region=region)) for t, n in phones],
        facts={k: v for k, v in facts.items() if v not in (None, [])},
        updated_at=updated,
        merged_into=merged_into,
    )


def _appointment_status(raw: dict[str, Any]) -> str:
    if raw.get("deleted_at"):
        return "deleted"
    if raw.get("cancelled_at"):
        return "cancelled"
    if raw.get("did_not_arrive"):
        return "did_not_arrive"
    if raw.get("patient_arrived"):
        return "arrived"
    return "booked"


def read_appointment(raw: Any) -> AppointmentRecord:
    if not isinstance(raw, dict):
        raise ValueError("the record is not an object")
    pms_id = _text(raw.get("id"))
    starts_at = parse_time(raw.get("starts_at"))
    if pms_id is None or starts_at is None:
        raise ValueError("the appointment has no id or no start")
    return AppointmentRecord(
        pms_id=pms_id,
        patient_pms_id=id_from_link(raw.get("patient")),
        practitioner_pms_id=id_from_link(raw.get("practitioner")),
        appointment_type_pms_id=id_from_link(raw.get("appointment_type")),
        starts_at=starts_at,
        ends_at=parse_time(raw.get("ends_at")),
        status=_appointment_status(raw),
        telehealth=bool(raw.get("telehealth_url")),
        updated_at=parse_time(raw.get("updated_at")),
    )


class ClinikoAdapter:
    """One Cliniko account, through ``PmsHttp``."""

    source = "cliniko"
    channel = Channel.CLINIKO

    def __init__(
        self,
        *,
        connection_id: str,
        credentials: Mapping[str, Any],
        base_url: str | None = None,
        region: str | None = "AU",
        settings: Settings | None = None,
        http: PmsHttp | None = None,
    ) -> None:
        api_key = credentials.get("apiKey") or credentials.get("api_key")
        if not isinstance(api_key, str) or not api_key.strip():
            raise PmsError(
                ErrorCode.INVALID_INPUT,
                'Cliniko credentials are {"apiKey": "..."}',
                field="credentials",
            )
        api_key = api_key.strip()
        self.settings = settings or get_settings()
        self.region = region
        self.http = http or PmsHttp(
            pms="Cliniko",
            base_url=base_url or base_url_for(api_key),
            auth=httpx.BasicAuth(api_key, ""),
            limiter=limiter_for(f"cliniko:{connection_id}", limit=RATE_LIMIT),
            settings=self.settings,
        )

    def close(self) -> None:
        self.http.close()

    def pair(self) -> dict[str, Any]:
        return {}

    def health_check(self) -> None:
        self.http.get_json("patients", params={"per_page": 1})

    def _pages(self, path: str, key: str, params: list[tuple[str, str]]) -> Iterator[dict]:
        url: str | None = path
        query: Any = [*params, ("per_page", str(PER_PAGE))]
        while url:
            body = self.http.get_json(url, params=query)
            if not isinstance(body.get(key), list):
                raise PmsError(ErrorCode.PMS_BAD_RESPONSE, f"Cliniko answered without a {key} list")
            yield body
            nxt = (body.get("links") or {}).get("next")
            url, query = (nxt, None) if isinstance(nxt, str) and nxt else (None, None)

    def patient_pages(self, cursors: Mapping[str, Any], *, full: bool) -> Iterator[Page]:
        overlap = timedelta(seconds=self.settings.pms_sync_overlap_seconds)
        for stream, (path, time_field) in PATIENT_STREAMS.items():
            status = {"patients": ACTIVE, "archived_patients": ARCHIVED}.get(stream, DELETED)
            since = None if full else parse_time(cursors.get(stream))
            params = [("sort", f"{time_field},id")]
            if since is not None:
                params.append(("q[]", f"{time_field}:>{format_time(since - overlap)}"))
            cursor = cursors.get(stream) if not full else None
            for body in self._pages(path, "patients", params):
                page = read_page(
                    stream,
                    body["patients"],
                    lambda raw, status=status: read_patient(raw, status=status, region=self.region),
                    cursor,
                    errors=(ValueError, TypeError),
                    text=_text,
                )
                cursor = page.cursor
                yield page

    def appointment_pages(
        self, *, start: datetime, end: datetime, updated_since: datetime | None
    ) -> Iterator[Page]:
        params = [
            ("sort", "updated_at,id"),
            ("q[]", f"starts_at:>={format_time(start)}"),
            ("q[]", f"starts_at:<{format_time(end)}"),
        ]
        if updated_since is not None:
            overlap = timedelta(seconds=self.settings.pms_sync_overlap_seconds)
            params.append(("q[]", f"updated_at:>{format_time(updated_since - overlap)}"))
        cursor = format_time(updated_since) if updated_since else None
        for path in ("individual_appointments", "individual_appointments/cancelled"):
            for body in self._pages(path, "individual_appointments", params):
                page = read_page(
                    "appointments",
                    body["individual_appointments"],
                    read_appointment,
                    cursor,
                    errors=(ValueError, TypeError),
                    text=_text,
                )
                cursor = page.cursor
                yield page

    def practitioners(self) -> list[Practitioner]:
        found = []
        for body in self._pages("practitioners", "practitioners", []):
            for raw in body["practitioners"]:
                if isinstance(raw, dict) and (pms_id := _text(raw.get("id"))):
                    name = _text(raw.get("display_name")) or " ".join(
                        x for x in (_text(raw.get("first_name")), _text(raw.get("last_name"))) if x
                    )
                    found.append(Practitioner(pms_id, name or pms_id))
        return found

    def appointment_types(self) -> list[AppointmentType]:
        found = []
        for body in self._pages("appointment_types", "appointment_types", []):
            for raw in body["appointment_types"]:
                if isinstance(raw, dict) and (pms_id := _text(raw.get("id"))):
                    found.append(
                        AppointmentType(
                            pms_id,
                            _text(raw.get("name")) or pms_id,
                            bool(raw.get("telehealth_enabled")),
                        )
                    )
        return found
