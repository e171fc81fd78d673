"""The streamed sweep's worker processes: they score the blocks, then merge the groups.

Forked from the sweep process as it starts, before it loads anything: a process forked later
shares, and counts in its resident size, all that loading and training leave behind in the
sweep process (~300 MB at 100,000 contacts), though it needs none of it. What a worker needs
later is sent to it: the scorer once trained (``Workers.use_scorer``: a copy a process on a
queue, each takes one with its first batch) and the merge settings (known at the start).
Fork is needed (POSIX), as before.
"""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.matching.stream import BlockScorer
    from crm.matching.sweep_merges import BatchMerger

# a worker's state: ``scorers`` (the queue its scorer comes on), ``scorer`` once taken,
# ``merger`` and ``url`` (its merges' settings), ``engine`` once it merges
state: dict[str, Any] = {}


def _start(scorers: Any, merger: BatchMerger | None, url: str) -> None:
    state.update(scorers=scorers, merger=merger, url=url)


class Workers:
    """``processes`` worker processes, forked now (``pool``: a multiprocessing pool)."""

    def __init__(self, processes: int, *, merger: BatchMerger | None = None, url: str = "") -> None:
        context = multiprocessing.get_context("fork")
        self.processes = processes
        self._scorers = context.Queue()
        # a copy no worker took (fewer batches than workers) must not hold up the end
        self._scorers.cancel_join_thread()
        self.pool = context.Pool(
            processes, initializer=_start, initargs=(self._scorers, merger, url)
        )

    def use_scorer(self, scorer: BlockScorer) -> None:
        """Score with this from now on (each process takes a copy with its first batch)."""
        for _ in range(self.processes):
            self._scorers.put(scorer)

    def close(self, *, ok: bool) -> None:
        """Let the processes finish and exit (closing their connections), or stop them."""
        if ok:
            self.pool.close()
        else:
            self.pool.terminate()
        self.pool.join()
        self._scorers.close()


def scorer() -> BlockScorer:
    """In a worker: the scorer ``use_scorer`` sent (taken with the first batch)."""
    found = state.get("scorer")
    if found is None:
        found = state["scorer"] = state["scorers"].get()
    return found
