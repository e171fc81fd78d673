"""The one ingestion pipeline (see ``pipeline``) and its inputs (see ``observation``)."""

from crm.ingest.observation import FieldIssue, Observation, Rejected, build_observation
from crm.ingest.pipeline import (
    CREATED,
    LINKED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    Outcome,
    PlannedWrites,
    ingest,
    plan_batch,
)

__all__ = [
    "CREATED",
    "LINKED",
    "REJECTED",
    "UNCHANGED",
    "UPDATED",
    "FieldIssue",
    "Observation",
    "Outcome",
    "PlannedWrites",
    "Rejected",
    "build_observation",
    "ingest",
    "plan_batch",
]
