"""The Contact type and what hangs off it: identifiers, source history, audit trail."""

from __future__ import annotations

import datetime

import strawberry
from strawberry.scalars import JSON

from crm.contacts.queries import MAX_HISTORY_PAGE, event_cursor, history_page
from crm.errors import ServiceError
from crm.identity import channel_for_namespace
from crm.models import Contact as ContactModel
from crm.models import ContactEvent as EventModel
from crm.models import ContactIdentifier as IdentifierModel
from crm.models import SourceRecord as SourceModel
from graphql_schema.context import Info
from graphql_schema.types.activity_commerce import ContactActivity, activity_of
from graphql_schema.types.common import Channel, ContactStatus, PageInfo, bad_input


@strawberry.type(description="A postal address; every part is optional.")
class Address:
    line1: str | None = strawberry.field(description="Street address.")
    line2: str | None = strawberry.field(description="Unit, building, etc.")
    city: str | None = strawberry.field(description="City or suburb.")
    region: str | None = strawberry.field(description="State, province or region.")
    postal_code: str | None = strawberry.field(description="Postcode / ZIP.")
    country: str | None = strawberry.field(description="Country as given by the source.")


@strawberry.type(description="A channel identifier held by a contact.")
class Identifier:
    channel: Channel = strawberry.field(  # type: ignore[valid-type]
        description="The channel it was seen on (PHONE, WHATSAPP and SMS share values)."
    )
    value: str = strawberry.field(
        description="Normalised value: E.164 for phones, lower-case for email and handles."
    )
    source: str | None = strawberry.field(description="The source that linked it.")
    primary: bool = strawberry.field(
        description="True when this contact is the value's first holder (households share "
        "emails and phones; contactByIdentifier returns the primary holder)."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was linked.")

    @classmethod
    def from_model(cls, row: IdentifierModel) -> Identifier:
        channel = row.channel or channel_for_namespace(row.namespace).value
        return cls(
            channel=Channel[channel],  # type: ignore[index]
            value=row.value,
            source=row.source,
            primary=row.ordinal == 0,
            created_at=row.created_at,
        )


@strawberry.type(
    description="A phone number or an email the contact holds: the one survivorship chose "
    "(the contact's `phone` or `email`) and every other one a source gave, kept as identifiers."
)
class ContactPoint:
    channel: Channel = strawberry.field(  # type: ignore[valid-type]
        description="The channel it was first seen on (PHONE, WHATSAPP and SMS share values)."
    )
    value: str = strawberry.field(description="E.164 for a phone, lower-case for an email.")
    source: str | None = strawberry.field(description="The source that linked it.")
    primary: bool = strawberry.field(
        description="True for the contact's own `phone` or `email` (listed first)."
    )

    @classmethod
    def listed(
        cls, rows: list[IdentifierModel], namespace: str, chosen: str | None
    ) -> list[ContactPoint]:
        """The contact's identifiers of ``namespace``, the chosen value first, then oldest first."""
        points = [
            cls(
                channel=Identifier.from_model(row).channel,
                value=row.value,
                source=row.source,
                primary=row.value == chosen,
            )
            for row in rows
            if row.namespace == namespace
        ]
        return sorted(points, key=lambda point: not point.primary)


@strawberry.type(description="One source's latest observation of this contact.")
class SourceRecord:
    system: str = strawberry.field(description="Source system (csv, cliniko, whatsapp, manual...).")
    external_id: str | None = strawberry.field(
        description="The record's id in that system, or null when the source gave none."
    )
    version: int = strawberry.field(description="Increments each time the source's data changed.")
    observed_at: datetime.datetime = strawberry.field(description="When the source saw it.")
    received_at: datetime.datetime = strawberry.field(description="When this service got it.")
    payload: JSON = strawberry.field(description="What the source sent, as received.")
    normalized: JSON = strawberry.field(description="The normalised fields taken from it.")

    @classmethod
    def from_model(cls, row: SourceModel) -> SourceRecord:
        return cls(
            system=row.source_system,
            external_id=row.source_id if row.source_id_given else None,
            version=row.version,
            observed_at=row.observed_at,
            received_at=row.received_at,
            payload=row.payload,
            normalized=row.normalized,
        )


@strawberry.type(description="An entry of a contact's append-only audit trail.")
class ContactEvent:
    id: strawberry.ID = strawberry.field(description="Event id (time-ordered).")
    kind: str = strawberry.field(
        description="created, field_changed, identifier_linked, identifier_unlinked, "
        "identifier_conflict, conflict, merged, unmerged, erased."
    )
    field: str | None = strawberry.field(description="The contact field concerned, if any.")
    old_value: JSON | None = strawberry.field(description="Value before the change.")
    new_value: JSON | None = strawberry.field(description="Value after the change.")
    source: str | None = strawberry.field(description="The source that caused it.")
    actor: str | None = strawberry.field(description="The API key or job that caused it.")
    data: JSON = strawberry.field(description="Further details.")
    created_at: datetime.datetime = strawberry.field(description="When it happened.")

    @classmethod
    def from_model(cls, row: EventModel) -> ContactEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            field=row.field,
            old_value=row.old_value,
            new_value=row.new_value,
            source=row.source,
            actor=row.actor,
            data=row.data,
            created_at=row.created_at,
        )


@strawberry.type(description="An edge of the history connection.")
class ContactEventEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this event.")
    node: ContactEvent = strawberry.field(description="The event.")


