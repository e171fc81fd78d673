"""A contact's appointments (from PMS sync) and the organization's active patients.

An appointment belongs to the contact that held its patient's PMS id when it was synced; a
contact merged since then hands its appointments to its survivor (one level of merges is
followed here: the sync relinks the rest). Deleted appointments are never shown.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from crm.db import in_values
from crm.errors import ErrorCode, ServiceError
from crm.models import Contact, PmsAppointment, utcnow

# statuses that mean the patient was (or is to be) seen
KEPT = ("booked", "arrived")
MAX_LISTED = 10
MAX_WINDOW_DAYS = 3650
# what `active` means when no window is given: seen or booked within 90 days
DEFAULT_ACTIVE_DAYS = 90

APPOINTMENTS = PmsAppointment.__table__
CONTACTS = Contact.__table__


@dataclass(slots=True)
class Activity:
    """What a contact's appointments say, as of ``now``."""

    recent: list[PmsAppointment] = field(default_factory=list)
    upcoming: list[PmsAppointment] = field(default_factory=list)
    last_at: datetime | None = None
    next_at: datetime | None = None
    last_practitioner: str | None = None


def appointments_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PmsAppointment]]:
    """Each contact's appointments (its merged contacts' too), by start time."""
    if not contact_ids:
        return {}
    owner: dict[uuid.UUID, uuid.UUID] = {cid: cid for cid in contact_ids}
    merged = session.execute(
        sa.select(CONTACTS.c.id, CONTACTS.c.merged_into_id).where(
            CONTACTS.c.organization_id == organization_id,
            in_values(CONTACTS.c.merged_into_id, list(contact_ids)),
        )
    ).all()
    for row in merged:
        owner[row.id] = row.merged_into_id
    rows = session.execute(
        sa.select(PmsAppointment)
        .where(
            PmsAppointment.organization_id == organization_id,
            in_values(PmsAppointment.contact_id, list(owner)),
            PmsAppointment.status != "deleted",
        )
        .order_by(PmsAppointment.starts_at, PmsAppointment.id)
    ).scalars()
    found: dict[uuid.UUID, list[PmsAppointment]] = defaultdict(list)
    for appointment in rows:
        found[owner[appointment.contact_id]].append(appointment)
    return dict(found)


def activity_of(appointments: Sequence[PmsAppointment], *, now: datetime | None = None) -> Activity:
    """Recent (newest first) and upcoming (soonest first) appointments, at most 10 each, and
    the last and next kept ones."""
    now = now or utcnow()
    past = [a for a in appointments if a.starts_at < now]
    future = [a for a in appointments if a.starts_at >= now]
    kept_past = [a for a in past if a.status in KEPT]
    kept_future = [a for a in future if a.status in KEPT]
    last = kept_past[-1] if kept_past else None
    return Activity(
        recent=list(reversed(past))[:MAX_LISTED],
        upcoming=future[:MAX_LISTED],
        last_at=last.starts_at if last else None,
        next_at=kept_future[0].starts_at if kept_future else None,
        last_practitioner=last.practitioner_name if last else None,
    )


def check_window(days: int) -> int:
    if not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"windowDays is 1 to {MAX_WINDOW_DAYS}",
            field="windowDays",
        )
    return days


def has_kept_appointment(organization_id: uuid.UUID, window_days: int, now: datetime):
    """A condition on ``contacts``: a kept appointment (its own or a contact merged into it)
    within ``window_days`` before or after ``now``."""
    start, end = now - timedelta(days=window_days), now + timedelta(days=window_days)
    merged = CONTACTS.alias("merged")
    in_window = sa.and_(
        APPOINTMENTS.c.organization_id == organization_id,
        APPOINTMENTS.c.status.in_(KEPT),
        APPOINTMENTS.c.starts_at >= start,
        APPOINTMENTS.c.starts_at < end,
    )
    own = sa.exists().where(in_window, APPOINTMENTS.c.contact_id == CONTACTS.c.id)
    inherited = sa.exists().where(
        in_window,
        APPOINTMENTS.c.contact_id == merged.c.id,
        merged.c.merged_into_id == CONTACTS.c.id,
    )
    return sa.or_(own, inherited)


def _active_condition(organization_id: uuid.UUID, window_days: int, now: datetime):
    return sa.and_(
        CONTACTS.c.organization_id == organization_id,
        CONTACTS.c.status == "active",
        has_kept_appointment(organization_id, window_days, now),
    )


def active_patients(
    session: Session,
    *,
    organization_id: uuid.UUID,
    window_days: int,
    first: int,
    after: uuid.UUID | None = None,
    now: datetime | None = None,
) -> tuple[list[Contact], bool, int]:
    """Active contacts with a kept appointment within ``window_days`` before or after now,
    by id: the page, whether more follow, and how many there are."""
    condition = _active_condition(organization_id, check_window(window_days), now or utcnow())
    query = sa.select(Contact).where(condition)
    if after is not None:
        query = query.where(Contact.id > after)
    rows = list(session.execute(query.order_by(Contact.id).limit(first + 1)).scalars())
    total = session.execute(
        sa.select(sa.func.count()).select_from(CONTACTS).where(condition)
    ).scalar_one()
    return rows[:first], len(rows) > first, total
