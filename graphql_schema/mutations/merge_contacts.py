"""mergeContacts: several contacts into a survivor, each merge undoable."""

from __future__ import annotations

import strawberry

from crm.merging import merge_contacts_with_history
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError
from graphql_schema.types.contact import Contact
from graphql_schema.types.duplicates import Merge


@strawberry.input(description="Keep one contact's value of a field on the survivor.")
class FieldChoiceInput:
    field: str = strawberry.field(
        description="A Contact field: firstName, lastName, email, phone, dateOfBirth, or address "
        "(every part of the address the contact has)."
    )
    contact_id: strawberry.ID = strawberry.field(
        description="The survivor or one of mergeIds; it must have a value for the field."
    )


@strawberry.input(description="Contacts to merge into a survivor.")
class MergeContactsInput:
    survivor_id: strawberry.ID = strawberry.field(
        description="The contact that stays; it takes every identifier and source record."
    )
    merge_ids: list[strawberry.ID] = strawberry.field(
        description="The contacts merged into it (1 to 50, all active, not the survivor). Each "
        "becomes a MERGED tombstone whose id leads to the survivor."
    )
    candidate_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The review-queue candidate this decides (it must be PENDING and pair "
        "contacts named here). Pending candidates between the merged contacts are closed "
        "either way.",
    )
    field_choices: list[FieldChoiceInput] | None = strawberry.field(
        default=None,
        description="Values a person chose: the survivor keeps each named contact's value of "
        "the field, as a manual edit made at the merge (it holds until a newer observation from "
        "a higher-priority source, a PMS, says otherwise). Unmerging a contact takes back the "
        "choices that named it or the survivor. Without choices, survivorship decides.",
    )


@strawberry.type(description="Result of mergeContacts.")
class MergeContactsPayload:
    contact: Contact | None = strawberry.field(
        description="The survivor, fields recomputed by survivorship; null on errors."
    )
    merges: list[Merge] = strawberry.field(
        description="One merge per merged contact, in `mergeIds` order; empty on errors."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing changed: NOT_FOUND (unknown or another organization's id), "
        "NOT_ACTIVE (already merged or erased), MERGE_CONFLICT (the survivor among mergeIds, or "
        "a candidate of other contacts), CANDIDATE_CLOSED, INVALID_INPUT (field fieldChoices: an "
        "unknown field, a contact not in the merge, a field chosen twice or a contact with no "
        "value for it)."
    )


def resolve(info: Info, input: MergeContactsInput) -> MergeContactsPayload:
    ctx = info.context
    outcome, errors = run_command(
        info,
        lambda s: merge_contacts_with_history(
            s,
            organization=ctx.organization,
            survivor_id=input.survivor_id,
            merge_ids=list(input.merge_ids),
            actor=ctx.principal.actor,
            candidate_id=input.candidate_id,
            field_choices=[(c.field, c.contact_id) for c in input.field_choices or ()],
        ),
    )
    if outcome is None:
        return MergeContactsPayload(contact=None, merges=[], errors=errors)
    return MergeContactsPayload(
        contact=Contact.from_model(outcome.survivor),
        merges=[Merge.from_model(m) for m in outcome.merges],
        errors=errors,
    )
