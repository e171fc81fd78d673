"""What every mutation shares: inputs for contact fields and the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from sqlmodel import Session

from crm.errors import ServiceError
from graphql_schema.context import Info
from graphql_schema.off_the_loop import off_the_loop
from graphql_schema.types.common import UserError, user_errors

T = TypeVar("T")


def mutation(*, resolver: Callable[..., Any], **kwargs: Any) -> Any:
    """``strawberry.mutation`` for every root mutation: its resolver runs off the event loop
    (``off_the_loop``, through the request's ``Context.run_sync``)."""
    return strawberry.mutation(resolver=off_the_loop(resolver), **kwargs)


def run_command(info: Info, command: Callable[[Session], T]) -> tuple[T | None, list[UserError]]:
    """Run a service command as its own unit of work: commit, or roll back and explain.

    Afterwards the request's read session ends its transaction and the loaders forget what
    they cached, so that what the payload's nested fields read sees the committed change (an
    earlier mutation of the same request may have loaded the same contact).
    """
    try:
        with Session(info.context.engine, expire_on_commit=False) as session:
            try:
                result = command(session)
                session.commit()
            except ServiceError as exc:
                session.rollback()
                return None, user_errors(exc)
            except BaseException:
                session.rollback()
                raise
        return result, []
    finally:
        info.context.forget_reads()


def redirected_from(requested: str, row: Any) -> strawberry.ID | None:
    """The contact a write named, when it went to another one (the survivor of a merge)."""
    if row is None:
        return None
    try:
        if uuid.UUID(str(requested).strip()) == row.id:
            return None
    except ValueError:
        return None
    return strawberry.ID(str(requested))


REDIRECTED_FROM_HELP = (
    "The contact the input named when it had been merged: the change went to its survivor "
    "(`contact`) instead. Null when it went to the contact named."
)


@strawberry.input(description="A postal address; omitted parts stay as they are.")
class AddressInput:
    line1: str | None = strawberry.field(default=None, description="Street address.")
    line2: str | None = strawberry.field(default=None, description="Unit, building, etc.")
    city: str | None = strawberry.field(default=None, description="City or suburb.")
    region: str | None = strawberry.field(default=None, description="State or region.")
    postal_code: str | None = strawberry.field(default=None, description="Postcode / ZIP.")
    country: str | None = strawberry.field(default=None, description="Country.")


def contact_data(
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    date_of_birth: str | None = None,
    address: AddressInput | None = None,
) -> dict[str, Any]:
    """GraphQL contact fields as the pipeline's canonical record (unset values left out)."""
    data: dict[str, Any] = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "date_of_birth": date_of_birth,
    }
    if address is not None:
        data.update(
            address_line1=address.line1,
            address_line2=address.line2,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            country=address.country,
        )
    return {k: v for k, v in data.items() if v is not None}


DATE_OF_BIRTH_HELP = (
    "YYYY-MM-DD, YYYYMMDD or DD/MM/YYYY (month first in month-first regions such as US)."
)
