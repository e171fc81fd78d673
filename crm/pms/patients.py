"""Patients of a PMS into contacts, through the one ingestion pipeline.

Source system = the PMS (``cliniko``), source id = its patient id, and the patient id an
exclusive identifier (``CLINIKO``). PMS facts that are not contact fields (status,
archived/deleted times, marketing consent, every phone number with its type) are kept in the
source record's metadata under the PMS's name, which the contact shows. An archived or
deleted patient marks its source record so; nothing is deleted. A patient the PMS merged into
another merges the two contacts here too (reversibly, ``unmergeContact``).
"""

from __future__ import annotations

import gc
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import Session

from crm.db import analyze, estimated_rows, in_values
from crm.errors import ServiceError
from crm.identity import Channel, namespace_for
from crm.importing.rows import _LOOKUP_TABLES as LOOKUP_TABLES
from crm.importing.rows import ANALYZE_MIN_ROWS
from crm.ingest import CREATED, LINKED, REJECTED, UNCHANGED, UPDATED, Rejected, ingest
from crm.ingest.observation import Observation, build_observation
from crm.merging.merge import merge
from crm.models import Contact, ContactIdentifier, Organization, PmsConnection, SourceRecord
from crm.pms import pages as paging
from crm.pms.adapters.base import DELETED, Page, PatientRecord, PmsAdapter
from crm.pms.overlap import OverlappedWriter
from crm.pms.pages import Prefetch, batches
from crm.pms.run_state import RunState, commit_page

log = structlog.get_logger(__name__)

PENDING_MERGES = "pending_merges"


def actor_for(connection: PmsConnection) -> str:
    return f"pms:{connection.id}"


def sync_patients(
    session: Session,
    *,
    adapter: PmsAdapter,
    organization: Organization,
    connection: PmsConnection,
    state: RunState,
    full: bool,
    batch_records: int | None = None,
) -> None:
    """Every page of changed patients, stored a batch of pages at a time (read ahead in a
    thread meanwhile), each batch committed with its stream's cursor (its last page's); on
    PostgreSQL a batch's writes go on a writer thread while the next is planned
    (``crm.pms.overlap``)."""
    cursors = dict(connection.cursors or {})
    stats = Statistics(session)

    def prepare(page: Page) -> None:
        page.prepared = prepare_observations(
            page.records, source=adapter.source, channel=adapter.channel, organization=organization
        )

    def store_serially(pages: list[Page]) -> None:
        stream, records, prepared = count_pages(state, pages)
        stats.keep(session, written=state.run.patients_created + state.run.patients_linked)
        store_batch(
            session,
            adapter=adapter,
            organization=organization,
            connection=connection,
            state=state,
            stream=stream,
            records=records,
            prepared=prepared,
            cursor=pages[-1].cursor,
        )

    overlapped = OverlappedWriter(
        session,
        adapter=adapter,
        organization=organization,
        connection=connection,
        state=state,
        store_serially=store_serially,
        statistics=stats,
    )
    with (
        overlapped,
        Prefetch(adapter.patient_pages(cursors, full=full), prepare=prepare) as pages,
    ):
        for batch in batches(pages, size=batch_records or paging.BATCH_RECORDS):
            if overlapped.enabled:
                overlapped.store(batch)
            else:
                store_serially(batch)
            gc.collect(1)  # what the batch left in reference cycles (``fewer_gc_passes``)


def count_pages(
    state: RunState, pages: list[Page]
) -> tuple[str, list[PatientRecord], list[Observation | Rejected | None]]:
    """A batch's pages counted (fetched, bad records): its stream, records and what was
    prepared of them."""
    stream = pages[0].stream
    run = state.run
    records: list[PatientRecord] = []
    prepared: list[Observation | Rejected | None] = []
    for page in pages:
        run.patients_fetched += len(page.records) + len(page.bad)
        for bad in page.bad:
            state.fail(stream=stream, pms_id=bad.pms_id, code=bad.code, message=bad.message)
        records.extend(page.records)
        prepared.extend(page.prepared or [None] * len(page.records))
    return stream, records, prepared


def store_batch(
    session: Session,
    *,
    adapter: PmsAdapter,
    organization: Organization,
    connection: PmsConnection,
    state: RunState,
    stream: str,
    records: list[PatientRecord],
    prepared: list[Observation | Rejected | None] | None,
    cursor: str | None,
) -> None:
    """One batch stored on ``session``, its merges applied, committed with its cursor."""
    merges = store_patients(
        session,
        adapter=adapter,
        organization=organization,
        connection=connection,
        state=state,
        stream=stream,
        records=records,
        prepared=prepared,
    )
    pending = list((connection.cursors or {}).get(PENDING_MERGES, [])) + merges
    pending = apply_merges(
        session,
        organization=organization,
        connection=connection,
        state=state,
        pairs=pending,
    )
    updates: dict[str, Any] = {PENDING_MERGES: pending}
    if cursor is not None:
        updates[stream] = cursor
    commit_page(session, state=state, connection=connection, cursor_updates=updates)


