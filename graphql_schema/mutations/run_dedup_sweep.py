"""runDedupSweep: the dedup sweep of the caller's organization, now."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import strawberry

from crm.errors import ServiceError
from graphql_schema.context import Info
from graphql_schema.types.common import UserError, user_errors
from graphql_schema.types.duplicates import SweepSummary


@strawberry.input(description="How much to sweep.")
class RunDedupSweepInput:
    incremental: bool = strawberry.field(
        default=False,
        description="Only contacts changed since the last sweep, against everyone (default: "
        "every contact).",
    )


@strawberry.type(description="Result of runDedupSweep.")
class RunDedupSweepPayload:
    summary: SweepSummary | None = strawberry.field(
        description="What the sweep did; null on errors."
    )
    errors: list[UserError] = strawberry.field(description="Why the sweep did not run.")


def sweep_function() -> Callable[..., Any]:
    """``crm.matching.sweep.run_sweep``, imported when first needed."""
    from crm.matching.sweep import run_sweep

    return run_sweep


async def resolve(info: Info, input: RunDedupSweepInput) -> RunDedupSweepPayload:
    ctx = info.context
    sweep = functools.partial(
        sweep_function(),
        ctx.engine,
        organization_id=ctx.organization.id,
        mode="incremental" if input.incremental else "full",
        actor=ctx.principal.actor,
    )

    def sweep_and_forget() -> Any:
        try:
            return sweep()
        finally:
            # the sweep committed in its own sessions: the payload must not read an older
            # snapshot
            ctx.forget_reads()

    try:
        # a sweep takes seconds to minutes: the server answers other requests meanwhile
        summary = await ctx.run_sync(sweep_and_forget)
    except ServiceError as exc:
        return RunDedupSweepPayload(summary=None, errors=user_errors(exc))
    return RunDedupSweepPayload(
        summary=SweepSummary(
            contacts=summary.contacts,
            pairs_scored=summary.pairs_scored,
            auto_merged=summary.auto_merged,
            candidates=summary.candidates,
            errors=_count(summary.errors),
            seconds=float(summary.seconds),
            skipped=bool(summary.skipped),
        ),
        errors=[],
    )


def _count(value: Any) -> int:
    # a count, or the list of what failed
    return value if isinstance(value, int) else len(value or ())
