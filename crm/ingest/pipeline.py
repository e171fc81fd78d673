"""The one ingestion pipeline: every source (CSV, resolveContact, PMS, webhooks) comes here.

normalise (done by the caller, ``build_observation``) -> find owner by identity keys ->
attach or create -> store source record version -> recompute fields by survivorship -> events.

It works on batches in three steps: ``load`` (``snapshot``: one statement per kind of row the
batch can reach), ``plan`` (``plan``: a function of the snapshot and the batch) and ``store``
(``store``: multi-row statements). A single lookup is a batch of one. Races are settled by
unique constraints and contact versions: a batch that loses one is rolled back to its
savepoint and planned again against what the winner committed.

``ingest`` is load -> plan -> store with those retries; ``plan_only`` (a dry run) is load ->
plan; ``plan_batch`` plans a batch against the one planned before it, whose writes may not
have committed yet (``Pending``), for ``PlannedWrites.send`` to store later.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlmodel import Session

from crm.db import is_retryable
from crm.ingest.observation import Observation
from crm.ingest.outcome import (
    CREATED,
    LINKED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    ConcurrentUpdate,
    Outcome,
)
from crm.ingest.plan import Plan, plan
from crm.ingest.snapshot import Pending, load
from crm.ingest.store import store
from crm.models import Organization

log = structlog.get_logger(__name__)

__all__ = [
    "CREATED",
    "LINKED",
    "REJECTED",
    "UNCHANGED",
    "UPDATED",
    "ConcurrentUpdate",
    "Outcome",
    "Pending",
    "Plan",
    "PlannedWrites",
    "ingest",
    "plan_batch",
    "plan_only",
]


def ingest(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
    retries: int = 10,
) -> list[Outcome]:
    """Run ``observations`` through the pipeline; one outcome per observation, in order."""
    for attempt in range(retries):
        try:
            with session.begin_nested():
                planned = plan_only(
                    session,
                    organization=organization,
                    observations=observations,
                    actor=actor,
                    import_job_id=import_job_id,
                )
                store(session, planned.writes)
                return planned.outcomes
        except Exception as exc:
            if not (is_retryable(exc) or isinstance(exc, ConcurrentUpdate)):
                raise
            if attempt == retries - 1:
                raise
            log.info("crm.ingest.retry", attempt=attempt + 1, reason=type(exc).__name__)
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def plan_only(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
    pending: Pending | None = None,
) -> Plan:
    """``ingest``'s load and plan, nothing written (a dry run): the outcomes and the writes.

    ``pending``: what batches planned before this one would have written (``Pending.add``
    each plan): this batch is planned as if it were stored.
    """
    snapshot = load(
        session, organization_id=organization.id, observations=observations, pending=pending
    )
    return plan(
        snapshot,
        observations,
        organization=organization,
        actor=actor,
        import_job_id=import_job_id,
    )


@dataclass(slots=True, weakref_slot=True)
class PlannedWrites:
    """A planned batch (``plan_batch``), its writes rendered, to store on ``session``."""

    session: Session
    plan: Plan

    def send(self) -> None:
        store(self.session, self.plan.writes)


def plan_batch(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
    previous: PlannedWrites | None = None,
) -> tuple[list[Outcome], PlannedWrites]:
    """``ingest``'s load and plan, its writes rendered (PostgreSQL ``COPY`` text built) for
    ``PlannedWrites.send`` to store later, on ``session``.

    For a caller that overlaps storing one batch with planning the next (the CSV import):
    nothing is written until ``PlannedWrites.send``; a conflict it meets (``is_retryable``, or
    ``ConcurrentUpdate``) leaves the batch to be planned again, by ``ingest``, once the
    transaction is rolled back. No retries here, no savepoint.

    ``previous``: the batch planned just before this one, whose writes may still be on their
    way. This batch is planned on the snapshot updated with that plan (``Pending``), as if it
    were stored, committed or not. Its writes must commit before this batch's are sent; if
    they do not, this plan is void.
    """
    planned = plan_only(
        session,
        organization=organization,
        observations=observations,
        actor=actor,
        import_job_id=import_job_id,
        pending=Pending.of(previous.plan) if previous is not None else None,
    )
    planned.writes.render()
    return planned.outcomes, PlannedWrites(session, planned)
