"""Which connections are due a sync, and the summary of a run the CLI and jobs print."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from crm.models import PmsConnection, PmsSyncRun, utcnow
from crm.settings import Settings, get_settings

RUN_COUNTS = (
    "patients_fetched",
    "patients_created",
    "patients_updated",
    "patients_unchanged",
    "patients_linked",
    "patients_skipped",
    "patients_failed",
    "patients_merged",
    "appointments_fetched",
    "appointments_created",
    "appointments_updated",
    "appointments_unchanged",
    "appointments_skipped",
    "appointments_failed",
)


def is_due(connection: PmsConnection, *, now: datetime) -> bool:
    """Enabled, past its backoff, and its frequency passed since its last sync."""
    if not connection.sync_enabled:
        return False
    if connection.next_attempt_at is not None and connection.next_attempt_at > now:
        return False
    if connection.last_sync_at is None:
        return True
    return connection.last_sync_at + timedelta(minutes=connection.sync_frequency_minutes) <= now


def due_connections(
    session: Session,
    *,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[PmsConnection]:
    """Connections due a sync (of one organization, or all); a connection whose run is live
    is not due, one whose running run went stale is (the run is resumed)."""
    settings = settings or get_settings()
    now = now or utcnow()
    query = select(PmsConnection).where(PmsConnection.sync_enabled.is_(True))
    if organization_id is not None:
        query = query.where(PmsConnection.organization_id == organization_id)
    connections = [
        c for c in session.exec(query.order_by(PmsConnection.id)).all() if is_due(c, now=now)
    ]
    if not connections:
        return []
    stale_before = now - timedelta(seconds=settings.pms_sync_heartbeat_limit_seconds)
    live = set(
        session.exec(
            select(PmsSyncRun.connection_id).where(
                PmsSyncRun.status == "running", PmsSyncRun.heartbeat_at > stale_before
            )
        ).all()
    )
    return [c for c in connections if c.id not in live]


def stale_connections(
    session: Session,
    connection_ids: list[uuid.UUID],
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> set[uuid.UUID]:
    """Those of ``connection_ids`` whose running run's heartbeat is older than the limit: its
    process died (the next run marks it failed and resumes from the committed cursors)."""
    if not connection_ids:
        return set()
    settings = settings or get_settings()
    stale_before = (now or utcnow()) - timedelta(seconds=settings.pms_sync_heartbeat_limit_seconds)
    return set(
        session.exec(
            select(PmsSyncRun.connection_id).where(
                PmsSyncRun.status == "running",
                PmsSyncRun.heartbeat_at <= stale_before,
                PmsSyncRun.connection_id.in_(connection_ids),  # type: ignore[attr-defined]
            )
        ).all()
    )


def run_summary(run: PmsSyncRun) -> dict[str, Any]:
    """A run as plain values (``crm pms sync --json``, job results)."""
    seconds = None
    if run.completed_at is not None:
        seconds = round((run.completed_at - run.started_at).total_seconds(), 3)
    return {
        "run_id": str(run.id),
        "connection_id": str(run.connection_id),
        "kind": run.kind,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "completed_at": run.completed_at.isoformat() if run.completed_at else None,
        **{name: getattr(run, name) for name in RUN_COUNTS},
        "error": run.error,
        "failures": list((run.details or {}).get("failures", [])),
        "seconds": seconds,
    }


def list_runs(
    session: Session,
    *,
    organization_id: uuid.UUID | None,
    connection_id: uuid.UUID | None = None,
    limit: int = 20,
    before: uuid.UUID | None = None,
) -> list[PmsSyncRun]:
    """The newest runs first (keyset on the time-ordered id); every organization's with
    ``organization_id=None`` (the operator's ``crm pms runs``)."""
    query = select(PmsSyncRun)
    if organization_id is not None:
        query = query.where(PmsSyncRun.organization_id == organization_id)
    if connection_id is not None:
        query = query.where(PmsSyncRun.connection_id == connection_id)
    if before is not None:
        query = query.where(PmsSyncRun.id < before)
    return list(session.exec(query.order_by(PmsSyncRun.id.desc()).limit(limit)).all())
