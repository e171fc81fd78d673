"""PMS connections and their sync runs (admin keys). Credentials are never readable."""

from __future__ import annotations

import datetime
import enum
import uuid

import strawberry
from sqlmodel import func, select
from strawberry.scalars import JSON

from crm.errors import ServiceError
from crm.models import PmsConnection as ConnectionModel
from crm.models import PmsSyncRun as RunModel
from crm.models.base import parse_uuid
from crm.pagination import check_first, decode_cursor, encode_cursor, invalid_cursor
from crm.pms.activity import active_patients
from crm.pms.catalog import list_appointment_types, list_practitioners, suggest_clinicians
from crm.pms.connections import get_connection, list_connections
from crm.pms.schedule import list_runs
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsAdmin, IsReader
from graphql_schema.types.common import PageInfo, bad_input
from graphql_schema.types.contact import Contact, ContactConnection, ContactEdge


@strawberry.enum(description="A practice management system.")
class PmsType(enum.Enum):
    CLINIKO = "CLINIKO"
    HALAXY = "HALAXY"
    MEDIRECORDS = "MEDIRECORDS"
    GENTU = "GENTU"


@strawberry.enum(description="How a sync run ended (or that it is running).")
class PmsSyncStatus(enum.Enum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


@strawberry.enum(description="FULL reads everything; INCREMENTAL what changed since the last.")
class PmsSyncKind(enum.Enum):
    FULL = "full"
    INCREMENTAL = "incremental"


@strawberry.type(description="One sync of one PMS connection, with what it did.")
class PmsSyncRun:
    id: strawberry.ID = strawberry.field(description="Run id.")
    connection_id: strawberry.ID = strawberry.field(description="The connection synced.")
    kind: PmsSyncKind = strawberry.field(description="Full or incremental.")
    status: PmsSyncStatus = strawberry.field(
        description="RUNNING, SUCCESS, PARTIAL (some records failed: see `failures`) or FAILED "
        "(the PMS could not be used: see `error`; the next run resumes where it stopped)."
    )
    started_at: datetime.datetime = strawberry.field(description="When it started.")
    completed_at: datetime.datetime | None = strawberry.field(description="When it ended.")
    patients_fetched: int = strawberry.field(description="Patient records read from the PMS.")
    patients_created: int = strawberry.field(description="Patients that created a contact.")
    patients_updated: int = strawberry.field(description="Patients whose record changed.")
    patients_unchanged: int = strawberry.field(description="Patients read again, unchanged.")
    patients_linked: int = strawberry.field(
        description="Patients attached to a contact that existed (same email/phone and name)."
    )
    patients_skipped: int = strawberry.field(
        description="Patients with nothing to store (deleted before they were ever synced)."
    )
    patients_failed: int = strawberry.field(description="Patients that could not be stored.")
    patients_merged: int = strawberry.field(
        description="Contacts merged because the PMS merged their patients."
    )
    appointments_fetched: int = strawberry.field(description="Appointments read.")
    appointments_created: int = strawberry.field(description="New appointments stored.")
    appointments_updated: int = strawberry.field(description="Appointments that changed.")
    appointments_skipped: int = strawberry.field(
        description="Appointments skipped: their practitioner's or type's sync is off."
    )
    appointments_failed: int = strawberry.field(description="Appointments not readable.")
    error: str | None = strawberry.field(description="Why the run failed, if it did.")
    failures: JSON = strawberry.field(
        description="The records that failed (at most 100): stream, PMS id, code, message. "
        "Never personal data."
    )

    @classmethod
    def from_model(cls, run: RunModel) -> PmsSyncRun:
        return cls(
            id=strawberry.ID(str(run.id)),
            connection_id=strawberry.ID(str(run.connection_id)),
            kind=PmsSyncKind(run.kind),
            status=PmsSyncStatus(run.status),
            started_at=run.started_at,
            completed_at=run.completed_at,
            patients_fetched=run.patients_fetched,
            patients_created=run.patients_created,
            patients_updated=run.patients_updated,
            patients_unchanged=run.patients_unchanged,
            patients_linked=run.patients_linked,
            patients_skipped=run.patients_skipped,
            patients_failed=run.patients_failed,
            patients_merged=run.patients_merged,
            appointments_fetched=run.appointments_fetched,
            appointments_created=run.appointments_created,
            appointments_updated=run.appointments_updated,
            appointments_skipped=run.appointments_skipped,
            appointments_failed=run.appointments_failed,
            error=run.error,
            failures=list((run.details or {}).get("failures", [])),
        )


@strawberry.type(description="A practitioner of a PMS connection, mapped to a clinician.")
class PmsPractitioner:
    id: strawberry.ID = strawberry.field(description="Its id here (for updatePmsPractitioner).")
    pms_id: str = strawberry.field(description="Its id in the PMS.")
    name: str = strawberry.field(description="Its name in the PMS.")
    clinician_ref: str | None = strawberry.field(
        description="The clinician it is (a reference of the organization's choosing)."
    )
    suggested_clinician_ref: str | None = strawberry.field(
        description="While unmapped: the reference of the organization's most similar mapped "
        "practitioner name (any connection), else null."
    )
    telehealth: bool = strawberry.field(description="Its appointments are telehealth.")
    sync_enabled: bool = strawberry.field(
        description="False: its appointments are skipped (counted as skipped)."
    )


@strawberry.type(description="An appointment type of a PMS connection.")
class PmsAppointmentType:
    id: strawberry.ID = strawberry.field(description="Its id here (updatePmsAppointmentType).")
    pms_id: str = strawberry.field(description="Its id (or code) in the PMS.")
    name: str = strawberry.field(description="Its name in the PMS.")
    telehealth: bool = strawberry.field(description="Appointments of this type are telehealth.")
    sync_enabled: bool = strawberry.field(
        description="False: appointments of this type are skipped (counted as skipped)."
    )

    @classmethod
    def from_model(cls, t) -> PmsAppointmentType:
        return cls(
            id=strawberry.ID(str(t.id)),
            pms_id=t.pms_id,
            name=t.name,
            telehealth=t.telehealth,
            sync_enabled=t.sync_enabled,
        )


def practitioner_from_model(p, suggestion: str | None = None) -> PmsPractitioner:
    return PmsPractitioner(
        id=strawberry.ID(str(p.id)),
        pms_id=p.pms_id,
        name=p.name,
        clinician_ref=p.clinician_ref,
        suggested_clinician_ref=suggestion,
        telehealth=p.telehealth,
        sync_enabled=p.sync_enabled,
    )


@strawberry.type(description="A link to a PMS account. Its credentials are write-only.")
class PmsConnection:
    _id: strawberry.Private[uuid.UUID]

    id: strawberry.ID = strawberry.field(description="Connection id.")
    type: PmsType = strawberry.field(description="Which PMS.")
    display_name: str = strawberry.field(description="A name to recognise it by.")
    base_url: str | None = strawberry.field(
        description="The PMS address used instead of its own (null: the PMS's own)."
    )
    sync_enabled: bool = strawberry.field(description="Whether the schedule syncs it.")
    sync_frequency_minutes: int = strawberry.field(description="Minutes between syncs.")
    last_sync_at: datetime.datetime | None = strawberry.field(description="Last run's end.")
    failure_count: int = strawberry.field(
        description="Failed runs in a row; the schedule waits 1, 2, 4... 60 minutes after each."
    )
    next_attempt_at: datetime.datetime | None = strawberry.field(
        description="While failing: the schedule's next try."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was added.")

    @classmethod
    def from_model(cls, c: ConnectionModel) -> PmsConnection:
        return cls(
            _id=c.id,
            id=strawberry.ID(str(c.id)),
            type=PmsType(c.type),
            display_name=c.display_name,
            base_url=c.base_url,
            sync_enabled=c.sync_enabled,
            sync_frequency_minutes=c.sync_frequency_minutes,
            last_sync_at=c.last_sync_at,
            failure_count=c.failure_count,
            next_attempt_at=c.next_attempt_at,
            created_at=c.created_at,
        )

    @database_field(description="The latest run (running or ended), or null before the first.")
    def last_sync(self, info: Info) -> PmsSyncRun | None:
        ctx = info.context
        runs = list_runs(
            ctx.session, organization_id=ctx.organization.id, connection_id=self._id, limit=1
        )
        return PmsSyncRun.from_model(runs[0]) if runs else None

    @database_field(
        description="The PMS's practitioners (as of the last sync), by name, each with its "
        "clinician mapping and a suggestion while unmapped."
    )
    def practitioners(self, info: Info) -> list[PmsPractitioner]:
        ctx = info.context
        found = list_practitioners(
            ctx.session, organization_id=ctx.organization.id, connection_id=self._id
        )
        hints = suggest_clinicians(
            ctx.session, organization_id=ctx.organization.id, practitioners=found
        )
        return [practitioner_from_model(p, hints.get(p.id)) for p in found]

    @database_field(description="The PMS's appointment types (as of the last sync), by name.")
    def appointment_types(self, info: Info) -> list[PmsAppointmentType]:
        ctx = info.context
        found = list_appointment_types(
            ctx.session, organization_id=ctx.organization.id, connection_id=self._id
        )
        return [PmsAppointmentType.from_model(t) for t in found]


@strawberry.type(description="An edge of the sync runs connection.")
class PmsSyncRunEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: PmsSyncRun = strawberry.field(description="The run.")


@strawberry.type(description="Sync runs, newest first.")
class PmsSyncRunConnection:
    edges: list[PmsSyncRunEdge] = strawberry.field(description="The page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="Every run that matches.")


@strawberry.type
class PmsQuery:
    @database_field(
        description="The organization's PMS connections, oldest first (admin).",
        permission_classes=[IsAdmin],
    )
    def pms_connections(self, info: Info) -> list[PmsConnection]:
        ctx = info.context
        found = list_connections(ctx.session, organization_id=ctx.organization.id)
        return [PmsConnection.from_model(c) for c in found]

    @database_field(
        description="A PMS connection of the organization, or null (admin).",
        permission_classes=[IsAdmin],
    )
    def pms_connection(self, info: Info, id: strawberry.ID) -> PmsConnection | None:
        ctx = info.context
        try:
            found = get_connection(
                ctx.session, organization_id=ctx.organization.id, connection_id=id
            )
        except ServiceError:
            return None
        return PmsConnection.from_model(found)

    @database_field(
        description="Sync runs, newest first, of one connection or all (admin); `first` ≤ 100.",
        permission_classes=[IsAdmin],
    )
    def pms_sync_runs(
        self,
        info: Info,
        connection_id: strawberry.ID | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> PmsSyncRunConnection:
        ctx = info.context
        try:
            check_first(first, maximum=100)
            cid = None
            if connection_id is not None:
                cid = get_connection(
                    ctx.session, organization_id=ctx.organization.id, connection_id=connection_id
                ).id
            before = None
            if after is not None:
                cursor = decode_cursor(after) or {}
                before = parse_uuid(cursor.get("id"))
                if before is None:
                    raise invalid_cursor()
        except ServiceError as exc:
            raise bad_input(exc) from None
        runs = list_runs(
            ctx.session,
            organization_id=ctx.organization.id,
            connection_id=cid,
            limit=first + 1,
            before=before,
        )
        count = (
            select(func.count())
            .select_from(RunModel)
            .where(RunModel.organization_id == ctx.organization.id)
        )
        if cid is not None:
            count = count.where(RunModel.connection_id == cid)
        total = ctx.session.exec(count).one()
        edges = [
            PmsSyncRunEdge(cursor=encode_cursor({"id": str(r.id)}), node=PmsSyncRun.from_model(r))
            for r in runs[:first]
        ]
        return PmsSyncRunConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(runs) > first,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total,
        )


@strawberry.type
class ActivityQuery:
    @database_field(
        description="Active patients: contacts with a kept appointment (booked or arrived) "
        "within `windowDays` (1 to 3650, default 90) before or after now, by id; `first` ≤ "
        "500.",
        permission_classes=[IsReader],
    )
    def active_patients(
        self, info: Info, first: int = 50, after: str | None = None, window_days: int = 90
    ) -> ContactConnection:
        ctx = info.context
        try:
            check_first(first, maximum=500)
            after_id = None
            if after is not None:
                after_id = parse_uuid((decode_cursor(after) or {}).get("id"))
                if after_id is None:
                    raise invalid_cursor()
            rows, more, total = active_patients(
                ctx.session,
                organization_id=ctx.organization.id,
                window_days=window_days,
                first=first,
                after=after_id,
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            ContactEdge(cursor=encode_cursor({"id": str(r.id)}), node=Contact.from_model(r))
            for r in rows
        ]
        return ContactConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=more,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total,
        )


__all__ = [
    "ActivityQuery",
    "PmsConnection",
    "PmsQuery",
    "PmsSyncRun",
    "PmsType",
]
