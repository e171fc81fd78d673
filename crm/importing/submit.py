"""Submitting an import: the one place that decides whether it runs now or in the background,
and that takes back an interrupted import of the same file.

``importContacts``, ``crm import`` and the background jobs all come through here (the jobs
through ``run_submitted``). Nothing here knows how a background job is run: the caller passes
``enqueue``, which hands a job id to arq (``contacts.import``, with Redis) or to the app's own
``ImportRunner`` (without).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import IO

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.errors import ServiceError
from crm.importing.jobs import (
    ImportOptions,
    claim_interrupted,
    record_import_job,
    store_import_file,
    validate_options,
)
from crm.importing.preview import RowPreview
from crm.importing.service import run_import, run_stored_import
from crm.models import ImportFile, ImportJob, Organization

# hands a stored job to whatever runs background jobs, once it is committed: (job id, run key),
# the key unique to this run of the job (a resumed job runs again under a new key)
Enqueue = Callable[[uuid.UUID, str], None]

_CHUNK = 1024 * 1024


@dataclass(slots=True)
class Submitted:
    """What became of a submitted import."""

    job: ImportJob
    # True: stored and handed to ``enqueue``, the job comes back pending
    background: bool
    # True: the interrupted import of the same file was taken back and run again
    resumed: bool
    # why the file could not be imported at all (the job says failed)
    error: ServiceError | None = None


def content_hash(stream: IO[bytes]) -> str:
    """SHA-256 of a file: the same file imported again resumes its interrupted import."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def submit_import(
    engine: Engine,
    *,
    organization: Organization,
    options: ImportOptions,
    actor: str | None,
    allowed_sources: Sequence[str] | None = None,
    content: bytes | None = None,
    path: Path | None = None,
    enqueue: Enqueue | None = None,
    inline_max_bytes: int = 0,
    progress: Callable[[ImportJob], None] | None = None,
    preview: RowPreview | None = None,
) -> Submitted:
    """Record the import of ``content`` (or of the file at ``path``) and run it.

    It runs now, in this thread, when it is at most ``inline_max_bytes`` or when there is no
    background runner (``enqueue`` None); else the file is stored and the job handed to
    ``enqueue``, and it comes back pending. An interrupted import of the same file (same
    content, organization and options) is taken back rather than started again. Blocking:
    call it from a worker thread in async code. Bad options raise ``ServiceError``; a file
    that cannot be read is the ``error`` of a failed job. ``allowed_sources``: the names the
    calling API key may write as (None: the operator's ``crm import``). ``preview``: filled
    with what became of the first rows (an import run now only).
    """
    if (content is None) == (path is None):
        raise ValueError("give exactly one of content or path")
    validate_options(options, organization=organization, allowed_sources=allowed_sources)
    digest: str | None = None
    if content is not None:
        size, digest = len(content), content_hash(io.BytesIO(content))
    else:
        assert path is not None
        stat = path.stat()
        size = stat.st_size
        if S_ISREG(stat.st_mode):  # a pipe is read once: imported, never hashed first
            with path.open("rb") as stream:
                digest = content_hash(stream)
    background = enqueue is not None and content is not None and size > inline_max_bytes
    with Session(engine, expire_on_commit=False) as session:
        job = None
        if not options.dry_run and digest is not None:
            job = claim_interrupted(
                session, organization=organization, options=options, content_hash=digest
            )
        resumed = job is not None
        if job is None:
            # the options were validated above, before the interrupted job was looked for
            job = record_import_job(
                session,
                organization=organization,
                options=options,
                total_bytes=size,
                actor=actor,
                content_hash=digest,
            )
        if background:
            assert content is not None
            session.execute(delete(ImportFile).where(ImportFile.import_job_id == job.id))
            store_import_file(session, job=job, content=content)
        session.commit()
    if background:
        assert enqueue is not None
        enqueue(job.id, f"{job.id}:{uuid.uuid4().hex[:12]}" if resumed else str(job.id))
        return Submitted(job, background=True, resumed=resumed)
    error = None
    try:
        if content is not None:
            job = run_import(
                engine=engine,
                job_id=job.id,
                stream=io.BytesIO(content),
                progress=progress,
                preview=preview,
            )
        else:
            assert path is not None
            with path.open("rb") as stream:
                job = run_import(
                    engine=engine, job_id=job.id, stream=stream, progress=progress, preview=preview
                )
    except ServiceError as exc:
        error = exc
        with Session(engine, expire_on_commit=False) as session:
            job = session.get(ImportJob, job.id) or job
    return Submitted(job, background=False, resumed=resumed, error=error)


def run_submitted(engine: Engine, job_id: uuid.UUID) -> ImportJob:
    """Run a job ``submit_import`` stored for the background (arq or the app's runner)."""
    return run_stored_import(engine=engine, job_id=job_id)
