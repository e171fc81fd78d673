"""PostgreSQL imports store each batch on a writer thread while the next one is read,
normalised and planned against it (``import_overlap``): the end state must be exactly that of
storing one batch at a time."""

from __future__ import annotations

import gc
import io
import weakref
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session

from crm.importing import importer
from crm.importing.export import export_contacts
from crm.ingest import pipeline
from crm.models import Contact, ContactEvent, ImportRowError, SourceRecord
from crm.settings import get_settings
from crm.tenancy.service import create_organization
from tests.importing.conftest import csv_text, import_text

HEADER = ["Client ID", "First Name", "Surname", "Email", "Mobile", "DOB", "Address"]


def people(start: int, stop: int, *, moved: bool = False) -> list[list[str]]:
    """Rows whose duplicates, households and bad values fall in other batches (of 40)."""
    rows = []
    for n in range(start, stop):
        street = f"{n % 50 + 1} {'New' if moved and n % 7 == 0 else 'Old'} St, Bondi NSW 2026"
        rows.append(
            [
                f"P{n}" if n % 3 else "",
                f"Given{n % 23}",
                f"Family{n}",
                f"person{n}@example.com" if n % 11 else "not-an-email",
                f"04{n:08d}" if n % 5 else "",
                f"{n % 28 + 1:02d}/03/19{50 + n % 40}",
                street,
            ]
        )
        if n % 17 == 0 and n >= 60:
            # an earlier person again, one batch or more back, written differently
            m = n - 45
            rows.append(["", f"GIVEN{m % 23}", f"family{m}", f"Person{m}@Example.com", "", "", ""])
        if n % 29 == 0 and n >= 60:
            # a household member of someone in an earlier batch: same phone and surname
            m = n - 50
            rows.append(["", f"Other{n}", f"Family{m}", "", f"04{m:08d}", "01/01/2001", ""])
    return rows


def state(engine, org) -> dict:
    """Everything an import leaves that does not depend on ids or clocks."""
    out = io.StringIO()
    with Session(engine) as s:
        export_contacts(s, organization_id=org.id, out=out)
        records = s.exec(
            select(SourceRecord.source_id, SourceRecord.version, SourceRecord.is_current).where(
                SourceRecord.organization_id == org.id
            )
        ).all()
        events = s.exec(
            select(ContactEvent.kind, func.count())
            .where(ContactEvent.organization_id == org.id)
            .group_by(ContactEvent.kind)
        ).all()
        errors = s.exec(
            select(ImportRowError.line, ImportRowError.column, ImportRowError.code).where(
                ImportRowError.organization_id == org.id
            )
        ).all()
        statuses = s.exec(
            select(Contact.status, func.count())
            .where(Contact.organization_id == org.id)
            .group_by(Contact.status)
        ).all()
    return {
        "contacts": sorted(line.split(",", 1)[1] for line in out.getvalue().splitlines()[1:]),
        "records": Counter(tuple(r) for r in records),
        "events": dict(events),
        "errors": Counter(tuple(e) for e in errors),
        "statuses": dict(statuses),
    }


def outcome(job) -> tuple:
    return (job.status, job.rows, job.created, job.updated, job.unchanged, job.linked)


