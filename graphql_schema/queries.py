"""Root queries. Every one is scoped to the caller's organization; every one does its database
work off the event loop (``graphql_schema.off_the_loop``)."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry

from crm.contacts import queries
from crm.errors import ServiceError
from crm.pagination import check_first
from crm.pets.service import get_pet, pet_by_microchip
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsReader
from graphql_schema.types.common import Channel, ContactStatus, PageInfo, bad_input
from graphql_schema.types.contact import (
    Contact,
    ContactConnection,
    ContactEdge,
    contact_or_none,
)
from graphql_schema.types.pet import Pet, pet_or_none


@strawberry.input(description="Narrow the contacts list; all given conditions must hold.")
class ContactFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Staff search over names, email and phone: partial words and typos match; "
        "results are ranked by relevance (paging then follows the ranking, up to 1,000 hits).",
    )
    email: str | None = strawberry.field(default=None, description="Holds this email.")
    phone: str | None = strawberry.field(
        default=None, description="Holds this phone (any format; the organization's region)."
    )
    status: ContactStatus | None = strawberry.field(
        default=ContactStatus.ACTIVE, description="Lifecycle status; null for any. Default ACTIVE."
    )
    updated_since: datetime.datetime | None = strawberry.field(
        default=None, description="Changed at or after this instant."
    )
    active: bool | None = strawberry.field(
        default=None,
        description="true: active patients, with a kept (booked or arrived) PMS appointment "
        "within 90 days before or after now (see `activePatients` for another window); "
        "false: the others; null: either.",
    )


@strawberry.type(
    description="Reading contacts. Every query sees only the API key's organization: another "
    "organization's ids and identifiers behave exactly like unknown ones."
)
class Query:
    @database_field(
        description="A contact by id; null for an unknown id or another organization's. The id "
        "of a merged contact leads to the contact it was merged into (following a chain of "
        "merges to the one that is not merged), so an id once handed out keeps working: compare "
        "the result's `id` to see that it happened. `followMerges: false` returns the merged "
        "contact itself (status MERGED, `mergedInto` set), e.g. to unmerge it.",
        permission_classes=[IsReader],
    )
    def contact(
        self,
        info: Info,
        id: strawberry.ID,
        follow_merges: Annotated[
            bool,
            strawberry.argument(
                description="Lead a merged contact's id to its survivor (default true)."
            ),
        ] = True,
    ) -> Contact | None:
        ctx = info.context
        row = queries.get_contact(
            ctx.session,
            organization_id=ctx.organization.id,
            contact_id=id,
            follow_merges=follow_merges,
        )
        return contact_or_none(row)

    @database_field(
        description="Contacts in creation order (by relevance with `filter.search`). "
        "`first` is 0 to 500, default 50.",
        permission_classes=[IsReader],
    )
    def contacts(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: ContactFilter | None = None,
    ) -> ContactConnection:
        ctx = info.context
        f = filter or ContactFilter()
        try:
            page = queries.list_contacts(
                ctx.session,
                organization_id=ctx.organization.id,
                first=first,
                after=after,
                filter=queries.ContactFilter(
                    search=f.search,
                    email=f.email,
                    phone=f.phone,
                    status=f.status.value if f.status else None,
                    updated_since=f.updated_since,
                    active=f.active,
                ),
                region=ctx.organization.default_region,
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            ContactEdge(cursor=cursor, node=Contact.from_model(row))
            for cursor, row in zip(page.cursors, page.items, strict=True)
        ]
        return ContactConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )

    @strawberry.field(
        description="The primary holder of a channel identifier (the first contact that held "
        "it), or null. The value may be in any human format.",
        permission_classes=[IsReader],
    )
    async def contact_by_identifier(
        self,
        info: Info,
        channel: Channel,  # type: ignore[valid-type]
        value: str,
    ) -> Contact | None:
        ctx = info.context
        org = ctx.organization
        try:
            if ctx.aconnection is not None:  # the messaging integrations' hot path
                row = await queries.contact_by_identifier_async(
                    ctx.aconnection,
                    ctx.engine.dialect,
                    organization_id=org.id,
                    channel=channel.value,
                    value=value,
                    region=org.default_region,
                )
            else:
                row = await ctx.run_sync(
                    lambda: queries.contact_by_identifier(
                        ctx.connection,
                        organization_id=org.id,
                        channel=channel.value,
                        value=value,
                        region=org.default_region,
                    )
                )
        except ServiceError as exc:
            raise bad_input(exc) from None
        return contact_or_none(row)

    @database_field(
        description="Every holder of a channel identifier, primary first (households share "
        "emails and phones), at most `first` (100 at most; a clinic's own email typed in for "
        "hundreds of clients is held by all of them).",
        permission_classes=[IsReader],
    )
    def contacts_by_identifier(
        self,
        info: Info,
        channel: Channel,  # type: ignore[valid-type]
        value: str,
        first: int = 100,
    ) -> list[Contact]:
        ctx = info.context
        try:
            rows = queries.contacts_by_identifier(
                ctx.session,
                organization_id=ctx.organization.id,
                channel=channel.value,
                value=value,
                region=ctx.organization.default_region,
                limit=check_first(first, maximum=100),
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        return [Contact.from_model(r) for r in rows]

    @database_field(
        description="A pet by id; null for an unknown id or another organization's.",
        permission_classes=[IsReader],
    )
    def pet(self, info: Info, id: strawberry.ID) -> Pet | None:
        ctx = info.context
        return pet_or_none(get_pet(ctx.session, organization_id=ctx.organization.id, pet_id=id))

    @database_field(
        description="The pet with this microchip (spaces and dashes ignored), or null. A value "
        "that cannot be a microchip (15 digits, or an older chip's 9 digits or 10 hexadecimal "
        "characters) is an INVALID_MICROCHIP error.",
        permission_classes=[IsReader],
    )
    def pet_by_microchip(self, info: Info, microchip: str) -> Pet | None:
        ctx = info.context
        try:
            row = pet_by_microchip(
                ctx.session, organization_id=ctx.organization.id, microchip=microchip
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        return pet_or_none(row)