class Statistics:
    """The planner's statistics of the lookup tables kept fresh while a first sync fills
    them, as the CSV import does (``Importer._statistics_due``): ``ANALYZE`` each time the
    sync has about doubled them (PostgreSQL otherwise keeps scanning tables it saw empty)."""

    def __init__(self, session: Session) -> None:
        self.size = max(estimated_rows(session, SourceRecord.__table__), ANALYZE_MIN_ROWS)
        self.written_at = 0

    def keep(self, session: Session, *, written: int) -> None:
        if self.due(written=written):
            analyze(session, LOOKUP_TABLES)

    def due(self, *, written: int) -> bool:
        """Whether to analyse now, ``written`` rows in (counted as analysed from here)."""
        if written - self.written_at < self.size:
            return False
        self.size += written - self.written_at
        self.written_at = written
        return True


def store_patients(
    session: Session,
    *,
    adapter: PmsAdapter,
    organization: Organization,
    connection: PmsConnection,
    state: RunState,
    stream: str,
    records: list[PatientRecord],
    prepared: list[Observation | Rejected | None] | None = None,
) -> list[list[str]]:
    """Ingest one batch; the ``[merged id, into id]`` pairs it names. ``prepared``: each
    record's observation (or why it has none) when already made (``prepare_observations``);
    None for a record to observe here."""
    observations = observations_of(
        session,
        adapter=adapter,
        organization=organization,
        state=state,
        stream=stream,
        records=records,
        prepared=prepared,
    )
    outcomes = _ingest_page(session, organization, connection, state, stream, observations)
    count_outcomes(state, stream, outcomes)
    return merge_pairs(records)


def merge_pairs(records: list[PatientRecord]) -> list[list[str]]:
    return [[r.pms_id, r.merged_into] for r in records if r.merged_into]


def observations_of(
    session: Session,
    *,
    adapter: PmsAdapter,
    organization: Organization,
    state: RunState,
    stream: str,
    records: list[PatientRecord],
    prepared: list[Observation | Rejected | None] | None,
) -> list[Observation]:
    """The batch's observations; a record that identifies nobody is counted failed, a
    patient deleted before it was ever synced skipped."""
    run = state.run
    previous = _current_payloads(
        session,
        organization=organization,
        source=adapter.source,
        ids=[r.pms_id for r in records if r.status == DELETED],
    )
    observations: list[Observation] = []
    for i, record in enumerate(records):
        if record.status == DELETED and record.pms_id not in previous:
            run.patients_skipped += 1  # deleted before it was ever synced: nothing to mark
            continue
        try:
            made = prepared[i] if prepared is not None else None
            if isinstance(made, Rejected):
                raise made
            observations.append(
                made
                or observation_for(
                    record,
                    source=adapter.source,
                    channel=adapter.channel,
                    region=organization.default_region,
                    previous=previous.get(record.pms_id),
                )
            )
        except Rejected as exc:
            issue = exc.issues[-1]
            state.fail(stream=stream, pms_id=record.pms_id, code=issue.code, message=issue.message)
    return observations


def count_outcomes(state: RunState, stream: str, outcomes: list[tuple[Observation, Any]]) -> None:
    run = state.run
    for obs, outcome in outcomes:
        if outcome is None:
            continue
        if outcome.outcome == CREATED:
            run.patients_created += 1
        elif outcome.outcome == UPDATED:
            run.patients_updated += 1
        elif outcome.outcome == UNCHANGED:
            run.patients_unchanged += 1
        elif outcome.outcome == LINKED:
            run.patients_linked += 1
        elif outcome.outcome == REJECTED:
            issue = outcome.issues[-1] if outcome.issues else None
            state.fail(
                stream=stream,
                pms_id=obs.source_id,
                code=issue.code if issue else "REJECTED",
                message=issue.message if issue else "rejected",
            )


def _ingest_page(
    session: Session,
    organization: Organization,
    connection: PmsConnection,
    state: RunState,
    stream: str,
    observations: list[Observation],
) -> list[tuple[Observation, Any]]:
    """The batch through the pipeline in one go; when one record spoils it, the batch is
    halved until that record is alone (its failure counted) and the others are stored."""
    if not observations:
        return []
    actor = actor_for(connection)
    try:
        outcomes = ingest(
            session, organization=organization, observations=observations, actor=actor
        )
        return list(zip(observations, outcomes, strict=True))
    except Exception as exc:
        if len(observations) > 1:
            log.warning(
                "crm.pms.sync.batch_failed", error=type(exc).__name__, size=len(observations)
            )
            half = len(observations) // 2
            return _ingest_page(
                session, organization, connection, state, stream, observations[:half]
            ) + _ingest_page(session, organization, connection, state, stream, observations[half:])
        [obs] = observations
        if isinstance(exc, ServiceError):
            state.fail(
                stream=stream, pms_id=obs.source_id, code=exc.code.value, message=exc.message
            )
        else:
            state.fail(
                stream=stream,
                pms_id=obs.source_id,
                code="STORE_FAILED",
                message=f"could not be stored ({type(exc).__name__})",
            )
        return [(obs, None)]