@pytest.fixture
def small_batches(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("CRM_IMPORT_BATCH_SIZE", "40")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def overlap(monkeypatch, on: bool) -> None:
    monkeypatch.setenv("CRM_IMPORT_OVERLAP", "true" if on else "false")
    get_settings.cache_clear()


@pytest.fixture
def pg(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the writer thread is PostgreSQL's (SQLite stores one batch at a time)")
    return engine


def test_overlapped_and_one_at_a_time_imports_end_the_same(pg, monkeypatch, small_batches):
    # given: two organizations, the same messy file (batches of 40) and then a changed one
    with Session(pg, expire_on_commit=False) as s:
        overlapped = create_organization(s, name="Overlapped", region="AU")
        serial = create_organization(s, name="Serial", region="AU")
        s.commit()
    first = csv_text(HEADER, people(0, 400))
    second = csv_text(HEADER, people(200, 500, moved=True))
    jobs = {}
    # when
    for org, on in ((overlapped, True), (serial, False)):
        overlap(monkeypatch, on)
        jobs[org.name] = [import_text(pg, org, text) for text in (first, second, second)]
    # then
    for a, b in zip(jobs["Overlapped"], jobs["Serial"], strict=True):
        assert outcome(a) == outcome(b)
    assert jobs["Overlapped"][0].linked > 0  # duplicates across batches were found
    assert jobs["Overlapped"][1].updated > 0  # and the second file changed people
    assert outcome(jobs["Overlapped"][2])[2:4] == (0, 0)  # the re-import is a no-op
    assert state(pg, overlapped) == state(pg, serial)


def test_batch_that_loses_a_race_is_stored_again(pg, org, monkeypatch, small_batches):
    # given: while the first batch's writes are on their way, another writer commits a
    # contact holding one of its phone numbers
    overlap(monkeypatch, True)
    send = pipeline.PlannedWrites.send
    raced: list[str] = []

    def send_after_a_rival(self) -> None:
        if not raced:
            raced.append("rival")
            import_text(pg, org, csv_text(HEADER, [["", "Given1", "Family1", "", "0400000001"]]))
        send(self)

    monkeypatch.setattr(pipeline.PlannedWrites, "send", send_after_a_rival)
    # when
    job = import_text(pg, org, csv_text(HEADER, people(0, 50)))
    # then: the batch was planned again and the row joined the rival's contact
    assert raced == ["rival"]
    assert job.status == "succeeded"
    assert (job.rows, job.created, job.linked) == (50, 49, 1)
    with Session(pg) as s:
        holders = s.exec(
            select(func.count())
            .select_from(Contact)
            .where(Contact.organization_id == org.id, Contact.last_name == "Family1")
        ).one()[0]
    assert holders == 1


def estimated_rows(engine) -> dict[str, float]:
    with Session(engine) as s:
        return {
            table: s.exec(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                params={"t": table},
            ).one()[0]
            for table in ("contacts", "source_records")
        }


def test_the_writer_keeps_the_lookup_tables_analysed(pg, org, monkeypatch, small_batches):
    # given: empty tables, analysed so; statistics due every 50 rows written, batches of 40
    overlap(monkeypatch, True)
    monkeypatch.setattr(importer, "ANALYZE_MIN_ROWS", 50)
    # (analysed empty: an earlier test's import on this database may have left statistics)
    with pg.begin() as conn:
        conn.exec_driver_sql("ANALYZE contacts, source_records")
    assert all(rows < 1 for rows in estimated_rows(pg).values())
    # when: 322 rows
    job = import_text(pg, org, csv_text(HEADER, people(0, 300)))
    # then: analysed while the import ran, the last time after more than half of it
    assert job.status == "succeeded"
    assert all(rows >= 150 for rows in estimated_rows(pg).values())


def test_a_planned_batch_does_not_keep_the_one_before(pg, org, monkeypatch, small_batches):
    # each batch is planned against the one before; holding on to it would chain every
    # batch of the file in memory
    overlap(monkeypatch, True)
    planned: list[weakref.ref] = []
    alive: list[int] = []
    plan_batch = pipeline.plan_batch

    def keep(*args, **kwargs):
        outcomes, writes = plan_batch(*args, **kwargs)
        gc.collect()
        alive.append(sum(ref() is not None for ref in planned))
        planned.append(weakref.ref(writes))
        return outcomes, writes

    monkeypatch.setattr(importer, "plan_batch", keep)
    import_text(pg, org, csv_text(HEADER, people(0, 200)))
    assert len(planned) >= 5
    # at most the batch in flight and the one planned before it are still held
    assert max(alive) <= 2
