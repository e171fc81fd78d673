"""Halaxy and MediRecords: one FHIR R4 mapping (Patient, Appointment, Practitioner).

Both speak FHIR R4 search: a ``searchset`` Bundle a page, ``_count`` records a page, the next
page at the Bundle's ``link`` with relation ``next`` (followed as given, absolute). Changes are
read with ``_lastUpdated=gt`` less the overlap window and ``_sort=_lastUpdated``, so a page's
last ``meta.lastUpdated`` is a safe place to resume. An error answer's ``OperationOutcome`` is
read into a PMS_* error naming its issue codes (never its diagnostics: they may quote data).

Patient mapping (FHIR -> pipeline): the ``official`` name, else ``usual``, else the first
(given[0] first name, family last name; the other given names, the prefix and a ``usual``
name are facts); ``telecom`` phones (``phone``/``sms``) by use, the mobile first, each an
identifier; the first email; the ``home`` address, else the first; ``birthDate``; ``gender``
and every ``identifier`` (Medicare, IHI, DVA...) kept as source facts, never as keys; the
resource id is the patient id (``HALAXY`` / ``MEDIRECORDS`` exclusive identifier);
``active: false`` -> archived (neither PMS deletes patients through its API).

Halaxy: OAuth client credentials (``{"clientId", "clientSecret"}``, JSON token request at
``{base}/oauth/token``, the token manager caches and refreshes the token), 500 requests a
minute (sliding window), ``Accept: application/fhir+json`` and a ``User-Agent`` (mandatory).

MediRecords: ``{"token", "practiceId"}``: the bearer token, and the practice named in a
``practiceId`` header on every request. The IG excerpts do not show where the practice goes;
the header is an assumption confined to ``MediRecordsAdapter`` (docs/pms.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from crm.errors import ErrorCode
from crm.identity import Channel
from crm.pms.adapters.base import (
    ACTIVE,
    ARCHIVED,
    AppointmentRecord,
    AppointmentType,
    Page,
    PatientRecord,
    Practitioner,
    format_time,
    read_page,
)
from crm.pms.adapters.cliniko import parse_time, phone_text
from crm.pms.http import PmsError, PmsHttp
from crm.pms.ratelimit import limiter_for
from crm.pms.tokens import TokenManager, TokenStore, client_credentials
from crm.settings import Settings, get_settings

COUNT = 100
FHIR_JSON = "application/fhir+json"
# identifier systems worth a name of their own in the facts
IDENTIFIER_SYSTEMS = {
    "http://ns.electronichealth.net.au/id/medicare-number": "medicare_number",
    "http://ns.electronichealth.net.au/id/hi/ihi/1.0": "ihi",
    "http://ns.electronichealth.net.au/id/dva": "dva_number",
}
# FHIR Appointment.status -> the sync's statuses
APPOINTMENT_STATUS = {
    "proposed": "booked",
    "pending": "booked",
    "booked": "booked",
    "waitlist": "booked",
    "arrived": "arrived",
    "checked-in": "arrived",
    "fulfilled": "arrived",
    "cancelled": "cancelled",
    "noshow": "did_not_arrive",
    "entered-in-error": "deleted",
}
PHONE_TYPES = {"mobile": "Mobile", "home": "Home", "work": "Work"}
# OperationOutcome issue codes that mean the credentials were refused
AUTH_ISSUES = {"security", "login", "unknown", "expired", "forbidden", "suppressed"}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def reference_id(value: Any, kind: str | None = None) -> str | None:
    """The id of a ``{"reference": "Patient/12345"}`` (or an absolute URL to it)."""
    if not isinstance(value, dict):
        return None
    ref = _text(value.get("reference"))
    if ref is None:
        return None
    parts = [p for p in httpx.URL(ref).path.split("/") if p] if "://" in ref else ref.split("/")
    if len(parts) < 2 or (kind is not None and parts[-2] != kind):
        return None
    return parts[-1] or None


def _pick(items: list[Any], *uses: str) -> dict[str, Any] | None:
    entries = [i for i in items if isinstance(i, dict)]
    for use in uses:
        found = next((i for i in entries if i.get("use") == use), None)
        if found is not None:
            return found
    return entries[0] if entries else None


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise ValueError(f"{key} is not a list")
    return value


def read_patient(raw: Any, *, region: str | None) -> PatientRecord:
    """A FHIR Patient as a ``PatientRecord``; ``ValueError`` when it cannot be read."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Patient":
        raise ValueError("the entry is not a Patient")
    pms_id = _text(raw.get("id"))
    if pms_id is None:
        raise ValueError("the Patient has no id")
    names = _list(raw, "name")
    name = _pick(names, "official", "usual") or {}
    given = [g for g in (name.get("given") or []) if isinstance(g, str) and g.strip()]
    usual = next((n for n in names if isinstance(n, dict) and n.get("use") == "usual"), None)
    preferred = None
    if usual is not None and usual is not name and usual.get("given"):
        preferred = _text((usual.get("given") or [None])[0])
    phones: list[tuple[str, str]] = []
    emails: list[str] = []
    for point in _list(raw, "telecom"):
        if not isinstance(point, dict) or not (value := _text(point.get("value"))):
            continue
        system = point.get("system")
        if system in ("phone", "sms"):
            kind = PHONE_TYPES.get(str(point.get("use") or ""), "Other")
            if system == "sms" and kind == "Other":
                kind = "Mobile"
            phones.append((kind, phone_text(value, region=region)))
        elif system == "email":
            emails.append(value)
    phones.sort(key=lambda p: p[0] != "Mobile")  # the mobile first, else as listed
    address = _pick(_list(raw, "address"), "home") or {}
    lines = [x for x in (address.get("line") or []) if isinstance(x, str) and x.strip()]
    fields = {
        "first_name": _text(given[0]) if given else None,
        "last_name": _text(name.get("family")),
        "email": emails[0] if emails else None,
        "phone": phones[0][1] if phones else None,
        "date_of_birth": _text(raw.get("birthDate")),
        "address_line1": _text(lines[0]) if lines else None,
        "address_line2": " ".join(x.strip() for x in lines[1:]) or None,
        "city": _text(address.get("city")),
        "region": _text(address.get("state")),
        "postal_code": _text(address.get("postalCode")),
        "country": _text(address.get("country")),
    }
    identifiers: list[dict[str, str]] = []
    facts: dict[str, Any] = {}
    for ident in _list(raw, "identifier"):
        if isinstance(ident, dict) and (value := _text(ident.get("value"))):
            system = _text(ident.get("system")) or ""
            identifiers.append({"system": system, "value": value})
            if (named := IDENTIFIER_SYSTEMS.get(system)) and named not in facts:
                facts[named] = value
    prefix = [p for p in (name.get("prefix") or []) if isinstance(p, str) and p.strip()]
    active = raw.get("active")
    facts.update(
        {
            "gender": _text(raw.get("gender")),
            "prefix": " ".join(prefix) or None,
            "middle_names": " ".join(g.strip() for g in given[1:]) or None,
            "preferred_first_name": preferred,
            "identifiers": identifiers,
            "phone_numbers": [{"type": t, "number": n} for t, n in phones],
            "emails": emails[1:],
            "active": active if isinstance(active, bool) else None,
        }
    )
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    return PatientRecord(
        pms_id=pms_id,
        status=ARCHIVED if active is False else ACTIVE,
        fields={k: v for k, v in fields.items() if v is not None},
        phones=phones,
        facts={k: v for k, v in facts.items() if v not in (None, [], "")},
        updated_at=parse_time(meta.get("lastUpdated")),
    )


