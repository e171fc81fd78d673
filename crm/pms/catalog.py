"""Practitioners and appointment types of each connection, with the practice's settings.

Each sync refreshes them from the PMS (new ones added, names kept current; the flags the
practice set are never overwritten). A practitioner maps to a clinician reference of the
organization's choosing; the suggestion is the reference of the organization's most similar
mapped practitioner name (rapidfuzz, titles ignored), from any connection: the same person in
two PMSs. Appointments of a practitioner or type whose ``sync_enabled`` is off are skipped
and counted in the run's ``appointments_skipped``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlmodel import Session, select

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.models import PmsAppointmentType, PmsConnection, PmsPractitioner, utcnow
from crm.models.base import parse_uuid, uuid7

SUGGEST_SCORE = 85.0
_TITLES = re.compile(r"\b(dr|doctor|prof|mr|mrs|ms|miss|mx)\b\.?", re.IGNORECASE)
_UNSET: Any = object()


def _plain(name: str) -> str:
    return " ".join(_TITLES.sub(" ", name.lower()).replace(".", " ").split())


class Catalog:
    """One connection's practitioners and types during a sync (loaded once, kept current)."""

    def __init__(self, session: Session, connection: PmsConnection) -> None:
        self.session = session
        self.connection = connection
        self.practitioners: dict[str, PmsPractitioner] = {
            p.pms_id: p
            for p in session.exec(
                select(PmsPractitioner).where(PmsPractitioner.connection_id == connection.id)
            )
        }
        self.types: dict[str, PmsAppointmentType] = {
            t.pms_id: t
            for t in session.exec(
                select(PmsAppointmentType).where(PmsAppointmentType.connection_id == connection.id)
            )
        }

    def refresh(self, *, practitioners: Iterable[Any] = (), types: Iterable[Any] = ()) -> None:
        for p in practitioners:
            self.note_practitioner(p.pms_id, p.name)
        for t in types:
            self.note_type(t.pms_id, t.name, telehealth=bool(getattr(t, "telehealth", False)))
        self.session.flush()

    def note_practitioner(self, pms_id: str | None, name: str | None) -> None:
        self._note(self.practitioners, PmsPractitioner, pms_id, name)

    def note_type(self, pms_id: str | None, name: str | None, *, telehealth: bool = False) -> None:
        self._note(self.types, PmsAppointmentType, pms_id, name, telehealth=telehealth)

    def _note(
        self,
        known: dict[str, Any],
        model: type[PmsPractitioner] | type[PmsAppointmentType],
        pms_id: str | None,
        name: str | None,
        **new_fields: Any,
    ) -> None:
        """Add an entry the PMS named for the first time; follow a rename of a known one
        (a name missing in the PMS, shown as its id, never overwrites a real one)."""
        if not pms_id:
            return
        name = (name or pms_id)[:200]
        found = known.get(pms_id)
        if found is None:
            found = model(
                id=uuid7(),
                organization_id=self.connection.organization_id,
                connection_id=self.connection.id,
                pms_id=pms_id[:128],
                name=name,
                **new_fields,
            )
            known[pms_id] = found
            self.session.add(found)
        elif found.name != name and name != pms_id:
            found.name, found.updated_at = name, utcnow()
            self.session.add(found)

    def skips(self, practitioner_id: str | None, type_id: str | None) -> bool:
        """Whether the practice turned off the sync of this practitioner or this type."""
        p = self.practitioners.get(practitioner_id or "")
        t = self.types.get(type_id or "")
        return (p is not None and not p.sync_enabled) or (t is not None and not t.sync_enabled)

    def telehealth(self, practitioner_id: str | None, type_id: str | None) -> bool:
        p = self.practitioners.get(practitioner_id or "")
        t = self.types.get(type_id or "")
        return bool((p is not None and p.telehealth) or (t is not None and t.telehealth))


