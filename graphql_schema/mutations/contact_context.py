"""contactContext: what a messaging bot needs about the person writing, in one call.

A mutation because it may create the contact (as ``resolveContact`` does). The contract fixes
its arguments as ``contactContext(channel, value)``, so it takes them directly rather than one
``input``. A known identifier with nothing else given is only read: on the request's
asynchronous connection (PostgreSQL) the contact and its context are one prepared statement
(the hot path, like ``contactByIdentifier``); otherwise the call goes through
``resolveContact``'s command, then reads the context by id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from crm.contacts import queries
from crm.contacts.bot_context import (
    BotContext,
    bot_context,
    bot_context_async,
    contact_and_context_async,
)
from crm.contacts.commands import resolve_contact
from crm.errors import ServiceError
from graphql_schema.context import Info
from graphql_schema.mutations.base import contact_data, run_command
from graphql_schema.types.activity_commerce import Order, Subscription
from graphql_schema.types.common import Channel, UserError, user_errors
from graphql_schema.types.contact import Contact
from graphql_schema.types.pms_activity import Appointment


@strawberry.type(description="Result of contactContext.")
class ContactContextPayload:
    contact: Contact | None = strawberry.field(description="The contact; null on errors.")
    created: bool = strawberry.field(description="True when this call created the contact.")
    next_appointment: Appointment | None = strawberry.field(
        description="The next kept (booked or arrived) PMS appointment from now, if any."
    )
    last_appointment: Appointment | None = strawberry.field(
        description="The last kept PMS appointment before now, if any."
    )
    active_subscriptions: list[Subscription] = strawberry.field(
        description="Active subscriptions, newest first, at most 20."
    )
    last_order: Order | None = strawberry.field(
        description="The newest order (its `status` is where it stands), if any."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing was resolved.")


def _payload(contact, created: bool, found: BotContext) -> ContactContextPayload:
    return ContactContextPayload(
        contact=Contact.from_model(contact),
        created=created,
        next_appointment=Appointment.from_model(found.next_appointment)
        if found.next_appointment
        else None,
        last_appointment=Appointment.from_model(found.last_appointment)
        if found.last_appointment
        else None,
        active_subscriptions=[Subscription.from_model(s) for s in found.active_subscriptions],
        last_order=Order.from_model(found.last_order) if found.last_order else None,
        errors=[],
    )


def _failed(errors: list[UserError]) -> ContactContextPayload:
    return ContactContextPayload(
        contact=None,
        created=False,
        next_appointment=None,
        last_appointment=None,
        active_subscriptions=[],
        last_order=None,
        errors=errors,
    )


async def resolve(
    info: Info,
    channel: Annotated[Channel, strawberry.argument(description="Where the identifier was seen.")],  # type: ignore[valid-type]
    value: Annotated[str, strawberry.argument(description="The identifier, in any human format.")],
    first_name: Annotated[
        str | None,
        strawberry.argument(
            description="Given name, if known (recorded; picks the household "
            "member on a shared phone or email)."
        ),
    ] = None,
    last_name: Annotated[
        str | None, strawberry.argument(description="Family name, if known (recorded).")
    ] = None,
) -> ContactContextPayload:
    ctx = info.context
    org = ctx.organization
    if first_name is None and last_name is None:  # nothing to record: read only
        found = None
        try:
            if ctx.aconnection is not None:  # the hot path: one statement, one round trip
                row, found = await contact_and_context_async(
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
            return _failed(user_errors(exc))
        if row is not None:
            if found is None:
                found = await _context_of(info, row.id)
            return _payload(row, False, found)
    # a new identifier, or a name to record: resolveContact's command
    data = contact_data(first_name=first_name, last_name=last_name)
    result, errors = await ctx.run_sync(
        run_command,
        info,
        lambda s: resolve_contact(
            s,
            organization=org,
            channel=channel.value,
            value=value,
            data=data,
            source=None,  # the channel's name when the key may write as it
            actor=ctx.principal.actor,
            allowed_sources=ctx.principal.sources,
        ),
    )
    if result is None:
        return _failed(errors)
    row, created = result
    return _payload(row, created, await _context_of(info, row.id))


async def _context_of(info: Info, contact_id: uuid.UUID) -> BotContext:
    """The context of a contact by id: one statement on the asynchronous connection, else
    the synchronous reads off the event loop."""
    ctx = info.context
    organization_id = ctx.organization.id
    if ctx.aconnection is not None:
        return await bot_context_async(
            ctx.aconnection,
            ctx.engine.dialect,
            organization_id=organization_id,
            contact_id=contact_id,
        )
    return await ctx.run_sync(
        lambda: bot_context(ctx.connection, organization_id=organization_id, contact_id=contact_id)
    )
