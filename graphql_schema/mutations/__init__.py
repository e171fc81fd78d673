"""Root mutations: one module per mutation, each field here one line."""

from __future__ import annotations

import strawberry

from graphql_schema.mutations import create_contact as create_m
from graphql_schema.mutations import identifiers as identifiers_m
from graphql_schema.mutations import import_contacts as import_m
from graphql_schema.mutations import resolve_contact as resolve_m
from graphql_schema.mutations import update_contact as update_m
from graphql_schema.mutations.create_contact import CreateContactPayload
from graphql_schema.mutations.identifiers import LinkIdentifierPayload, UnlinkIdentifierPayload
from graphql_schema.mutations.import_contacts import ImportContactsPayload
from graphql_schema.mutations.resolve_contact import ResolveContactPayload
from graphql_schema.mutations.update_contact import UpdateContactPayload
from graphql_schema.permissions import IsEditor


@strawberry.type(
    description="Changing contacts (an editor or admin key). Each mutation takes one `input` and "
    "returns a payload with its result and `errors`; bad input changes nothing and is explained "
    "there, never as a top-level error."
)
class Mutation:
    create_contact: CreateContactPayload = strawberry.mutation(
        resolver=create_m.resolve,
        description="Create a contact entered by a person.",
        permission_classes=[IsEditor],
    )
    update_contact: UpdateContactPayload = strawberry.mutation(
        resolver=update_m.resolve,
        description="Change a contact's fields (a manual edit).",
        permission_classes=[IsEditor],
    )
    resolve_contact: ResolveContactPayload = strawberry.mutation(
        resolver=resolve_m.resolve,
        description="Find the contact behind a channel identifier, creating it when new. "
        "Concurrent calls for one new identity create exactly one contact.",
        permission_classes=[IsEditor],
    )
    link_identifier: LinkIdentifierPayload = strawberry.mutation(
        resolver=identifiers_m.resolve_link,
        description="Attach a channel identifier to a contact.",
        permission_classes=[IsEditor],
    )
    unlink_identifier: UnlinkIdentifierPayload = strawberry.mutation(
        resolver=identifiers_m.resolve_unlink,
        description="Detach a channel identifier from a contact.",
        permission_classes=[IsEditor],
    )
    import_contacts: ImportContactsPayload = strawberry.mutation(
        resolver=import_m.resolve,
        description="Bulk import a CSV client list (CONTRACT.md format). Re-running is safe; "
        "rejected rows are listed in the job's errors while the rest import. Large files run "
        "in the background when Redis is configured (the job comes back PENDING).",
        permission_classes=[IsEditor],
    )
