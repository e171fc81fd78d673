"""linkIdentifier and unlinkIdentifier."""

from __future__ import annotations

import strawberry

from crm.contacts.commands import link_identifier, unlink_identifier
from graphql_schema.context import Info
from graphql_schema.mutations.base import REDIRECTED_FROM_HELP, redirected_from, run_command
from graphql_schema.types.common import Channel, UserError
from graphql_schema.types.contact import Contact


@strawberry.input(description="A channel identifier on a contact.")
class IdentifierInput:
    contact_id: strawberry.ID = strawberry.field(description="The contact.")
    channel: Channel = strawberry.field(description="The channel.")  # type: ignore[valid-type]
    value: str = strawberry.field(description="The identifier, in any human format.")


@strawberry.type(description="Result of linkIdentifier.")
class LinkIdentifierPayload:
    contact: Contact | None = strawberry.field(description="The contact; null on errors.")
    errors: list[UserError] = strawberry.field(
        description="Why nothing changed (IDENTIFIER_CONFLICT: an exclusive identifier such as "
        "a PMS id belongs to another contact)."
    )
    redirected_from: strawberry.ID | None = strawberry.field(
        default=None, description=REDIRECTED_FROM_HELP
    )


@strawberry.type(description="Result of unlinkIdentifier.")
class UnlinkIdentifierPayload:
    contact: Contact | None = strawberry.field(description="The contact; null on errors.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")
    redirected_from: strawberry.ID | None = strawberry.field(
        default=None, description=REDIRECTED_FROM_HELP
    )


def resolve_link(info: Info, input: IdentifierInput) -> LinkIdentifierPayload:
    ctx = info.context
    row, errors = run_command(
        info,
        lambda s: link_identifier(
            s,
            organization=ctx.organization,
            contact_id=input.contact_id,
            channel=input.channel.value,
            value=input.value,
            actor=ctx.principal.actor,
        ),
    )
    return LinkIdentifierPayload(
        contact=Contact.from_model(row) if row else None,
        errors=errors,
        redirected_from=redirected_from(input.contact_id, row),
    )


def resolve_unlink(info: Info, input: IdentifierInput) -> UnlinkIdentifierPayload:
    ctx = info.context
    row, errors = run_command(
        info,
        lambda s: unlink_identifier(
            s,
            organization=ctx.organization,
            contact_id=input.contact_id,
            channel=input.channel.value,
            value=input.value,
            actor=ctx.principal.actor,
        ),
    )
    return UnlinkIdentifierPayload(
        contact=Contact.from_model(row) if row else None,
        errors=errors,
        redirected_from=redirected_from(input.contact_id, row),
    )
