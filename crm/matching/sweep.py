"""The dedup sweep: find an organization's duplicates, merge the sure ones, queue the rest.

Full: every active contact against every other (through the blocks). Incremental: the
contacts changed since the last successful sweep started, against everyone. One sweep per
organization runs at a time (``runs``); a second started meanwhile returns ``skipped``.

Phases: read the contacts in chunks (keyset paging), block and score, write the review
candidates, then merge the auto-merge groups in batches through ``crm.merging`` (set-based, a
transaction per batch; on PostgreSQL in forked processes: ``sweep_merges``). On PostgreSQL
the records and key entries go to temporary tables and come back block by block, and the
auto-merge groups are merged from a table a slice at a time (``sweep_streamed``: memory flat
however large the organization and however many merges); on SQLite (the embedded, small
case) they are blocked and scored in memory (``sweep_memory``), chunked writes, no
transaction open for long. Both compare the same pairs. A failure on one pair or one group
is logged and counted and the sweep goes on.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.db import is_postgres, read_only, session_scope
from crm.errors import NotFound
from crm.logging import get_logger
from crm.matching import runs
from crm.matching.records import MatchRecord
from crm.matching.scoring import Thresholds
from crm.matching.sweep_memory import InMemorySweep
from crm.matching.sweep_merges import BatchMerger, MergeFailure, Pair, SweepMerges
from crm.matching.sweep_streamed import StreamedSweep
from crm.matching.training import DedupModel
from crm.matching.workers import Workers
from crm.merging.dismissals import dismissed_pairs
from crm.models import Organization

log = get_logger(__name__)

FULL = "full"
INCREMENTAL = "incremental"
MODES = (FULL, INCREMENTAL)
_HEARTBEAT_SECONDS = 60.0
# auto-merge groups per transaction (a handful of statements a batch)
_MERGE_BATCH = 500
# contacts from which the streamed sweep's scoring forks
_FORK_FROM = 20_000
# records in memory at once while grouping the streamed sweep's auto-merge pairs (50,000
# took the sweep process from 374 to 451 MB at 1,000,000 contacts)
_GROUPING_SLICE = 20_000


@dataclass(slots=True)
class SweepSummary:
    """What one sweep did (``skipped``: another sweep of the organization was running)."""

    organization_id: str
    mode: str
    run_id: str | None = None
    contacts: int = 0
    changed: int = 0
    pairs_scored: int = 0
    auto_merged: int = 0
    candidates: int = 0
    errors: int = 0
    seconds: float = 0.0
    skipped: bool = False
    blocks: dict[str, int] = field(default_factory=dict)
    # seconds per phase: load, train, match, queue, merge
    timings: dict[str, float] = field(default_factory=dict)
    # the organization's model as this sweep learned it: trained, pairs, match_probability
    model: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_sweep(
    engine: Engine,
    *,
    organization_id: uuid.UUID,
    mode: str = FULL,
    actor: str | None = None,
    workers: int = 1,
) -> SweepSummary:
    """Sweep the organization for duplicates now; a no-op when a sweep of it is running."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    started = time.perf_counter()
    with session_scope(engine) as session:
        organization = session.get(Organization, organization_id)
        if organization is None:
            raise NotFound("organization", field="organization")
        session.expunge(organization)
    summary = SweepSummary(organization_id=str(organization_id), mode=mode)
    since = runs.last_success(engine, organization_id=organization_id)
    if mode == INCREMENTAL and since is None:
        summary.mode = FULL  # nothing to be incremental to: the first sweep sees everyone
    run = runs.start_run(engine, organization_id=organization_id, mode=summary.mode, actor=actor)
    if run is None:
        summary.skipped = True
        summary.seconds = round(time.perf_counter() - started, 3)
        log.info("crm.dedup.skipped", organization_id=str(organization_id), reason="running")
        return summary
    summary.run_id = str(run.id)
    log.info("crm.dedup.started", organization_id=str(organization_id), mode=summary.mode)
    sweep = _Sweep(engine, organization, run, summary, actor=actor, workers=workers)
    try:
        sweep.run(since=since if summary.mode == INCREMENTAL else None)
    except BaseException as exc:
        summary.seconds = round(time.perf_counter() - started, 3)
        runs.finish_run(engine, run, status="failed", error=type(exc).__name__, **_counts(summary))
        log.error(
            "crm.dedup.failed", organization_id=str(organization_id), error=type(exc).__name__
        )
        raise
    summary.seconds = round(time.perf_counter() - started, 3)
    model = sweep.model.as_json() if sweep.model is not None else None
    if model is not None:
        model["thresholds"] = {
            "auto_merge_at": sweep.thresholds.auto_merge,
            "review_at": sweep.thresholds.review,
        }
    summary.model = (
        {k: model[k] for k in ("trained", "pairs", "match_probability")} if model else {}
    )
    runs.finish_run(engine, run, status="succeeded", model=model, **_counts(summary))
    log.info(
        "crm.dedup.finished",
        **{k: v for k, v in summary.as_dict().items() if k not in ("blocks", "timings", "model")},
        timings=summary.timings,
    )
    return summary


