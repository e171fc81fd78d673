"""dismissDuplicate: two contacts are different people."""

from __future__ import annotations

import strawberry

from crm.merging import dismiss_candidate
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError
from graphql_schema.types.duplicates import DuplicateCandidate


@strawberry.input(description="The candidate to dismiss.")
class DismissDuplicateInput:
    candidate_id: strawberry.ID = strawberry.field(description="A duplicate candidate's id.")


@strawberry.type(description="Result of dismissDuplicate.")
class DismissDuplicatePayload:
    candidate: DuplicateCandidate | None = strawberry.field(
        description="The candidate, now DISMISSED; null on errors."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing changed: NOT_FOUND, CANDIDATE_CLOSED (already merged)."
    )


def resolve(info: Info, input: DismissDuplicateInput) -> DismissDuplicatePayload:
    ctx = info.context
    row, errors = run_command(
        info,
        lambda s: dismiss_candidate(
            s,
            organization=ctx.organization,
            candidate_id=input.candidate_id,
            actor=ctx.principal.actor,
        ),
    )
    return DismissDuplicatePayload(
        candidate=DuplicateCandidate.from_model(row) if row else None, errors=errors
    )
