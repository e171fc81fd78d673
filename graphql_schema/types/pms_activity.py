"""A contact's appointments from PMS sync: ``Contact.activity`` and ``activePatients``."""

from __future__ import annotations

import datetime
import uuid

import strawberry

from crm.models import PmsAppointment as AppointmentModel
from crm.pms.activity import activity_of
from graphql_schema.context import Info
from graphql_schema.types.activity_commerce import CommerceActivity
from graphql_schema.types.timeline import TimelineConnection, contact_timeline


@strawberry.type(description="An appointment as the PMS last described it.")
class Appointment:
    id: strawberry.ID = strawberry.field(description="Appointment id (ours).")
    pms_id: str = strawberry.field(description="The appointment's id in the PMS.")
    starts_at: datetime.datetime = strawberry.field(description="Start.")
    ends_at: datetime.datetime | None = strawberry.field(description="End.")
    status: str = strawberry.field(description="booked, arrived, cancelled or did_not_arrive.")
    practitioner: str | None = strawberry.field(description="The practitioner's name.")
    appointment_type: str | None = strawberry.field(description="The appointment type's name.")
    telehealth: bool = strawberry.field(description="A telehealth appointment.")

    @classmethod
    def from_model(cls, a: AppointmentModel) -> Appointment:
        return cls(
            id=strawberry.ID(str(a.id)),
            pms_id=a.pms_id,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            status=a.status,
            practitioner=a.practitioner_name,
            appointment_type=a.appointment_type_name,
            telehealth=a.telehealth,
        )


@strawberry.type(
    description="What the contact's PMS appointments say (those in the sync window, 45 days "
    "back and forward by default)."
)
class ContactActivity(CommerceActivity):
    recent_appointments: list[Appointment] = strawberry.field(
        description="Past appointments, newest first, at most 10 (cancelled ones included)."
    )
    upcoming_appointments: list[Appointment] = strawberry.field(
        description="Future appointments, soonest first, at most 10 (cancelled ones included)."
    )
    last_appointment_at: datetime.datetime | None = strawberry.field(
        description="The last past appointment that was kept (booked or arrived)."
    )
    next_appointment_at: datetime.datetime | None = strawberry.field(
        description="The next booked appointment."
    )
    last_practitioner: str | None = strawberry.field(
        description="Who saw the contact at the last kept appointment."
    )

    @strawberry.field(
        description="Everything that happened, newest first: appointments, orders and their "
        "status changes, subscription changes, prescriptions and messages (those of contacts "
        "merged into this one too). `first` is 0 to 200, default 20; `after` a cursor."
    )
    async def timeline(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> TimelineConnection:
        return await contact_timeline(info, self.contact_id, first=first, after=after)


async def contact_activity(info: Info, contact_id: uuid.UUID) -> ContactActivity:
    """``Contact.activity`` through the request's appointments loader."""
    rows = await info.context.loaders.appointments_by_contact.load(contact_id)
    found = activity_of(rows)
    return ContactActivity(
        contact_id=contact_id,
        recent_appointments=[Appointment.from_model(a) for a in found.recent],
        upcoming_appointments=[Appointment.from_model(a) for a in found.upcoming],
        last_appointment_at=found.last_at,
        next_appointment_at=found.next_at,
        last_practitioner=found.last_practitioner,
    )