def _counts(summary: SweepSummary) -> dict[str, int]:
    return {
        "contacts": summary.contacts,
        "pairs_scored": summary.pairs_scored,
        "auto_merged": summary.auto_merged,
        "candidates": summary.candidates,
        "errors": summary.errors,
    }


class _Sweep(InMemorySweep, StreamedSweep, SweepMerges):
    """One sweep's state and phases: the path (``sweep_memory``, ``sweep_streamed``) and the
    merges (``sweep_merges``) come from the mixins."""

    def __init__(
        self,
        engine: Engine,
        organization: Organization,
        run: Any,
        summary: SweepSummary,
        *,
        actor: str | None,
        workers: int,
    ) -> None:
        self.engine = engine
        self.organization = organization
        self.org_id = organization.id
        self.run_row = run
        self.summary = summary
        self.actor = actor or "dedup.sweep"
        self.workers = workers
        self.thresholds = Thresholds.for_settings(organization.settings)
        self.model: DedupModel | None = None
        self.pool: Workers | None = None
        self.last_beat = time.monotonic()
        # the sizes the mixins work by, as this module sets them
        self.merge_batch = _MERGE_BATCH
        self.fork_from = _FORK_FROM
        self.grouping_slice = _GROUPING_SLICE

    def beat(self) -> None:
        if time.monotonic() - self.last_beat >= _HEARTBEAT_SECONDS:
            runs.heartbeat(self.engine, self.run_row)
            self.last_beat = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.summary.timings[phase] = round(now - self.clock, 3)
        self.clock = now

    def run(self, *, since: Any) -> None:
        self.clock = time.perf_counter()
        ok = False
        try:
            if is_postgres(self.engine):
                self.run_streamed(since=since)
            else:
                self.run_in_memory(since=since)
            ok = True
        finally:
            if self.pool is not None:
                self.pool.close(ok=ok)

    def worker_pool(self) -> Workers:
        """The sweep's worker processes (``workers``), forked on first use: the streamed
        sweep of a large organization asks as it starts, while this process is small."""
        if self.pool is None:
            self.pool = Workers(
                self.workers,
                merger=BatchMerger(self.organization, self.actor),
                url=self.engine.url.render_as_string(hide_password=False),
            )
        return self.pool

    def dismissed_pairs(self) -> set[Pair]:
        """Never proposed nor merged: each dismissed pair, through merge chains too."""
        with Session(read_only(self.engine)) as session:
            return dismissed_pairs(session, organization_id=self.org_id)

    # errors --------------------------------------------------------------------------------

    def compare_failed(self, a: MatchRecord, b: MatchRecord, exc: Exception) -> None:
        log.warning(
            "crm.dedup.compare_failed",
            organization_id=str(self.org_id),
            contact_a=str(a.id),
            contact_b=str(b.id),
            error=type(exc).__name__,
        )

    def item_failed(self, what: str, a: Any, b: Any, exc: Exception) -> None:
        self.summary.errors += 1
        log.warning(
            f"crm.dedup.{what}_failed",
            organization_id=str(self.org_id),
            contact_a=str(a),
            contact_b=str(b),
            error=exc.name if isinstance(exc, MergeFailure) else type(exc).__name__,
            detail=getattr(exc, "code", None) and str(getattr(exc, "code", "")),
        )