@strawberry.type(description="A contact's events, newest first.")
class ContactEventConnection:
    edges: list[ContactEventEdge] = strawberry.field(description="The page's events.")
    page_info: PageInfo = strawberry.field(description="Paging state.")


@strawberry.type(description="One real person in the organization, with every channel linked.")
class Contact:
    _model: strawberry.Private[ContactModel]

    id: strawberry.ID = strawberry.field(description="Contact id.")
    first_name: str | None = strawberry.field(description="Given name(s).")
    last_name: str | None = strawberry.field(description="Family name.")
    email: str | None = strawberry.field(description="Primary email (survivorship decides).")
    phone: str | None = strawberry.field(description="Primary phone, E.164.")
    date_of_birth: datetime.date | None = strawberry.field(description="Date of birth.")
    status: ContactStatus = strawberry.field(description="ACTIVE, MERGED or ERASED.")
    contact_type: str = strawberry.field(description="person (more types may follow).")
    primary_source: str | None = strawberry.field(description="Highest-priority source.")
    source_systems: list[str] = strawberry.field(description="Every source that observed it.")
    metadata: JSON = strawberry.field(
        description="Unmapped source columns, and notes: `notes` is every current record's "
        "note, newest first, one per line; `notes_by_source` the same per source."
    )
    field_sources: JSON = strawberry.field(
        description="For each field, the source and observation time its value came from."
    )
    version: int = strawberry.field(
        description="Increments on every change; pass it to updateContact for optimistic locking."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was created.")
    updated_at: datetime.datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, row: ContactModel) -> Contact:
        return cls(
            _model=row,
            id=strawberry.ID(str(row.id)),
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
            phone=row.phone,
            date_of_birth=row.date_of_birth,
            status=ContactStatus(row.status),
            contact_type=row.contact_type,
            primary_source=row.primary_source,
            source_systems=list(row.source_systems or []),
            metadata=row.attributes or {},
            field_sources=row.field_sources or {},
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Full name, else email, else phone: what to show in a list.")
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.email or self.phone or "(no name)"

    @strawberry.field(description="Structured postal address, or null when none is known.")
    def address(self) -> Address | None:
        m = self._model
        parts = (m.address_line1, m.address_line2, m.city, m.region, m.postal_code, m.country)
        if not any(parts):
            return None
        return Address(
            line1=m.address_line1,
            line2=m.address_line2,
            city=m.city,
            region=m.region,
            postal_code=m.postal_code,
            country=m.country,
        )

    @strawberry.field(
        description="The contact this one was merged into (status MERGED), else null."
    )
    async def merged_into(self, info: Info) -> Contact | None:
        target = self._model.merged_into_id
        if target is None:
            return None
        row = await info.context.loaders.contact_by_id.load(target)
        return Contact.from_model(row) if row is not None else None

    @strawberry.field(description="Every channel identifier the contact holds, oldest first.")
    async def identifiers(self, info: Info) -> list[Identifier]:
        rows = await info.context.loaders.identifiers_by_contact.load(self._model.id)
        return [Identifier.from_model(r) for r in rows]

    @strawberry.field(
        description="Every phone number the contact holds: its primary `phone` first, then "
        "the others, oldest first (a second mobile, a WhatsApp number...)."
    )
    async def phones(self, info: Info) -> list[ContactPoint]:
        rows = await info.context.loaders.identifiers_by_contact.load(self._model.id)
        return ContactPoint.listed(rows, "tel", self._model.phone)

    @strawberry.field(
        description="Every email the contact holds: its primary `email` first, then the "
        "others, oldest first."
    )
    async def emails(self, info: Info) -> list[ContactPoint]:
        rows = await info.context.loaders.identifiers_by_contact.load(self._model.id)
        return ContactPoint.listed(rows, "email", self._model.email)

    @strawberry.field(description="The contact's activity: orders, subscriptions, prescriptions.")
    def activity(self) -> ContactActivity:
        return activity_of(self._model.id)

    @strawberry.field(description="Each source's current record of this contact, newest first.")
    async def sources(self, info: Info) -> list[SourceRecord]:
        rows = await info.context.loaders.sources_by_contact.load(self._model.id)
        return [SourceRecord.from_model(r) for r in rows]

    @strawberry.field(
        description=f"Audit trail, newest first. `first` is 0 to {MAX_HISTORY_PAGE}, default "
        "20; `after` is an `endCursor` of this connection. Anything else is an INVALID_INPUT "
        "error."
    )
    async def history(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ContactEventConnection:
        try:
            # checked here, not in the loader: a bad argument must not fail the whole batch
            page = history_page(first=first, after=after)
        except ServiceError as exc:
            raise bad_input(exc) from None
        events, has_next = await info.context.loaders.history_by_contact.load(
            (self._model.id, page)
        )
        edges = [
            ContactEventEdge(cursor=event_cursor(e), node=ContactEvent.from_model(e))
            for e in events
        ]
        return ContactEventConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=page.before is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.type(description="An edge of the contacts connection.")
class ContactEdge:
    cursor: str = strawberry.field(description="Opaque cursor; pass it as `after`.")
    node: Contact = strawberry.field(description="The contact.")


@strawberry.type(description="A page of contacts (keyset pagination).")
class ContactConnection:
    edges: list[ContactEdge] = strawberry.field(description="The page's contacts.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="How many contacts match the filter.")


def contact_or_none(row: ContactModel | None) -> Contact | None:
    return Contact.from_model(row) if row is not None else None
