"""updateContact: a manual edit with optimistic locking."""

from __future__ import annotations

import strawberry

from crm.contacts.commands import update_contact
from graphql_schema.context import Info
from graphql_schema.mutations.base import (
    DATE_OF_BIRTH_HELP,
    REDIRECTED_FROM_HELP,
    AddressInput,
    contact_data,
    redirected_from,
    run_command,
)
from graphql_schema.types.common import UserError
from graphql_schema.types.contact import Contact


@strawberry.input(
    description="Fields to change; omitted fields keep their value. A manual edit holds until "
    "a newer observation from a PMS arrives."
)
class UpdateContactInput:
    id: strawberry.ID = strawberry.field(description="The contact to change.")
    version: int | None = strawberry.field(
        default=None,
        description="The version you read; a different current version is VERSION_CONFLICT.",
    )
    first_name: str | None = strawberry.field(default=None, description="Given name(s).")
    last_name: str | None = strawberry.field(default=None, description="Family name.")
    email: str | None = strawberry.field(default=None, description="Email address.")
    phone: str | None = strawberry.field(default=None, description="Phone in any format.")
    date_of_birth: str | None = strawberry.field(default=None, description=DATE_OF_BIRTH_HELP)
    address: AddressInput | None = strawberry.field(default=None, description="Postal address.")


@strawberry.type(description="Result of updateContact.")
class UpdateContactPayload:
    contact: Contact | None = strawberry.field(description="The contact as now; null on errors.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")
    redirected_from: strawberry.ID | None = strawberry.field(
        default=None, description=REDIRECTED_FROM_HELP
    )


def resolve(info: Info, input: UpdateContactInput) -> UpdateContactPayload:
    ctx = info.context
    data = contact_data(
        first_name=input.first_name,
        last_name=input.last_name,
        email=input.email,
        phone=input.phone,
        date_of_birth=input.date_of_birth,
        address=input.address,
    )
    row, errors = run_command(
        info,
        lambda s: update_contact(
            s,
            organization=ctx.organization,
            contact_id=input.id,
            version=input.version,
            data=data,
            actor=ctx.principal.actor,
        ),
    )
    return UpdateContactPayload(
        contact=Contact.from_model(row) if row else None,
        errors=errors,
        redirected_from=redirected_from(input.id, row),
    )
