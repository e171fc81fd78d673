"""Sweep runs: one at a time per organization, and where the next incremental sweep starts.

The lock is a ``dedup_runs`` row with status ``running``: a partial unique index allows one
per organization, so the second of two sweeps started together fails to insert its row and
returns at once. It works the same on SQLite and PostgreSQL and survives no process: a run
whose heartbeat is older than ``STALE_AFTER`` was abandoned (its process died) and the next
sweep marks it failed and takes over.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from crm.db import session_scope
from crm.models import DedupRun, utcnow

STALE_AFTER = timedelta(minutes=30)


def start_run(
    engine: Engine, *, organization_id: uuid.UUID, mode: str, actor: str | None
) -> DedupRun | None:
    """A new running sweep of the organization, or None when one is running already."""
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(
            update(DedupRun)
            .where(
                DedupRun.organization_id == organization_id,
                DedupRun.status == "running",
                DedupRun.heartbeat_at < now - STALE_AFTER,
            )
            .values(status="failed", finished_at=now, error="abandoned: no heartbeat")
        )
        run = DedupRun(
            organization_id=organization_id,
            mode=mode,
            actor=actor,
            started_at=now,
            heartbeat_at=now,
        )
        try:
            with session.begin_nested():
                session.add(run)
                session.flush()
        except IntegrityError:
            return None
    return run


def heartbeat(engine: Engine, run: DedupRun) -> None:
    """Say the run is alive (long phases call this now and then)."""
    with session_scope(engine) as session:
        session.execute(
            update(DedupRun)
            .where(DedupRun.id == run.id, DedupRun.status == "running")
            .values(heartbeat_at=utcnow())
        )


def finish_run(
    engine: Engine,
    run: DedupRun,
    *,
    status: str,
    error: str | None = None,
    model: dict[str, Any] | None = None,
    **counts: int,
) -> None:
    """Record the run's outcome, counts and learned model, releasing the organization's lock."""
    now = utcnow()
    values: dict[str, Any] = dict(status=status, finished_at=now, heartbeat_at=now, error=error)
    if model is not None:
        values["model"] = model
    with session_scope(engine) as session:
        session.execute(update(DedupRun).where(DedupRun.id == run.id).values(**values, **counts))


def latest_model(session: Session, *, organization_id: uuid.UUID) -> DedupRun | None:
    """The last successful sweep that stored a model, or None."""
    return session.execute(
        select(DedupRun)
        .where(
            DedupRun.organization_id == organization_id,
            DedupRun.status == "succeeded",
            DedupRun.model.is_not(None),
        )
        .order_by(DedupRun.started_at.desc())
        .limit(1)
    ).scalar()


def last_success(engine: Engine, *, organization_id: uuid.UUID) -> datetime | None:
    """When the last successful sweep started (what it saw is settled up to then)."""
    with session_scope(engine) as session:
        return session.execute(
            select(DedupRun.started_at)
            .where(DedupRun.organization_id == organization_id, DedupRun.status == "succeeded")
            .order_by(DedupRun.started_at.desc())
            .limit(1)
        ).scalar()