def list_practitioners(
    session: Session, *, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> list[PmsPractitioner]:
    return list(
        session.exec(
            select(PmsPractitioner)
            .where(
                PmsPractitioner.organization_id == organization_id,
                PmsPractitioner.connection_id == connection_id,
            )
            .order_by(PmsPractitioner.name, PmsPractitioner.pms_id)
        )
    )


def list_appointment_types(
    session: Session, *, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> list[PmsAppointmentType]:
    return list(
        session.exec(
            select(PmsAppointmentType)
            .where(
                PmsAppointmentType.organization_id == organization_id,
                PmsAppointmentType.connection_id == connection_id,
            )
            .order_by(PmsAppointmentType.name, PmsAppointmentType.pms_id)
        )
    )


def suggest_clinicians(
    session: Session, *, organization_id: uuid.UUID, practitioners: list[PmsPractitioner]
) -> dict[uuid.UUID, str | None]:
    """Per unmapped practitioner: the clinician reference of the organization's most similar
    mapped practitioner name (score ≥ 85, titles ignored), else None."""
    table = PmsPractitioner.__table__
    mapped = session.execute(
        sa.select(table.c.name, table.c.clinician_ref).where(
            table.c.organization_id == organization_id, table.c.clinician_ref.is_not(None)
        )
    ).all()
    choices = {i: _plain(row.name) for i, row in enumerate(mapped)}
    found: dict[uuid.UUID, str | None] = {}
    for p in practitioners:
        found[p.id] = None
        if p.clinician_ref or not choices:
            continue
        best = process.extractOne(
            _plain(p.name), choices, scorer=fuzz.token_sort_ratio, score_cutoff=SUGGEST_SCORE
        )
        if best is not None:
            found[p.id] = mapped[best[2]].clinician_ref
    return found


def _get(session: Session, model: Any, organization_id: uuid.UUID, id: Any, what: str) -> Any:
    pid = parse_uuid(id)
    found = session.get(model, pid) if pid is not None else None
    if found is None or found.organization_id != organization_id:
        raise NotFound(what, field="id")
    return found


def update_practitioner(
    session: Session,
    *,
    organization_id: uuid.UUID,
    id: Any,
    clinician_ref: str | None = _UNSET,
    telehealth: bool | None = None,
    sync_enabled: bool | None = None,
) -> PmsPractitioner:
    """Change what is given; ``clinician_ref`` "" clears the mapping."""
    found = _get(session, PmsPractitioner, organization_id, id, "PMS practitioner")
    if clinician_ref is not _UNSET and clinician_ref is not None:
        ref = clinician_ref.strip()
        if len(ref) > 200:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                "clinicianRef is at most 200 characters",
                field="clinicianRef",
            )
        found.clinician_ref = ref or None
    if telehealth is not None:
        found.telehealth = bool(telehealth)
    if sync_enabled is not None:
        found.sync_enabled = bool(sync_enabled)
    found.updated_at = utcnow()
    session.add(found)
    session.flush()
    return found


def accept_suggested_clinician(
    session: Session, *, organization_id: uuid.UUID, id: Any
) -> PmsPractitioner:
    """Map an unmapped practitioner to its suggested clinician reference (``suggest_clinicians``);
    INVALID_INPUT when it is mapped already or nothing is similar enough."""
    found = _get(session, PmsPractitioner, organization_id, id, "PMS practitioner")
    if found.clinician_ref:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            "this practitioner is mapped already: set clinicianRef to change it",
            field="clinicianRef",
        )
    suggestion = suggest_clinicians(
        session, organization_id=organization_id, practitioners=[found]
    ).get(found.id)
    if suggestion is None:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            "no mapped practitioner's name is similar enough to suggest a clinician: "
            "set clinicianRef",
            field="clinicianRef",
        )
    return update_practitioner(
        session, organization_id=organization_id, id=found.id, clinician_ref=suggestion
    )


def update_appointment_type(
    session: Session,
    *,
    organization_id: uuid.UUID,
    id: Any,
    telehealth: bool | None = None,
    sync_enabled: bool | None = None,
) -> PmsAppointmentType:
    found = _get(session, PmsAppointmentType, organization_id, id, "PMS appointment type")
    if telehealth is not None:
        found.telehealth = bool(telehealth)
    if sync_enabled is not None:
        found.sync_enabled = bool(sync_enabled)
    found.updated_at = utcnow()
    session.add(found)
    session.flush()
    return found
