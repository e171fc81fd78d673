"""A dry run plans every row as the import would and writes nothing: no contact data, no lock."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.db import session_scope
from crm.importing.jobs import ImportOptions, create_import_job
from crm.importing.service import run_import
from crm.ingest import build_observation, ingest
from crm.models import ImportJob, ImportRowError, Organization
from crm.settings import get_settings
from tests.importing.conftest import counts, csv_text, import_text

HEADER = ["Client ID", "First Name", "Surname", "Email", "Mobile", "DOB", "Favourite colour"]
SUMMARY = ("rows", "created", "updated", "unchanged", "linked", "rejected")


def messy_rows() -> list[list[str]]:
    """Rows that create, link across batches, update, repeat, warn and get rejected."""
    rows: list[list[str]] = []
    for n in range(40):
        email = f"p{n % 13}@example.com" if n % 3 else "not-an-email"
        phone = f"04{n % 17:08d}" if n % 4 else "12"
        dob = "31/02/1990" if n % 7 == 0 else ("1980-05-0" + str(n % 9 + 1))
        external = f"X{n % 11}" if n % 5 else ""
        first = ("Paul", "Paula", "Ann", "Anna", "Robert", "Bob")[n % 6]
        rows.append([external, first, f"Family{n % 13}", email, phone, dob, "blue"])
    rows.append(["", "", "", "", "", "", "green"])  # nothing to identify: rejected
    rows.append(["X3", "Ann", "Later", "p3@example.com", "", "", ""])  # X3 once more, changed
    rows.append(rows[5])  # a row repeated as it was
    return rows


@pytest.fixture
def small_batches(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("CRM_IMPORT_BATCH_SIZE", "4")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def row_errors(engine, job: ImportJob) -> list[tuple]:
    with Session(engine) as s:
        found = s.exec(
            select(ImportRowError).where(ImportRowError.import_job_id == job.id)
        ).scalars()
        return sorted((e.line, e.column, e.code, e.message, e.rejected) for e in found)


def summary(job: ImportJob) -> tuple:
    return (job.status, *(getattr(job, name) for name in SUMMARY))


class TestDryRunReportsWhatTheImportDoes:
    def test_a_messy_file_dry_run_then_imported_reports_the_same(self, engine, org, small_batches):
        # given: a messy file of many small batches, and an organization that knows some rows
        import_text(engine, org, csv_text(HEADER, messy_rows()[:6]))
        text = csv_text(HEADER, messy_rows())
        before = counts(engine)
        # when: a dry run, then the import of the same file
        dry = import_text(engine, org, text, dry_run=True)
        after_dry_run = counts(engine)
        real = import_text(engine, org, text)
        # then: the dry run wrote no contact data and said what the import then did
        assert after_dry_run == before
        assert summary(dry) == summary(real)
        assert row_errors(engine, dry) == row_errors(engine, real)
        assert dry.created > 0 and dry.linked > 0 and dry.rejected > 0

    def test_a_dry_run_of_a_new_organization_writes_no_contact_data(
        self, engine, org, small_batches
    ):
        # given
        before = counts(engine)
        # when
        job = import_text(engine, org, csv_text(HEADER, messy_rows()), dry_run=True)
        # then: only the job and its row errors are recorded
        assert job.status == "succeeded"
        assert counts(engine) == before
        assert row_errors(engine, job)


class TestDryRunLocksNothing:
    def test_another_writer_goes_through_while_a_dry_run_is_under_way(
        self, engine, org, small_batches
    ):
        # given: a client list imported, then a dry run of a changed list stopped after its
        # first batch (its progress callback), and another writer changing a client of that
        # first batch
        rows = messy_rows()
        import_text(engine, org, csv_text(HEADER, rows[:4]))
        rows[1] = [*rows[1][:2], "Changed", *rows[1][3:]]
        data = csv_text(HEADER, rows).encode()
        with Session(engine, expire_on_commit=False) as s:
            job = create_import_job(
                s,
                organization=org,
                options=ImportOptions(dry_run=True),
                total_bytes=len(data),
                actor="test",
            )
            s.commit()

        def write() -> None:
            with session_scope(engine) as s:
                organization = s.get(Organization, org.id)
                record = {"external_id": "X1", "first_name": "Paula", "last_name": "Writer"}
                obs = build_observation(record, source="csv", region="AU")
                ingest(s, organization=organization, observations=[obs])
            written.append(True)

        written: list[bool] = []
        went_through: list[bool] = []
        writers: list[threading.Thread] = []

        def progress(_job: ImportJob) -> None:
            if writers:
                return
            writers.append(threading.Thread(target=write, daemon=True))
            writers[0].start()
            writers[0].join(5)
            went_through.append(bool(written))

        # when
        done = run_import(engine=engine, job_id=job.id, stream=io.BytesIO(data), progress=progress)
        writers[0].join(60)
        # then: the writer did not wait for the dry run, which went on to the end
        assert went_through == [True]
        assert done.status == "succeeded"
