"""Enums, errors and paging types shared by the whole schema."""

from __future__ import annotations

import enum

import strawberry
from graphql import GraphQLError

from crm.errors import ErrorCode, ServiceError
from crm.identity import Channel as DomainChannel

Channel = strawberry.enum(
    enum.Enum("Channel", {c.name: c.value for c in DomainChannel}),
    description=(
        "Where an identifier comes from. PHONE, WHATSAPP and SMS share one key space "
        "(E.164 numbers), so a number seen on WhatsApp finds the contact imported with it."
    ),
)

UserErrorCode = strawberry.enum(
    enum.Enum("UserErrorCode", {c.name: c.value for c in ErrorCode}),
    description="Why an input was refused. Stable: clients may switch on it.",
)


@strawberry.enum(description="Lifecycle of a contact.")
class ContactStatus(enum.Enum):
    ACTIVE = "active"
    MERGED = "merged"
    ERASED = "erased"


@strawberry.type(description="An input the server refused; the operation changed nothing.")
class UserError:
    code: UserErrorCode = strawberry.field(description="Machine-readable reason.")  # type: ignore[valid-type]
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), or null for the whole input."
    )
    message: str = strawberry.field(description="Human-readable explanation.")

    @classmethod
    def from_service(cls, error: ServiceError) -> UserError:
        return cls(
            code=UserErrorCode[error.code.name],  # type: ignore[index]
            field=_camel(error.field),
            message=error.message,
        )


def user_errors(error: ServiceError) -> list[UserError]:
    """Every UserError in a service error (a ValidationFailed carries several)."""
    errors = getattr(error, "errors", None) or [error]
    return [UserError.from_service(e) for e in errors]


def bad_input(error: ServiceError) -> GraphQLError:
    """A query's bad argument: a coded GraphQL error (queries have no payload to carry it)."""
    return GraphQLError(
        error.message, extensions={"code": error.code.value, "field": _camel(error.field)}
    )


def _camel(name: str | None) -> str | None:
    if not name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow `endCursor`.")
    has_previous_page: bool = strawberry.field(description="Items precede `startCursor`.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")