def prepare_observations(
    records: list[PatientRecord], *, source: str, channel: Channel, organization: Organization
) -> list[Observation | Rejected | None]:
    """Each record's observation made ahead (on the prefetch thread), or the ``Rejected``
    it raised; None for a deleted patient, observed once its last payload is read."""
    made: list[Observation | Rejected | None] = []
    for record in records:
        if record.status == DELETED:
            made.append(None)
            continue
        try:
            made.append(
                observation_for(
                    record, source=source, channel=channel, region=organization.default_region
                )
            )
        except Rejected as exc:
            made.append(exc)
    return made


def observation_for(
    record: PatientRecord,
    *,
    source: str,
    channel: Channel,
    region: str | None,
    previous: dict[str, Any] | None = None,
) -> Observation:
    """The pipeline's observation of a patient; a deleted one repeats its last payload."""
    facts = {"status": record.status, **record.facts}
    if record.status == DELETED and previous is not None:
        raw = {k: v for k, v in previous.items() if k != "metadata"}
        old = dict((previous.get("metadata") or {}).get(source) or {})
        facts = {**old, **facts}
    else:
        raw = dict(record.fields)
    raw["metadata"] = {source: facts}
    extra: list[tuple[Channel, str]] = [(channel, record.pms_id)]
    phone = raw.get("phone")
    extra += [(Channel.PHONE, number) for _, number in record.phones if number != phone]
    return build_observation(
        raw,
        source=source,
        region=region,
        external_id=record.pms_id,
        source_id=record.pms_id,
        extra_keys=extra,
        observed_at=record.updated_at,
        external_key=False,
    )


def _current_payloads(
    session: Session, *, organization: Organization, source: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    table = SourceRecord.__table__
    rows = session.execute(
        sa.select(table.c.source_id, table.c.payload).where(
            table.c.organization_id == organization.id,
            table.c.source_system == source,
            table.c.is_current.is_(True),
            in_values(table.c.source_id, ids),
        )
    ).all()
    return {row.source_id: dict(row.payload or {}) for row in rows}


def contacts_by_pms_id(
    session: Session, *, organization_id: Any, channel: Channel, ids: list[str]
) -> dict[str, Any]:
    """PMS patient id -> the contact holding it (exclusive identifiers: one holder)."""
    if not ids:
        return {}
    table = ContactIdentifier.__table__
    rows = session.execute(
        sa.select(table.c.value, table.c.contact_id).where(
            table.c.organization_id == organization_id,
            table.c.namespace == namespace_for(channel),
            in_values(table.c.value, list(dict.fromkeys(ids))),
        )
    ).all()
    return {row.value: row.contact_id for row in rows}


def apply_merges(
    session: Session,
    *,
    organization: Organization,
    connection: PmsConnection,
    state: RunState,
    pairs: list[list[str]],
) -> list[list[str]]:
    """Merge the contact of each merged patient into the contact of the patient it went
    into; the pairs whose survivor is not synced yet, to try again later."""
    if not pairs:
        return []
    channel = Channel[connection.type]  # the PMS types are also the identifier channels
    holders = contacts_by_pms_id(
        session,
        organization_id=organization.id,
        channel=channel,
        ids=[x for pair in pairs for x in pair],
    )
    waiting: list[list[str]] = []
    for merged_id, into_id in pairs:
        source, target = holders.get(merged_id), holders.get(into_id)
        if target is None:
            if [merged_id, into_id] not in waiting and len(waiting) < 1000:
                waiting.append([merged_id, into_id])
            continue
        if source is None or source == target:
            continue  # never synced, or already one contact
        contacts = {
            c.id: c
            for c in session.execute(
                sa.select(Contact).where(in_values(Contact.id, [source, target]))
            ).scalars()
        }
        if any(c.status != "active" for c in contacts.values()) or len(contacts) != 2:
            continue
        try:
            with session.begin_nested():
                merge(
                    session,
                    organization=organization,
                    survivor_id=target,
                    merge_ids=[source],
                    actor=actor_for(connection),
                    reason="pms",
                )
            state.run.patients_merged += 1
        except ServiceError as exc:
            state.fail(
                stream="patients_merge", pms_id=merged_id, code=exc.code.value, message=exc.message
            )
    return waiting
