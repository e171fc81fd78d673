"""An organization's dedup settings: the thresholds, as probabilities, in its ``settings``.

``settings["dedup"] = {"auto_merge": 0.98, "review": 0.6}``: a pair whose probability of being
one person is at or above ``auto_merge`` merges on its own, at or above ``review`` waits for a
person. The sweep reads them (``scoring.Thresholds.for_settings``); the API
(``setDedupSettings``, ``dedupModel``) and ``crm dedup --auto-merge-at/--review-at`` set them.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.matching.runs import latest_model
from crm.matching.scoring import HARD_NEGATIVE_CAP, Thresholds
from crm.models import DedupRun, Organization


@dataclass(slots=True)
class DedupModelView:
    """The organization's thresholds and the model its last successful sweep learned."""

    thresholds: Thresholds
    run: DedupRun | None

    @property
    def model(self) -> dict[str, Any] | None:
        return self.run.model if self.run is not None else None


def set_dedup_settings(
    session: Session,
    *,
    organization_id: uuid.UUID,
    auto_merge_at: float | None = None,
    review_at: float | None = None,
) -> Thresholds:
    """Set the organization's thresholds (either or both); the others keep their value."""
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("organization", field="organization")
    current = Thresholds.for_settings(organization.settings)
    auto = (
        current.auto_merge if auto_merge_at is None else _probability(auto_merge_at, "autoMergeAt")
    )
    review = current.review if review_at is None else _probability(review_at, "reviewAt")
    if review <= HARD_NEGATIVE_CAP:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"reviewAt must be above {HARD_NEGATIVE_CAP}",
            field="reviewAt",
        )
    if review > auto:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "reviewAt must not be above autoMergeAt", field="reviewAt"
        )
    settings = dict(organization.settings or {})
    settings["dedup"] = {**(settings.get("dedup") or {}), "auto_merge": auto, "review": review}
    organization.settings = settings
    flag_modified(organization, "settings")
    session.add(organization)
    session.flush()
    return Thresholds(auto_merge=auto, review=review)


def dedup_model(session: Session, *, organization: Organization) -> DedupModelView:
    """The organization's thresholds and its latest learned model."""
    return DedupModelView(
        thresholds=Thresholds.for_settings(organization.settings),
        run=latest_model(session, organization_id=organization.id),
    )


def _probability(value: float, field: str) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 < value <= 1.0:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"{field} must be a probability in (0, 1]", field=field
        )
    return float(value)
