"""One sync of one PMS connection: patients through the one ingestion pipeline, then the
appointments of the window, each page committed with its stream's cursor.

A page is stored and its cursor moved in one transaction, so a run that dies resumes where
its last committed page left off: nothing skipped, nothing stored twice (a page read again
is a no-op, its content unchanged). A record that cannot be read or stored is counted and
reported in the run's details and the run goes on (``partial``). The PMS failing (refused
credentials, an outage past the retries) ends the run ``failed`` with its error; the next run
starts from the committed cursors and catches up.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from crm.errors import ErrorCode, ServiceError
from crm.importing.rows import fewer_gc_passes
from crm.models import Organization, PmsConnection, PmsSyncRun, utcnow
from crm.pms import appointments as appointment_sync
from crm.pms import patients as patient_sync
from crm.pms.adapters.base import PmsAdapter
from crm.pms.connections import adapter_for, get_connection
from crm.pms.run_state import RunState
from crm.settings import Settings, get_settings
from crm.webhooks.outbound.outbox import emit as emit_webhook

log = structlog.get_logger(__name__)

MAX_BACKOFF_MINUTES = 60


class SyncRunning(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.SYNC_RUNNING,
            "a sync of this connection is already running",
            field="connectionId",
        )


def backoff_minutes(failures: int) -> int:
    """1, 2, 4... 60 minutes after the 1st, 2nd, 3rd... failed run in a row."""
    return min(MAX_BACKOFF_MINUTES, 2 ** max(0, failures - 1))


def start_run(
    session: Session,
    *,
    organization_id: uuid.UUID,
    connection_id: Any,
    full: bool = False,
    settings: Settings | None = None,
) -> PmsSyncRun:
    """A new ``running`` run of the connection (flushed); a stale running run is marked
    failed first. ``SyncRunning`` when a live one holds the connection."""
    settings = settings or get_settings()
    connection = get_connection(
        session, organization_id=organization_id, connection_id=connection_id
    )
    running = session.exec(
        select(PmsSyncRun).where(
            PmsSyncRun.connection_id == connection.id, PmsSyncRun.status == "running"
        )
    ).first()
    if running is not None:
        limit = timedelta(seconds=settings.pms_sync_heartbeat_limit_seconds)
        if running.heartbeat_at > utcnow() - limit:
            raise SyncRunning()
        running.status = "failed"
        running.completed_at = utcnow()
        running.error = "interrupted: its process stopped; the next run resumes from its cursor"
        session.add(running)
        session.flush()
    run = PmsSyncRun(
        organization_id=organization_id,
        connection_id=connection.id,
        # a connection's first run reads everything: a full sync, whatever was asked
        kind="full" if full or not connection.cursors else "incremental",
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        raise SyncRunning() from None
    return run


def sync_connection(
    engine: Engine,
    *,
    organization_id: uuid.UUID,
    connection_id: Any,
    full: bool = False,
    run_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    adapter_factory: Callable[[PmsConnection, Organization], PmsAdapter] | None = None,
) -> PmsSyncRun:
    """Run a sync of the connection to its end and return the run (committed page by page).

    ``run_id``: a run ``start_run`` made already (the API starts it, a job finishes it)."""
    settings = settings or get_settings()
    with Session(engine, expire_on_commit=False) as session:
        if run_id is None:
            run = start_run(
                session,
                organization_id=organization_id,
                connection_id=connection_id,
                full=full,
                settings=settings,
            )
            session.commit()
        else:
            found = session.get(PmsSyncRun, run_id)
            if found is None or found.organization_id != organization_id:
                raise ServiceError(ErrorCode.NOT_FOUND, "sync run not found", field="runId")
            run = found
            if run.status != "running":
                return run
        state = RunState(run)
        organization = session.get(Organization, organization_id)
        connection = session.get(PmsConnection, run.connection_id)
        assert organization is not None and connection is not None
        log.info("crm.pms.sync.started", connection_id=str(connection.id), run_id=str(run.id))
        error: str | None = None
        adapter: PmsAdapter | None = None
        try:
            adapter = (adapter_factory or _default_adapter(settings))(connection, organization)
            _sync_streams(session, adapter, organization, connection, state, run, settings)
        except ServiceError as exc:
            session.rollback()
            error = f"{exc.message} [{exc.code.value}]"
        except Exception as exc:  # a bug: recorded on the run, never its message (may hold data)
            session.rollback()
            # no traceback: its locals would hold credentials and patients' data
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "crm.pms.sync.crashed",
                run_id=str(run.id),
                error=type(exc).__name__,
                at=f"{where.filename}:{where.lineno}",
            )
            error = f"internal error ({type(exc).__name__}); see the worker's log"
        finally:
            if adapter is not None:
                adapter.close()
        _finish(session, state=state, connection_id=run.connection_id, error=error)
        session.commit()
        log.info(
            "crm.pms.sync.finished",
            connection_id=str(run.connection_id),
            run_id=str(run.id),
            status=run.status,
            patients=run.patients_fetched,
            appointments=run.appointments_fetched,
        )
        return run


def _sync_streams(
    session: Session,
    adapter: PmsAdapter,
    organization: Organization,
    connection: PmsConnection,
    state: RunState,
    run: PmsSyncRun,
    settings: Settings,
) -> None:
    # a batch allocates like an import's: the cycle collector runs far less often meanwhile
    # (once per batch, ``gc.collect(1)``), as during a CSV import (``fewer_gc_passes``)
    with fewer_gc_passes():
        patient_sync.sync_patients(
            session,
            adapter=adapter,
            organization=organization,
            connection=connection,
            state=state,
            full=run.kind == "full",
        )
        appointment_sync.sync_appointments(
            session,
            adapter=adapter,
            connection=connection,
            state=state,
            full=run.kind == "full",
            settings=settings,
        )


def _default_adapter(settings: Settings) -> Callable[[PmsConnection, Organization], PmsAdapter]:
    def make(connection: PmsConnection, organization: Organization) -> PmsAdapter:
        return adapter_for(connection, region=organization.default_region, settings=settings)

    return make


def _finish(
    session: Session, *, state: RunState, connection_id: uuid.UUID, error: str | None
) -> None:
    run = session.get(PmsSyncRun, state.run.id)
    connection = session.get(PmsConnection, connection_id)
    assert run is not None and connection is not None
    # after a failed page was rolled back, ``run`` holds the counts of the committed pages
    state.run = run
    state.save(session)
    now = utcnow()
    failed = run.patients_failed + run.appointments_failed
    run.status = "failed" if error else ("partial" if failed else "success")
    run.error = error[:1000] if error else None
    run.completed_at = now
    connection.last_sync_at = now
    connection.last_sync_status = run.status
    connection.last_sync_error = run.error
    if error:
        # outbound webhooks, in this transaction (the error text names no person)
        emit_webhook(
            session,
            organization_id=run.organization_id,
            event_type="pms.sync.failed",
            items=[
                {"connectionId": str(connection.id), "syncRunId": str(run.id), "error": run.error}
            ],
        )
        connection.failure_count += 1
        connection.next_attempt_at = now + timedelta(
            minutes=backoff_minutes(connection.failure_count)
        )
    else:
        connection.failure_count = 0
        connection.next_attempt_at = None
    session.add(run)
    session.add(connection)
