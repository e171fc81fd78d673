"""Merge, unmerge and dismiss: what the GraphQL mutations, the CLI and the dedup sweep call.

Each runs in a savepoint of the caller's session (which commits): a refused operation
(ServiceError) changes nothing, and one that lost a race (a unique constraint, a deadlock, a
contact whose version moved) is rolled back to the savepoint and run again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog
from sqlmodel import Session

from crm.db import is_retryable
from crm.ingest.pipeline import ConcurrentUpdate
from crm.merging import queue
from crm.merging.merge import GroupsOutcome, MergeGroup, MergeOutcome, merge, merge_groups
from crm.merging.unmerge import UnmergeOutcome, unmerge
from crm.models import Contact, DuplicateCandidate, Organization

log = structlog.get_logger(__name__)
T = TypeVar("T")
RETRIES = 10


def merge_contacts(
    session: Session,
    *,
    organization: Organization,
    survivor_id: Any,
    merge_ids: Sequence[Any],
    actor: str | None,
    reason: str = "manual",
    score: float | None = None,
    candidate_id: Any = None,
    field_choices: Sequence[Any] | None = None,
) -> Contact:
    """Merge ``merge_ids`` into the survivor (reversibly); returns the survivor as now.

    ``field_choices``: ``(field, contact_id)`` pairs: the survivor keeps that contact's value
    of the field (``first_name``, ``last_name``, ``email``, ``phone``, ``date_of_birth``,
    ``address``; camelCase too) as a manual decision, until unmerged."""
    return merge_contacts_with_history(
        session,
        organization=organization,
        survivor_id=survivor_id,
        merge_ids=merge_ids,
        actor=actor,
        reason=reason,
        score=score,
        candidate_id=candidate_id,
        field_choices=field_choices,
    ).survivor


def merge_contacts_with_history(
    session: Session,
    *,
    organization: Organization,
    survivor_id: Any,
    merge_ids: Sequence[Any],
    actor: str | None,
    reason: str = "manual",
    score: float | None = None,
    candidate_id: Any = None,
    field_choices: Sequence[Any] | None = None,
) -> MergeOutcome:
    """``merge_contacts``, also returning the ``merges`` rows (one per merged contact)."""
    return _retrying(
        session,
        "merge",
        lambda: merge(
            session,
            organization=organization,
            survivor_id=survivor_id,
            merge_ids=merge_ids,
            actor=actor,
            reason=reason,
            score=score,
            candidate_id=candidate_id,
            field_choices=field_choices,
        ),
    )


def merge_contact_groups(
    session: Session,
    *,
    organization: Organization,
    groups: Sequence[MergeGroup],
    actor: str | None,
    reason: str = "sweep",
) -> GroupsOutcome:
    """Merge many disjoint groups in one go (the dedup sweep); refused groups are reported."""
    return _retrying(
        session,
        "merge_groups",
        lambda: merge_groups(
            session, organization=organization, groups=groups, actor=actor, reason=reason
        ),
    )


def unmerge_contact(
    session: Session, *, organization: Organization, contact_id: Any, actor: str | None
) -> Contact:
    """Undo the merge of a merged contact; returns it restored."""
    return unmerge_contact_with_survivor(
        session, organization=organization, contact_id=contact_id, actor=actor
    ).contact


def unmerge_contact_with_survivor(
    session: Session, *, organization: Organization, contact_id: Any, actor: str | None
) -> UnmergeOutcome:
    """``unmerge_contact``, also returning the recomputed survivor and the undone merge."""
    return _retrying(
        session,
        "unmerge",
        lambda: unmerge(session, organization=organization, contact_id=contact_id, actor=actor),
    )


def dismiss_candidate(
    session: Session, *, organization: Organization, candidate_id: Any, actor: str | None
) -> DuplicateCandidate:
    """Mark a duplicate candidate as two different people: it is never proposed again."""
    return _retrying(
        session,
        "dismiss",
        lambda: queue.dismiss(
            session, organization_id=organization.id, candidate_id=candidate_id, actor=actor
        ),
    )


def _retrying(session: Session, what: str, operation: Callable[[], T]) -> T:
    for attempt in range(RETRIES):
        try:
            with session.begin_nested():
                return operation()
        except Exception as exc:
            if not (is_retryable(exc) or isinstance(exc, ConcurrentUpdate)):
                raise
            if attempt == RETRIES - 1:
                raise
            log.info(f"crm.merging.{what}.retry", attempt=attempt + 1, reason=type(exc).__name__)
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")
