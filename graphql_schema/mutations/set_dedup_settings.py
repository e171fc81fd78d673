"""setDedupSettings: the organization's dedup thresholds, as probabilities."""

from __future__ import annotations

import strawberry
from sqlmodel import Session

from crm.matching.settings import dedup_model, set_dedup_settings
from crm.models import Organization
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError
from graphql_schema.types.dedup_model import DedupModel


@strawberry.input(description="The thresholds to set; an omitted one keeps its value.")
class SetDedupSettingsInput:
    auto_merge_at: float | None = strawberry.field(
        default=None,
        description="Probability at or above which a pair merges on its own (0 < p <= 1).",
    )
    review_at: float | None = strawberry.field(
        default=None,
        description="Probability at or above which a pair is queued for review (at most "
        "autoMergeAt).",
    )


@strawberry.type(description="Result of setDedupSettings.")
class SetDedupSettingsPayload:
    dedup_model: DedupModel | None = strawberry.field(
        description="The thresholds as set and the current model; null on errors."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


def resolve(info: Info, input: SetDedupSettingsInput) -> SetDedupSettingsPayload:
    ctx = info.context

    def command(session: Session) -> DedupModel:
        set_dedup_settings(
            session,
            organization_id=ctx.organization.id,
            auto_merge_at=input.auto_merge_at,
            review_at=input.review_at,
        )
        organization = session.get(Organization, ctx.organization.id)
        return DedupModel.from_view(dedup_model(session, organization=organization))

    result, errors = run_command(info, command)
    return SetDedupSettingsPayload(dedup_model=result, errors=errors)
