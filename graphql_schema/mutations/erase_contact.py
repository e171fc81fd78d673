"""eraseContact: remove a person's personal data (admin)."""

from __future__ import annotations

import strawberry

from crm.contacts.erase import erase_contact
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError
from graphql_schema.types.contact import Contact


@strawberry.input(description="The contact to erase.")
class EraseContactInput:
    contact_id: strawberry.ID = strawberry.field(
        description="An ACTIVE contact's id; the contacts merged into it are erased with it."
    )


@strawberry.type(description="What eraseContact removed, by kind.")
class ErasureCounts:
    contacts: int = strawberry.field(description="Contacts erased (it and those merged into it).")
    identifiers: int = strawberry.field(description="Identifiers deleted.")
    orders: int = strawberry.field(description="Orders deleted.")
    subscriptions: int = strawberry.field(description="Subscriptions deleted.")
    prescriptions: int = strawberry.field(description="Prescriptions deleted.")
    messages: int = strawberry.field(description="Message metadata rows deleted.")
    deliveries_redacted: int = strawberry.field(
        description="Stored webhook deliveries that named the person, their body emptied."
    )
    pets: int = strawberry.field(description="Pets deleted.")
    source_records: int = strawberry.field(description="Source record versions deleted.")


@strawberry.type(description="Result of eraseContact.")
class EraseContactPayload:
    contact: Contact | None = strawberry.field(
        description="The contact, now ERASED with every personal field empty; null on errors."
    )
    erased: ErasureCounts | None = strawberry.field(
        description="What was removed (all zero when it was already erased)."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing changed: NOT_FOUND, NOT_ACTIVE (a merged contact: erase its "
        "survivor)."
    )


def resolve(info: Info, input: EraseContactInput) -> EraseContactPayload:
    ctx = info.context
    result, errors = run_command(
        info,
        lambda s: erase_contact(
            s,
            organization=ctx.organization,
            contact_id=input.contact_id,
            actor=ctx.principal.actor,
        ),
    )
    if result is None:
        return EraseContactPayload(contact=None, erased=None, errors=errors)
    row, counts = result
    fields = ErasureCounts.__annotations__
    return EraseContactPayload(
        contact=Contact.from_model(row),
        erased=ErasureCounts(**{name: counts.get(name, 0) for name in fields}),
        errors=[],
    )