def _concept(value: Any) -> tuple[str | None, str | None]:
    """(code, name) of a CodeableConcept or a list of them (the first)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, dict):
        return None, None
    codings = [c for c in (value.get("coding") or []) if isinstance(c, dict)]
    code = next((_text(c.get("code")) for c in codings if _text(c.get("code"))), None)
    name = _text(value.get("text")) or next(
        (_text(c.get("display")) for c in codings if _text(c.get("display"))), None
    )
    return code or name, name or code


def read_appointment(raw: Any) -> AppointmentRecord:
    if not isinstance(raw, dict) or raw.get("resourceType") != "Appointment":
        raise ValueError("the entry is not an Appointment")
    pms_id = _text(raw.get("id"))
    starts_at = parse_time(raw.get("start"))
    if pms_id is None or starts_at is None:
        raise ValueError("the appointment has no id or no start")
    patient = practitioner = None
    for participant in _list(raw, "participant"):
        actor = participant.get("actor") if isinstance(participant, dict) else None
        patient = patient or reference_id(actor, "Patient")
        practitioner = practitioner or reference_id(actor, "Practitioner")
    type_code, type_name = _concept(raw.get("appointmentType"))
    if type_code is None:
        type_code, type_name = _concept(raw.get("serviceType"))
    words = " ".join(x for x in (type_code, type_name) if x).lower()
    status = APPOINTMENT_STATUS.get(str(raw.get("status") or ""), "booked")
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    return AppointmentRecord(
        pms_id=pms_id,
        patient_pms_id=patient,
        practitioner_pms_id=practitioner,
        appointment_type_pms_id=type_code,
        starts_at=starts_at,
        ends_at=parse_time(raw.get("end")),
        status=status,
        telehealth=any(w in words for w in ("telehealth", "video", "virtual")),
        updated_at=parse_time(meta.get("lastUpdated")),
        appointment_type_name=type_name,
    )


def explain(pms: str):
    """Read a FHIR error answer's OperationOutcome into a PMS_* error (issue codes only)."""

    def read(response: httpx.Response) -> PmsError | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
            return None
        codes = [
            str(i.get("code"))
            for i in (body.get("issue") or [])
            if isinstance(i, dict) and i.get("code")
        ]
        said = ", ".join(dict.fromkeys(codes)) or "no issue code"
        path = response.request.url.path
        status = response.status_code
        if status in (401, 403) or AUTH_ISSUES.intersection(codes):
            return PmsError(
                ErrorCode.PMS_AUTH_FAILED,
                f"{pms} refused the credentials ({status} on {path}: OperationOutcome {said})",
                field="credentials",
            )
        return PmsError(
            ErrorCode.PMS_BAD_RESPONSE,
            f"{pms} answered {status} on {path}: OperationOutcome {said}",
        )

    return read


