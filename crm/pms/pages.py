"""A PMS stream's pages read ahead in a thread, and grouped into batches to store.

The sync stores a batch of pages (up to ``BATCH_RECORDS`` records of one stream) as one
ingestion batch and one commit, with the cursor of its last page: the pipeline's per-batch
cost (its lookups, its multi-row writes, the commit) is paid once per batch rather than per
page of 100, as the CSV import pays it once per 2,000 rows. A run that dies resumes from the
last committed batch's cursor: the pages of the batch it was storing are read again.

While a batch is stored, ``Prefetch`` reads the next pages from the PMS in a thread (its
waits on the network and the PMS overlap the database work), never more than ``ahead`` pages
beyond those the sync has taken, so memory stays bounded whatever the practice's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from crm.pms.adapters.base import Page

# records stored as one batch (one ingestion batch, one commit), the CSV import's batch size
BATCH_RECORDS = 2000
# pages read ahead of the ones taken: a batch's worth at 100 a page
PAGES_AHEAD = 20

_END = object()


@dataclass(slots=True)
class _Failed:
    error: BaseException


class Prefetch:
    """Iterate ``pages`` in a thread, at most ``ahead`` pages beyond the ones taken.

    ``prepare`` is called with each page on the thread, before the page is handed over.
    Use as a context manager: leaving it stops the thread (it ends after the page it is
    reading, if any) before the adapter is used again by anyone else. An error the
    iteration raises is raised to the consumer at its place in the sequence, after the pages
    before it."""

    def __init__(
        self,
        pages: Iterable[Page],
        *,
        ahead: int = PAGES_AHEAD,
        prepare: Callable[[Page], None] | None = None,
    ) -> None:
        self._pages = iter(pages)
        # work on each page done on the thread too (the pipeline's observations), so that it
        # overlaps the database's work on the batch before
        self._prepare = prepare
        self._queue: queue.Queue[object] = queue.Queue()
        self._slots = threading.Semaphore(max(1, ahead))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crm-pms-prefetch", daemon=True)

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while True:
                self._slots.acquire()
                if self._stop.is_set():
                    return
                try:
                    page = next(self._pages)
                except StopIteration:
                    self._queue.put(_END)
                    return
                if self._prepare is not None:
                    self._prepare(page)
                self._queue.put(page)
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(_Failed(exc))

    def __iter__(self) -> Iterator[Page]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            self._slots.release()
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._slots.release()
        if self._thread.is_alive():
            self._thread.join()
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()


def batches(pages: Iterable[Page], *, size: int = BATCH_RECORDS) -> Iterator[list[Page]]:
    """Consecutive pages of one stream, up to ``size`` records (and bad records) a batch.

    When reading the pages fails, the pages read before the failure are still yielded (to be
    stored and their cursor committed) before the error is raised."""
    pending: list[Page] = []
    count = 0
    try:
        for page in pages:
            if pending and page.stream != pending[0].stream:
                yield pending
                pending, count = [], 0
            pending.append(page)
            count += len(page.records) + len(page.bad)
            if count >= size:
                yield pending
                pending, count = [], 0
    except Exception:
        if pending:
            yield pending
        raise
    if pending:
        yield pending
