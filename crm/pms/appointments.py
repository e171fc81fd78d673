"""Appointments of a PMS in the sync window (45 days back and forward by default).

Each appointment is one row per connection and PMS id, updated in place when the PMS changes
it (a cancelled or deleted appointment keeps its row with that status). ``contact_id`` is the
contact holding the patient's PMS id, filled in later for a patient synced after it.
"""

from __future__ import annotations

import gc
import hashlib
import json
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from crm.db import in_values
from crm.db_write import InsertRows
from crm.identity import Channel, namespace_for
from crm.models import ContactIdentifier, PmsAppointment, PmsConnection, utcnow
from crm.models.base import uuid7
from crm.pms import pages as paging
from crm.pms.adapters.base import AppointmentRecord, PmsAdapter, format_time
from crm.pms.adapters.cliniko import parse_time
from crm.pms.catalog import Catalog
from crm.pms.pages import Prefetch, batches
from crm.pms.patients import contacts_by_pms_id
from crm.pms.run_state import RunState, commit_page
from crm.settings import Settings

STREAM = "appointments"


def _hash(record: AppointmentRecord, practitioner: str | None, kind: str | None) -> str:
    content = {
        "patient": record.patient_pms_id,
        "practitioner": record.practitioner_pms_id,
        "practitioner_name": practitioner,
        "type": record.appointment_type_pms_id,
        "type_name": kind,
        "starts": record.starts_at.isoformat(),
        "ends": record.ends_at.isoformat() if record.ends_at else None,
        "status": record.status,
        "telehealth": record.telehealth,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def sync_appointments(
    session: Session,
    *,
    adapter: PmsAdapter,
    connection: PmsConnection,
    state: RunState,
    full: bool,
    settings: Settings,
    batch_records: int | None = None,
) -> None:
    """The window's appointments changed since the cursor (all of them with ``full``), read
    ahead in a thread and stored a batch of pages at a time."""
    now = utcnow()
    window = timedelta(days=settings.pms_appointment_window_days)
    since = None if full else parse_time((connection.cursors or {}).get(STREAM))
    listed = adapter.practitioners()
    listed_kinds = adapter.appointment_types()
    practitioners = {p.pms_id: p.name for p in listed}
    kinds = {t.pms_id: t for t in listed_kinds}
    catalog = Catalog(session, connection)
    catalog.refresh(practitioners=listed, types=listed_kinds)
    cursor: str | None = None
    pages = adapter.appointment_pages(start=now - window, end=now + window, updated_since=since)
    with Prefetch(pages) as prefetched:
        for batch in batches(prefetched, size=batch_records or paging.BATCH_RECORDS):
            run = state.run
            records: list[AppointmentRecord] = []
            for page in batch:
                run.appointments_fetched += len(page.records) + len(page.bad)
                for bad in page.bad:
                    state.fail(stream=STREAM, pms_id=bad.pms_id, code=bad.code, message=bad.message)
                records.extend(page.records)
                cursor = max(filter(None, [cursor, page.cursor]), default=None)
            store_appointments(
                session,
                connection=connection,
                state=state,
                records=records,
                practitioners=practitioners,
                kinds=kinds,
                catalog=catalog,
            )
            commit_page(session, state=state, connection=connection, cursor_updates={})
            gc.collect(1)  # what the batch left in reference cycles (``fewer_gc_passes``)
    link_appointments(session, connection=connection)
    # the cursor moves once the whole window is read: its two listings (booked, cancelled)
    # are each ordered by time, not together
    stamp = cursor or (format_time(since) if since else None)
    commit_page(
        session,
        state=state,
        connection=connection,
        cursor_updates={STREAM: stamp} if stamp else {},
    )


def store_appointments(
    session: Session,
    *,
    connection: PmsConnection,
    state: RunState,
    records: list[AppointmentRecord],
    practitioners: dict[str, str],
    kinds: dict[str, object],
    catalog: Catalog | None = None,
) -> None:
    run = state.run
    if catalog is not None:
        for record in records:
            # a PMS without a list of types (FHIR) names each on its appointments
            catalog.note_type(record.appointment_type_pms_id, record.appointment_type_name)
            catalog.note_practitioner(
                record.practitioner_pms_id, practitioners.get(record.practitioner_pms_id or "")
            )
        kept = [
            r
            for r in records
            if not catalog.skips(r.practitioner_pms_id, r.appointment_type_pms_id)
        ]
        run.appointments_skipped += len(records) - len(kept)
        records = kept
    if not records:
        return
    table = PmsAppointment.__table__
    existing = {
        row.pms_id: row
        for row in session.execute(
            sa.select(table.c.id, table.c.pms_id, table.c.content_hash).where(
                table.c.connection_id == connection.id,
                in_values(table.c.pms_id, [r.pms_id for r in records]),
            )
        )
    }
    contacts = contacts_by_pms_id(
        session,
        organization_id=connection.organization_id,
        channel=_channel(connection),
        ids=[r.patient_pms_id for r in records if r.patient_pms_id],
    )
    now = utcnow()
    inserts: list[dict] = []
    updates: list[dict] = []
    unchanged = 0
    for record in {r.pms_id: r for r in records}.values():
        kind = kinds.get(record.appointment_type_pms_id or "")
        kind_name = getattr(kind, "name", None) or record.appointment_type_name
        practitioner = practitioners.get(record.practitioner_pms_id or "")
        content = _hash(record, practitioner, kind_name)
        values = {
            "patient_pms_id": record.patient_pms_id,
            "contact_id": contacts.get(record.patient_pms_id or ""),
            "practitioner_pms_id": record.practitioner_pms_id,
            "practitioner_name": practitioner,
            "appointment_type_pms_id": record.appointment_type_pms_id,
            "appointment_type_name": kind_name,
            "starts_at": record.starts_at,
            "ends_at": record.ends_at,
            "status": record.status,
            # the practice's flags (set from the PMS, editable) decide, else the PMS's
            "telehealth": record.telehealth
            or (
                catalog.telehealth(record.practitioner_pms_id, record.appointment_type_pms_id)
                if catalog is not None
                else bool(getattr(kind, "telehealth", False))
            ),
            "pms_updated_at": record.updated_at,
            "content_hash": content,
            "synced_at": now,
        }
        found = existing.get(record.pms_id)
        if found is None:
            inserts.append(
                {
                    "id": uuid7(),
                    "organization_id": connection.organization_id,
                    "connection_id": connection.id,
                    "pms_id": record.pms_id,
                    **values,
                }
            )
        elif found.content_hash == content:
            unchanged += 1
        else:
            updates.append({"row_id": found.id, **values})
    # one statement for the batch's new rows (``COPY`` on PostgreSQL) and one for its changed
    # ones (executemany); the run's counts move once, so no autoflush writes the run between
    InsertRows(table, inserts).send(session)
    if updates:
        columns = [k for k in updates[0] if k != "row_id"]
        session.connection().execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values({k: sa.bindparam(k) for k in columns}),
            updates,
        )
    run.appointments_created += len(inserts)
    run.appointments_updated += len(updates)
    run.appointments_unchanged += unchanged


def link_appointments(session: Session, *, connection: PmsConnection) -> int:
    """Give each appointment without a contact the contact that now holds its patient."""
    table = PmsAppointment.__table__
    holder = (
        sa.select(ContactIdentifier.__table__.c.contact_id)
        .where(
            ContactIdentifier.__table__.c.organization_id == table.c.organization_id,
            ContactIdentifier.__table__.c.namespace == namespace_for(_channel(connection)),
            ContactIdentifier.__table__.c.value == table.c.patient_pms_id,
        )
        .limit(1)
        .scalar_subquery()
    )
    result = session.execute(
        table.update()
        .where(
            table.c.connection_id == connection.id,
            table.c.contact_id.is_(None),
            table.c.patient_pms_id.is_not(None),
        )
        .values(contact_id=holder)
    )
    return result.rowcount or 0


def _channel(connection: PmsConnection) -> Channel:
    return Channel[connection.type]  # the PMS types are also the identifier channels
