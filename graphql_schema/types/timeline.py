"""``Contact.activity.timeline``: one newest-first list of everything that happened, through
one DataLoader per request (a page of contacts costs the same statements as one)."""

from __future__ import annotations

import datetime
import enum
import uuid

import strawberry
from strawberry.dataloader import DataLoader

from crm.contacts.timeline import TimelineEntry as EntryModel
from crm.contacts.timeline import timeline_page, timelines_for
from crm.errors import ServiceError
from graphql_schema.context import Context, Info
from graphql_schema.types.common import PageInfo, bad_input


@strawberry.enum(description="What a timeline entry is.")
class TimelineKind(enum.Enum):
    APPOINTMENT = "appointment"
    ORDER = "order"
    ORDER_STATUS = "order_status"
    SUBSCRIPTION = "subscription"
    PRESCRIPTION = "prescription"
    MESSAGE = "message"


@strawberry.type(description="Something that happened to the contact.")
class TimelineEntry:
    kind: TimelineKind = strawberry.field(description="What it is.")
    at: datetime.datetime = strawberry.field(
        description="When: an appointment's start, an order's placing, a status change's "
        "time (the source's), a subscription's creation, pause or cancellation, a "
        "prescription's issue, a message's sending."
    )
    status: str | None = strawberry.field(
        description="APPOINTMENT: its status; ORDER: its current status; ORDER_STATUS: the "
        "new status; SUBSCRIPTION: created, paused or cancelled."
    )
    title: str | None = strawberry.field(
        description="APPOINTMENT: its type; PRESCRIPTION: the drug; MESSAGE: the channel."
    )
    detail: str | None = strawberry.field(
        description="APPOINTMENT: the practitioner; ORDER: its total; MESSAGE: inbound or outbound."
    )
    reference: str | None = strawberry.field(
        description="The id in its source: order, subscription, prescription, PMS appointment; "
        "MESSAGE: the conversation."
    )

    @classmethod
    def from_model(cls, e: EntryModel) -> TimelineEntry:
        return cls(
            kind=TimelineKind(e.kind),
            at=e.at,
            status=e.status,
            title=e.title,
            detail=e.detail,
            reference=e.reference,
        )


@strawberry.type(description="A timeline entry and its cursor.")
class TimelineEdge:
    cursor: str = strawberry.field(description="Pass as `after` for the entries after it.")
    node: TimelineEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of the timeline, newest first.")
class TimelineConnection:
    edges: list[TimelineEdge] = strawberry.field(description="The entries.")
    page_info: PageInfo = strawberry.field(description="Paging.")
    total_count: int = strawberry.field(description="Entries in the whole timeline.")


def _loader(info: Info) -> DataLoader[uuid.UUID, list[EntryModel]]:
    ctx: Context = info.context
    loader = ctx.__dict__.get("_timeline_loader")
    if loader is None:
        organization_id = ctx.principal.organization_id

        async def load(ids: list[uuid.UUID]) -> list[list[EntryModel]]:
            found = await ctx.read(
                lambda s: timelines_for(s, organization_id=organization_id, contact_ids=ids)
            )
            return [found[i] for i in ids]

        loader = DataLoader(load)
        ctx.__dict__["_timeline_loader"] = loader
    return loader


async def contact_timeline(
    info: Info, contact_id: uuid.UUID, *, first: int, after: str | None
) -> TimelineConnection:
    entries = await _loader(info).load(contact_id)
    try:
        page = timeline_page(entries, first=first, after=after)
    except ServiceError as exc:
        raise bad_input(exc) from None
    edges = [
        TimelineEdge(cursor=c, node=TimelineEntry.from_model(e))
        for c, e in zip(page.cursors, page.entries, strict=True)
    ]
    return TimelineConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total,
    )
