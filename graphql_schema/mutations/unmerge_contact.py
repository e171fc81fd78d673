"""unmergeContact: undo a merge exactly."""

from __future__ import annotations

import strawberry

from crm.merging import unmerge_contact_with_survivor
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError
from graphql_schema.types.contact import Contact


@strawberry.input(description="The merged contact to bring back.")
class UnmergeContactInput:
    contact_id: strawberry.ID = strawberry.field(
        description="The merged contact's id (status MERGED; `contact(id, followMerges: false)` "
        "or a merge's `merged` gives it)."
    )


@strawberry.type(description="Result of unmergeContact.")
class UnmergeContactPayload:
    contact: Contact | None = strawberry.field(
        description="The contact restored as it was before the merge (ACTIVE again, with its "
        "identifiers and source records); null on errors."
    )
    survivor: Contact | None = strawberry.field(
        description="The contact it had been merged into (or, if that was merged on since, the "
        "one it leads to), recomputed; it keeps what arrived after the merge."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing changed: NOT_FOUND, NOT_MERGED (the contact is not merged)."
    )


def resolve(info: Info, input: UnmergeContactInput) -> UnmergeContactPayload:
    ctx = info.context
    outcome, errors = run_command(
        info,
        lambda s: unmerge_contact_with_survivor(
            s,
            organization=ctx.organization,
            contact_id=input.contact_id,
            actor=ctx.principal.actor,
        ),
    )
    if outcome is None:
        return UnmergeContactPayload(contact=None, survivor=None, errors=errors)
    return UnmergeContactPayload(
        contact=Contact.from_model(outcome.contact),
        survivor=Contact.from_model(outcome.survivor),
        errors=errors,
    )
