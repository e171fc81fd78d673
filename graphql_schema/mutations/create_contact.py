"""createContact: a contact entered by a person."""

from __future__ import annotations

import strawberry

from crm.contacts.commands import create_contact
from graphql_schema.context import Info
from graphql_schema.mutations.base import (
    DATE_OF_BIRTH_HELP,
    AddressInput,
    contact_data,
    run_command,
)
from graphql_schema.types.common import UserError
from graphql_schema.types.contact import Contact


@strawberry.input(description="A new contact. It needs a name, an email or a phone.")
class CreateContactInput:
    first_name: str | None = strawberry.field(default=None, description="Given name(s).")
    last_name: str | None = strawberry.field(default=None, description="Family name.")
    email: str | None = strawberry.field(default=None, description="Email address.")
    phone: str | None = strawberry.field(
        default=None, description="Phone in any format (the organization's region)."
    )
    date_of_birth: str | None = strawberry.field(default=None, description=DATE_OF_BIRTH_HELP)
    address: AddressInput | None = strawberry.field(default=None, description="Postal address.")


@strawberry.type(description="Result of createContact.")
class CreateContactPayload:
    contact: Contact | None = strawberry.field(description="The new contact; null on errors.")
    errors: list[UserError] = strawberry.field(
        description="Why nothing was created (DUPLICATE_CONTACT when an identifier says the "
        "person exists)."
    )


def resolve(info: Info, input: CreateContactInput) -> CreateContactPayload:
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
        lambda s: create_contact(
            s, organization=ctx.organization, data=data, actor=ctx.principal.actor
        ),
    )
    return CreateContactPayload(contact=Contact.from_model(row) if row else None, errors=errors)
