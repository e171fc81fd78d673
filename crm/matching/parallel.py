"""Scoring candidate pairs in several processes (``CRM_DEDUP_WORKERS``).

The records and the pair codes are built once in the parent; forked children inherit them
(copy-on-write), each scores slices of the codes and sends back only the pairs at or above
the review threshold, which are few. Fork is needed (the inherited state is not picklable
cheaply), so this is for POSIX; elsewhere the matcher scores in-process.
"""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from crm.matching.matcher import Matcher, PairResult

_SLICES_PER_WORKER = 8
_state: dict[str, object] = {}


def _score_slice(bounds: tuple[int, int]) -> tuple[list[PairResult], int, int]:
    matcher: Matcher = _state["matcher"]  # type: ignore[assignment]
    codes: np.ndarray = _state["codes"]  # type: ignore[assignment]
    start, stop = bounds
    return matcher.score_codes(codes[start:stop])


def score_in_processes(
    matcher: Matcher, codes: np.ndarray, *, workers: int
) -> tuple[list[PairResult], int, int]:
    """``matcher.score_codes(codes)`` split over ``workers`` forked processes."""
    _state.update(matcher=matcher, codes=codes)
    try:
        step = max(1, -(-len(codes) // (workers * _SLICES_PER_WORKER)))
        bounds = [(start, min(start + step, len(codes))) for start in range(0, len(codes), step)]
        kept: list[PairResult] = []
        scored = errors = 0
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for pairs, n, failed in pool.imap(_score_slice, bounds):
                kept.extend(pairs)
                scored += n
                errors += failed
        return kept, scored, errors
    finally:
        _state.clear()
