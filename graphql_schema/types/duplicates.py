"""The duplicate review queue, merges and the dedup sweep's summary."""

from __future__ import annotations

import datetime
import enum

import strawberry
from strawberry.scalars import JSON

from crm.errors import ServiceError
from crm.merging.queue import list_candidates
from crm.models import DuplicateCandidate as CandidateModel
from crm.models import Merge as MergeModel
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsReader
from graphql_schema.types.common import PageInfo, bad_input
from graphql_schema.types.contact import Contact


@strawberry.enum(description="Where a duplicate candidate is in the review queue.")
class DuplicateStatus(enum.Enum):
    PENDING = "pending"
    MERGED = "merged"
    DISMISSED = "dismissed"


@strawberry.enum(description="Why two contacts were merged.")
class MergeReason(enum.Enum):
    MANUAL = "manual"
    SWEEP = "sweep"
    PMS = "pms"


@strawberry.type(
    description="Two contacts that may be one person, with the score and the per-field "
    "reasons the matcher gave."
)
class DuplicateCandidate:
    _model: strawberry.Private[CandidateModel]

    id: strawberry.ID = strawberry.field(description="Candidate id.")
    score: float = strawberry.field(
        description="How likely the two are one person (higher is likelier)."
    )
    status: DuplicateStatus = strawberry.field(
        description="PENDING (to review), MERGED or DISMISSED (never proposed again)."
    )
    reasons: JSON = strawberry.field(
        description="Per-field reasons for the score, as the matcher stored them (a list)."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was proposed.")
    decided_at: datetime.datetime | None = strawberry.field(
        description="When it was merged or dismissed."
    )
    decided_by: str | None = strawberry.field(
        description="The API key or job that merged or dismissed it."
    )

    @classmethod
    def from_model(cls, row: CandidateModel) -> DuplicateCandidate:
        return cls(
            _model=row,
            id=strawberry.ID(str(row.id)),
            score=row.score,
            status=DuplicateStatus(row.status),
            reasons=row.reasons or [],
            created_at=row.created_at,
            decided_at=row.decided_at,
            decided_by=row.decided_by,
        )

    @strawberry.field(
        description="The two contacts, as they are now (a merged one has status MERGED)."
    )
    async def contacts(self, info: Info) -> list[Contact]:
        rows = await info.context.loaders.contact_by_id.load_many(
            [self._model.contact_a_id, self._model.contact_b_id]
        )
        return [Contact.from_model(r) for r in rows if r is not None]


@strawberry.type(description="An edge of the duplicate candidates connection.")
class DuplicateCandidateEdge:
    cursor: str = strawberry.field(description="Opaque cursor; pass it as `after`.")
    node: DuplicateCandidate = strawberry.field(description="The candidate.")


@strawberry.type(description="A page of duplicate candidates, highest score first (keyset).")
class DuplicateCandidateConnection:
    edges: list[DuplicateCandidateEdge] = strawberry.field(description="The page's candidates.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="How many candidates have this status.")


@strawberry.type(description="One contact merged into another, undoable with unmergeContact.")
class Merge:
    _model: strawberry.Private[MergeModel]

    id: strawberry.ID = strawberry.field(description="Merge id.")
    reason: MergeReason = strawberry.field(
        description="MANUAL, SWEEP (automatic) or PMS (the PMS merged the two patients)."
    )
    score: float | None = strawberry.field(description="The duplicate score, when there was one.")
    candidate_id: strawberry.ID | None = strawberry.field(
        description="The review-queue candidate this merge decided, if any."
    )
    actor: str | None = strawberry.field(description="The API key or job that merged.")
    created_at: datetime.datetime = strawberry.field(description="When it was merged.")
    undone_at: datetime.datetime | None = strawberry.field(
        description="When it was unmerged, else null."
    )

    @classmethod
    def from_model(cls, row: MergeModel) -> Merge:
        return cls(
            _model=row,
            id=strawberry.ID(str(row.id)),
            reason=MergeReason(row.reason),
            score=row.score,
            candidate_id=strawberry.ID(str(row.candidate_id)) if row.candidate_id else None,
            actor=row.actor,
            created_at=row.created_at,
            undone_at=row.undone_at,
        )

    @strawberry.field(description="The contact that absorbed the other.")
    async def survivor(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self._model.survivor_id)
        return Contact.from_model(row) if row is not None else None

    @strawberry.field(
        description="The contact merged away (status MERGED until unmerged): its id is what "
        "unmergeContact takes."
    )
    async def merged(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self._model.merged_id)
        return Contact.from_model(row) if row is not None else None


@strawberry.type(description="What one run of the dedup sweep did.")
class SweepSummary:
    contacts: int = strawberry.field(description="Contacts the sweep looked at.")
    pairs_scored: int = strawberry.field(description="Pairs of contacts compared and scored.")
    auto_merged: int = strawberry.field(
        description="Pairs above the organization's high threshold, merged automatically."
    )
    candidates: int = strawberry.field(
        description="Pairs between the two thresholds, queued for review."
    )
    errors: int = strawberry.field(
        description="Items that failed (logged and counted; the sweep went on)."
    )
    seconds: float = strawberry.field(description="How long it took.")
    skipped: bool = strawberry.field(
        description="True when another sweep of the organization was running, so this one "
        "did nothing."
    )


@strawberry.type
class DuplicatesQuery:
    @database_field(
        description="The duplicate review queue, highest score first. PENDING (the default) "
        "lists pairs whose two contacts are both still active; MERGED and DISMISSED list the "
        "decisions taken. `first` is 0 to 500, default 50; `after` is an `endCursor` of this "
        "connection.",
        permission_classes=[IsReader],
    )
    def duplicate_candidates(
        self,
        info: Info,
        status: DuplicateStatus = DuplicateStatus.PENDING,
        first: int = 50,
        after: str | None = None,
    ) -> DuplicateCandidateConnection:
        ctx = info.context
        try:
            page = list_candidates(
                ctx.session,
                organization_id=ctx.organization.id,
                status=status.value,
                first=first,
                after=after,
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            DuplicateCandidateEdge(cursor=cursor, node=DuplicateCandidate.from_model(row))
            for cursor, row in zip(page.cursors, page.items, strict=True)
        ]
        return DuplicateCandidateConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )
