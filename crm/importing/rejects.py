"""The rejects file: every rejected row as it was, with why, ready to fix and import again."""

from __future__ import annotations

import csv
from collections import defaultdict
from typing import IO

from sqlalchemy import select
from sqlmodel import Session

from crm.importing.columns import REJECT_COLUMNS
from crm.importing.export import neutralise
from crm.models import ImportJob, ImportRowError


def write_rejects(session: Session, *, job: ImportJob, out: IO[str]) -> int:
    """Write one line per rejected row (reasons joined); returns how many rows were written."""
    e = ImportRowError
    rows = session.exec(
        select(e).where(e.import_job_id == job.id, e.rejected.is_(True)).order_by(e.line, e.id)
    ).scalars()
    by_line: dict[int, list[ImportRowError]] = defaultdict(list)
    headers: dict[str, None] = {}
    for error in rows:
        by_line[error.line].append(error)
        headers.update(dict.fromkeys(error.row))
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*REJECT_COLUMNS, *headers])
    for line, errors in sorted(by_line.items()):
        original = errors[0].row
        writer.writerow(
            [
                str(line),
                "; ".join(e.column or "" for e in errors),
                "; ".join(e.code for e in errors),
                "; ".join(e.message for e in errors),
                *(neutralise(original.get(h, "")) for h in headers),
            ]
        )
    return len(by_line)
