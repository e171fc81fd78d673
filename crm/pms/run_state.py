"""A sync run's state between its pages, and the commit that stores a page with its cursor."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from crm.models import PmsConnection, PmsSyncRun, utcnow

MAX_DETAILS = 100


class RunState:
    """The state of a run between its pages."""

    def __init__(self, run: PmsSyncRun) -> None:
        self.run = run
        self.failures: list[dict[str, Any]] = list(run.details.get("failures", []))

    def fail(self, *, stream: str, pms_id: str | None, code: str, message: str) -> None:
        if stream.endswith("appointments"):
            self.run.appointments_failed += 1
        else:
            self.run.patients_failed += 1
        if len(self.failures) < MAX_DETAILS:
            self.failures.append(
                {"stream": stream, "pmsId": pms_id, "code": code, "message": message[:300]}
            )

    def save(self, session: Session) -> None:
        self.run.details = {**self.run.details, "failures": list(self.failures)}
        self.run.heartbeat_at = utcnow()
        session.add(self.run)


def commit_page(
    session: Session,
    *,
    state: RunState,
    connection: PmsConnection,
    cursor_updates: dict[str, Any],
) -> None:
    """Store the run's counts and the streams' new cursors with the page, and commit."""
    if cursor_updates:
        table = PmsConnection.__table__
        current = session.execute(
            sa.select(table.c.cursors).where(table.c.id == connection.id)
        ).scalar_one()
        cursors = {**(current or {}), **cursor_updates}
        session.execute(table.update().where(table.c.id == connection.id).values(cursors=cursors))
        connection.cursors = cursors
    state.save(session)
    session.commit()
