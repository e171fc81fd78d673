"""The app's own background imports, when there is no Redis to hand them to arq.

A few threads owned by the app, started and stopped with its lifespan; jobs beyond them wait
their turn. Nothing survives the process: a job queued or running when it ends stays as it
was, and a running one is then reported ``interrupted`` (its heartbeat stops); importing the
same file again resumes it.
"""

from __future__ import annotations

import queue
import threading
import uuid

import structlog
from sqlalchemy.engine import Engine

from crm.importing.submit import run_submitted

log = structlog.get_logger(__name__)

_STOP = None


class ImportRunner:
    """Runs stored import jobs on ``threads`` daemon threads (``submit``)."""

    def __init__(self, engine: Engine, *, threads: int = 1) -> None:
        self.engine = engine
        self.threads = threads
        self._queue: queue.Queue[uuid.UUID | None] = queue.Queue()
        self._workers: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(worker.is_alive() for worker in self._workers)

    def start(self) -> None:
        if self.running:
            return
        self._workers = [
            threading.Thread(target=self._work, name=f"crm-import-runner-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Take no more jobs; wait a little for those running (a daemon thread dies with the
        process, its job then reported interrupted)."""
        for _ in self._workers:
            self._queue.put(_STOP)
        for worker in self._workers:
            worker.join(timeout / max(1, len(self._workers)))
        self._workers = []

    def submit(self, job_id: uuid.UUID, _run_key: str = "") -> None:
        if not self.running:
            raise RuntimeError("the import runner is not running")
        self._queue.put(job_id)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not _STOP:
            try:
                job = run_submitted(self.engine, job_id)
                log.info("crm.import.runner.done", job_id=str(job_id), status=job.status)
            except Exception:  # recorded on the job by run_import; the runner goes on
                log.exception("crm.import.runner.failed", job_id=str(job_id))
