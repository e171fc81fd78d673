"""The one shape every PMS adapter has (Cliniko now; FHIR R4 and Gentu later).

An adapter turns one PMS account's API into plain records. It neither opens sessions nor
touches the database: the sync (``crm.pms.sync``) stores what it yields, page by page, and
moves each stream's cursor only once the page it came with is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from crm.identity import Channel

ACTIVE = "active"
ARCHIVED = "archived"
DELETED = "deleted"


@dataclass(slots=True)
class PatientRecord:
    """One patient as the PMS describes it, in the pipeline's canonical field names."""

    pms_id: str
    status: str  # active | archived | deleted
    # canonical fields for ``build_observation`` (first_name, email, phone, address...)
    fields: dict[str, Any]
    # every phone number the PMS holds, with its type (Mobile, Home, Work...)
    phones: list[tuple[str, str]] = field(default_factory=list)
    # facts the PMS states that are not contact fields (marketing consent, preferred name)
    facts: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    # the PMS id of the patient this one was merged into (the PMS archived it as merged)
    merged_into: str | None = None


@dataclass(slots=True)
class BadRecord:
    """A record the adapter could not read: counted and reported, never stopping a run."""

    pms_id: str | None
    code: str
    message: str


@dataclass(slots=True)
class Page:
    """One page of a stream; ``cursor`` is the stream's position once the page is stored."""

    stream: str
    records: list[Any]
    bad: list[BadRecord]
    cursor: str | None
    # what the sync made of each record ahead of storing it (``crm.pms.pages.Prefetch``)
    prepared: list[Any] | None = None


@dataclass(slots=True)
class AppointmentRecord:
    pms_id: str
    patient_pms_id: str | None
    practitioner_pms_id: str | None
    appointment_type_pms_id: str | None
    starts_at: datetime
    ends_at: datetime | None
    # booked | arrived | cancelled | did_not_arrive | deleted
    status: str
    telehealth: bool
    updated_at: datetime | None
    # the type's name when the appointment itself names it (FHIR's appointmentType)
    appointment_type_name: str | None = None


@dataclass(slots=True)
class Practitioner:
    pms_id: str
    name: str


@dataclass(slots=True)
class AppointmentType:
    pms_id: str
    name: str
    telehealth: bool = False


class PmsAdapter(Protocol):
    """What the sync needs from a PMS."""

    #: the source system name records are stored under (``cliniko``)
    source: str
    #: the exclusive identifier channel of the PMS's patient ids
    channel: Channel

    def pair(self) -> dict[str, Any]:
        """Exchange one-time credentials (a pairing code) for lasting ones; {} if none."""
        ...

    def health_check(self) -> None:
        """Raise ``PmsError`` unless the credentials work against the PMS."""
        ...

    def patient_pages(self, cursors: Mapping[str, Any], *, full: bool) -> Iterator[Page]:
        """Every patient changed since ``cursors`` (everything with ``full``), page by page,
        each page's ``cursor`` the position of its stream once it is stored."""
        ...

    def appointment_pages(
        self, *, start: datetime, end: datetime, updated_since: datetime | None
    ) -> Iterator[Page]:
        """Appointments starting in [start, end), changed since ``updated_since`` if given."""
        ...

    def practitioners(self) -> list[Practitioner]: ...

    def appointment_types(self) -> list[AppointmentType]: ...

    def close(self) -> None: ...


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_page(
    stream: str,
    raws: Iterable[Any],
    read: Callable[[Any], Any],
    cursor: str | None,
    *,
    errors: tuple[type[Exception], ...],
    text: Callable[[Any], str | None],
) -> Page:
    """One page of raw records read with ``read``: a record it cannot read (``errors``) is a
    ``BadRecord``, counted and never stopping the run; the cursor moves to the newest
    ``updated_at`` read."""
    records: list[Any] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            record = read(raw)
        except errors as exc:
            pms_id = text(raw.get("id")) if isinstance(raw, dict) else None
            bad.append(BadRecord(pms_id, "PMS_BAD_RECORD", str(exc)[:200]))
            continue
        records.append(record)
        if record.updated_at is not None:
            stamp = format_time(record.updated_at)
            cursor = stamp if cursor is None or stamp > cursor else cursor
    return Page(stream, records, bad, cursor)