class FhirAdapter:
    """A FHIR R4 server, through ``PmsHttp`` (subclasses set the auth)."""

    source = "fhir"
    channel = Channel.HALAXY
    pms = "FHIR"
    region: str | None = None

    def __init__(self, *, http: PmsHttp, settings: Settings) -> None:
        self.http = http
        self.settings = settings

    def close(self) -> None:
        self.http.close()

    def pair(self) -> dict[str, Any]:
        return {}

    def health_check(self) -> None:
        self._bundle("Patient", [("_count", "1")])

    def _bundle(self, url: str, params: Any) -> dict[str, Any]:
        body = self.http.get_json(url, params=params)
        kind = body.get("resourceType")
        if kind == "OperationOutcome":
            codes = ", ".join(
                str(i.get("code")) for i in body.get("issue") or [] if isinstance(i, dict)
            )
            raise PmsError(
                ErrorCode.PMS_BAD_RESPONSE,
                f"{self.pms} answered an OperationOutcome ({codes or 'no issue code'})",
            )
        if kind != "Bundle" or not isinstance(body.get("entry") or [], list):
            raise PmsError(ErrorCode.PMS_BAD_RESPONSE, f"{self.pms} answered without a Bundle")
        return body

    def _pages(self, path: str, params: list[tuple[str, str]]) -> Iterator[list[Any]]:
        url: str | None = path
        query: Any = [*params, ("_count", str(COUNT))]
        while url:
            body = self._bundle(url, query)
            yield [
                e.get("resource") if isinstance(e, dict) else e
                for e in body.get("entry") or []
                # OperationOutcome entries (search warnings) are not records
                if not (
                    isinstance(e, dict)
                    and isinstance(e.get("resource"), dict)
                    and e["resource"].get("resourceType") == "OperationOutcome"
                )
            ]
            nxt = next(
                (
                    link.get("url")
                    for link in body.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
            url, query = (nxt, None) if isinstance(nxt, str) and nxt else (None, None)

    def _since(self, since: datetime | None) -> list[tuple[str, str]]:
        if since is None:
            return []
        overlap = timedelta(seconds=self.settings.pms_sync_overlap_seconds)
        return [("_lastUpdated", f"gt{format_time(since - overlap)}")]

    def patient_pages(self, cursors: Mapping[str, Any], *, full: bool) -> Iterator[Page]:
        since = None if full else parse_time(cursors.get("patients"))
        cursor = None if full else cursors.get("patients")
        params = [("_sort", "_lastUpdated"), *self._since(since)]
        for entries in self._pages("Patient", params):
            page = read_page(
                "patients",
                entries,
                lambda raw: read_patient(raw, region=self.region),
                cursor,
                errors=(ValueError, TypeError, AttributeError),
                text=_text,
            )
            cursor = page.cursor
            yield page

    def appointment_pages(
        self, *, start: datetime, end: datetime, updated_since: datetime | None
    ) -> Iterator[Page]:
        params = [
            ("_sort", "_lastUpdated"),
            ("date", f"ge{format_time(start)}"),
            ("date", f"lt{format_time(end)}"),
            *self._since(updated_since),
        ]
        cursor = format_time(updated_since) if updated_since else None
        for entries in self._pages("Appointment", params):
            page = read_page(
                "appointments",
                entries,
                read_appointment,
                cursor,
                errors=(ValueError, TypeError, AttributeError),
                text=_text,
            )
            cursor = page.cursor
            yield page

    def practitioners(self) -> list[Practitioner]:
        found = []
        for entries in self._pages("Practitioner", []):
            for raw in entries:
                if not isinstance(raw, dict) or not (pms_id := _text(raw.get("id"))):
                    continue
                name = _pick(raw.get("name") or [], "official", "usual") or {}
                given = [g for g in name.get("given") or [] if isinstance(g, str)]
                prefix = [p for p in name.get("prefix") or [] if isinstance(p, str)]
                text = _text(name.get("text")) or " ".join(
                    x.strip() for x in [*prefix, *given, name.get("family") or ""] if x.strip()
                )
                found.append(Practitioner(pms_id, text or pms_id))
        return found

    def appointment_types(self) -> list[AppointmentType]:
        # FHIR has no list of them: each appointment names its type (appointmentType)
        return []


class HalaxyAdapter(FhirAdapter):
    source = "halaxy"
    channel = Channel.HALAXY
    pms = "Halaxy"
    BASE_URL = "https://au-api.halaxy.com/main"
    RATE_LIMIT = 500  # a minute, sliding window

    def __init__(
        self,
        *,
        connection_id: str,
        credentials: Mapping[str, Any],
        base_url: str | None = None,
        region: str | None = "AU",
        settings: Settings | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        client_id = _text(credentials.get("clientId"))
        secret = _text(credentials.get("clientSecret"))
        if not client_id or not secret:
            raise PmsError(
                ErrorCode.INVALID_INPUT,
                'Halaxy credentials are {"clientId": "...", "clientSecret": "..."}',
                field="credentials",
            )
        settings = settings or get_settings()
        self.region = region
        base = (base_url or self.BASE_URL).rstrip("/")
        tokens = TokenManager(
            client_credentials(
                token_url=f"{base}/oauth/token",
                client_id=client_id,
                client_secret=secret,
                user_agent=settings.pms_user_agent,
                timeout=settings.pms_http_timeout,
                json_body=True,
            ),
            store=token_store,
        )
        super().__init__(
            http=PmsHttp(
                pms=self.pms,
                base_url=base,
                tokens=tokens,
                limiter=limiter_for(f"halaxy:{connection_id}", limit=self.RATE_LIMIT),
                settings=settings,
                headers={"Accept": FHIR_JSON},
                explain=explain(self.pms),
            ),
            settings=settings,
        )


class MediRecordsAdapter(FhirAdapter):
    source = "medirecords"
    channel = Channel.MEDIRECORDS
    pms = "MediRecords"
    BASE_URL = "https://api.medirecords.com/fhir/v1"
    # no published limit: a conservative budget a minute
    RATE_LIMIT = 300

    def __init__(
        self,
        *,
        connection_id: str,
        credentials: Mapping[str, Any],
        base_url: str | None = None,
        region: str | None = "AU",
        settings: Settings | None = None,
    ) -> None:
        token = _text(credentials.get("token"))
        practice = _text(credentials.get("practiceId"))
        if not token or not practice:
            raise PmsError(
                ErrorCode.INVALID_INPUT,
                'MediRecords credentials are {"token": "...", "practiceId": "..."}',
                field="credentials",
            )
        settings = settings or get_settings()
        self.region = region
        super().__init__(
            http=PmsHttp(
                pms=self.pms,
                base_url=(base_url or self.BASE_URL).rstrip("/"),
                limiter=limiter_for(f"medirecords:{connection_id}", limit=self.RATE_LIMIT),
                settings=settings,
                headers={
                    "Accept": FHIR_JSON,
                    "Authorization": f"Bearer {token}",
                    "practiceId": practice,
                },
                explain=explain(self.pms),
            ),
            settings=settings,
        )
