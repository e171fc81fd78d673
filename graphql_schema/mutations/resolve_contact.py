"""resolveContact: find or create the contact behind a channel identifier."""

from __future__ import annotations

import strawberry

from crm.contacts.commands import resolve_contact
from graphql_schema.context import Info
from graphql_schema.mutations.base import contact_data, run_command
from graphql_schema.types.common import Channel, UserError
from graphql_schema.types.contact import Contact


@strawberry.input(
    description="An identifier seen on a channel, with whatever else the channel knows. "
    "A household's shared phone or email resolves to the member whose first name fits."
)
class ResolveContactInput:
    channel: Channel = strawberry.field(description="Where the identifier was seen.")  # type: ignore[valid-type]
    value: str = strawberry.field(description="The identifier, in any human format.")
    first_name: str | None = strawberry.field(default=None, description="Given name, if known.")
    last_name: str | None = strawberry.field(default=None, description="Family name, if known.")
    email: str | None = strawberry.field(default=None, description="Email, if known.")
    phone: str | None = strawberry.field(default=None, description="Phone, if known.")
    source: str | None = strawberry.field(
        default=None,
        description="Source system name the observation is recorded as: one the API key may "
        "write as (`api` unless the key was created for a connection, SOURCE_NOT_ALLOWED "
        "otherwise; never `manual`). Unset: the channel's name (whatsapp...) when the key may "
        "write as it, else the key's first source.",
    )


@strawberry.type(description="Result of resolveContact.")
class ResolveContactPayload:
    contact: Contact | None = strawberry.field(description="The contact; null on errors.")
    created: bool = strawberry.field(description="True when this call created the contact.")
    errors: list[UserError] = strawberry.field(description="Why nothing was resolved.")


def resolve(info: Info, input: ResolveContactInput) -> ResolveContactPayload:
    ctx = info.context
    data = contact_data(
        first_name=input.first_name,
        last_name=input.last_name,
        email=input.email,
        phone=input.phone,
    )
    result, errors = run_command(
        info,
        lambda s: resolve_contact(
            s,
            organization=ctx.organization,
            channel=input.channel.value,
            value=input.value,
            data=data,
            # a blank source is an unset one, not a source called ""
            source=(input.source or "").strip() or None,
            actor=ctx.principal.actor,
            allowed_sources=ctx.principal.sources,
        ),
    )
    if result is None:
        return ResolveContactPayload(contact=None, created=False, errors=errors)
    row, created = result
    return ResolveContactPayload(contact=Contact.from_model(row), created=created, errors=[])
