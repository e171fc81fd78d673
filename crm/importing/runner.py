"""The app's own background imports, when there is no Redis to hand them to arq.

Each import runs in a child process of its own (``spawn``: a fresh interpreter, never a fork
of the API process with its threads, event loop and connection pools), so its Python work
does not share the API process's GIL with the requests it serves. A few slots owned by the
app, started and stopped with its lifespan: a slot is a thread that starts one child at a
time and waits for it to end; jobs beyond the slots wait their turn. The child builds its own
engine from the URL of the app's engine and runs ``run_submitted``.

Nothing survives the app: stopping it ends the children it was running, and a job queued or
running then stays as it was; a running one is reported ``interrupted`` (its heartbeat
stops), and importing the same file again resumes it. A child also ends when its parent
does not exist any more.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import uuid

import structlog
from sqlalchemy.engine import Engine

log = structlog.get_logger(__name__)

_STOP = None
# how often a child checks that the API process that started it still exists
_PARENT_CHECK_SECONDS = 1.0


class ImportRunner:
    """Runs stored import jobs (``submit``) in child processes, ``processes`` at a time."""

    def __init__(self, engine: Engine, *, processes: int = 1) -> None:
        self.engine = engine
        self.processes = processes
        self._url = engine.url.render_as_string(hide_password=False)
        self._context = multiprocessing.get_context("spawn")
        self._queue: queue.Queue[uuid.UUID | None] = queue.Queue()
        self._slots: list[threading.Thread] = []
        self._children: dict[int, multiprocessing.process.BaseProcess] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def running(self) -> bool:
        return not self._stopping.is_set() and any(slot.is_alive() for slot in self._slots)

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._queue = queue.Queue()
        self._slots = [
            threading.Thread(target=self._slot, args=(n,), name=f"crm-import-runner-{n}")
            for n in range(self.processes)
        ]
        for slot in self._slots:
            slot.daemon = True
            slot.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Take no more jobs and end the imports running (each job is then interrupted, and
        resumed by importing the same file again)."""
        self._stopping.set()
        for _ in self._slots:
            self._queue.put(_STOP)
        with self._lock:
            children = list(self._children.values())
        for child in children:
            if child.is_alive():
                child.terminate()
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            slot.join(max(0.0, deadline - time.monotonic()))
        self._slots = []

    def submit(self, job_id: uuid.UUID, _run_key: str = "") -> None:
        if not self.running:
            raise RuntimeError("the import runner is not running")
        self._queue.put(job_id)

    def _slot(self, n: int) -> None:
        while (job_id := self._queue.get()) is not _STOP:
            if self._stopping.is_set():
                break
            try:
                self._run(n, job_id)
            except Exception:  # the runner goes on with the next job
                log.exception("crm.import.runner.failed", job_id=str(job_id))

    def _run(self, n: int, job_id: uuid.UUID) -> None:
        child = self._context.Process(
            target=run_in_child,
            args=(self._url, str(job_id), os.getpid()),
            name=f"crm-import-{n}",
            daemon=True,
        )
        with self._lock:
            if self._stopping.is_set():
                return
            child.start()
            self._children[n] = child
        log.info("crm.import.runner.started", job_id=str(job_id), pid=child.pid)
        try:
            child.join()  # waits on the child's sentinel: no GIL held meanwhile
        finally:
            with self._lock:
                self._children.pop(n, None)
        if child.exitcode == 0:
            log.info("crm.import.runner.done", job_id=str(job_id), pid=child.pid)
        else:  # failures are recorded on the job by run_import; a killed child: interrupted
            log.warning(
                "crm.import.runner.ended",
                job_id=str(job_id),
                pid=child.pid,
                exitcode=child.exitcode,
            )
        child.close()


def run_in_child(url: str, job_id: str, parent_pid: int) -> None:
    """A child process's work: the stored job ``job_id`` on an engine of its own for ``url``."""
    from crm.db import make_engine
    from crm.importing.submit import run_submitted
    from crm.logging import configure_logging

    configure_logging()
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    engine = make_engine(url)
    try:
        job = run_submitted(engine, uuid.UUID(job_id))
        log.info("crm.import.runner.child.done", job_id=job_id, status=job.status)
    except Exception:  # recorded on the job by run_import
        log.exception("crm.import.runner.child.failed", job_id=job_id)
        raise SystemExit(1) from None
    finally:
        engine.dispose()


def _exit_with_parent(parent_pid: int) -> None:
    # the API process was killed: end the import with it (its job is then interrupted)
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(1)
