"""Importing through the pipeline: outcomes, rejects, idempotency, dry runs, export."""

from __future__ import annotations

import csv
import io
import multiprocessing

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.queries import contacts_by_identifier
from crm.importing.export import export_contacts
from crm.importing.jobs import ImportOptions, create_import_job
from crm.importing.rejects import write_rejects
from crm.importing.service import run_import
from crm.models import Contact, ImportRowError, SourceRecord
from crm.settings import get_settings
from crm.tenancy.service import create_organization
from tests.importing.conftest import counts, csv_text, import_text


def errors_of(engine, job):
    with Session(engine) as s:
        return list(
            s.exec(
                select(ImportRowError)
                .where(ImportRowError.import_job_id == job.id)
                .order_by(ImportRowError.line, ImportRowError.id)
            ).scalars()
        )


def active_contacts(engine, org):
    with Session(engine) as s:
        return list(
            s.exec(
                select(Contact).where(Contact.organization_id == org.id, Contact.status == "active")
            ).scalars()
        )


class TestOutcomes:
    def test_first_import_counts_every_outcome(self, engine, org, people_csv):
        # when
        job = import_text(engine, org, people_csv)
        # then: Mary shares John's email but is her own contact (household)
        assert job.status == "succeeded"
        assert (job.rows, job.created, job.linked, job.rejected) == (5, 4, 0, 1)
        with Session(engine) as s:
            holders = contacts_by_identifier(
                s, organization_id=org.id, channel="EMAIL", value="john@example.com", region="AU"
            )
        assert [c.first_name for c in holders] == ["John", "Mary"]

    def test_bad_value_beside_good_ones_is_dropped_and_reported(self, engine, org, people_csv):
        job = import_text(engine, org, people_csv)
        errors = errors_of(engine, job)
        dropped = [(e.line, e.column, e.code) for e in errors if not e.rejected]
        assert (4, "email", "INVALID_EMAIL") in dropped
        contact = next(c for c in active_contacts(engine, org) if c.first_name == "Bad")
        assert contact.email is None
        assert contact.phone == "+61400000003"

    def test_rejected_row_is_reported_with_line_column_code_and_original(
        self, engine, org, people_csv
    ):
        job = import_text(engine, org, people_csv)
        rejected = [e for e in errors_of(engine, job) if e.rejected]
        assert {(e.line, e.column, e.code) for e in rejected} == {
            (5, "email", "INVALID_EMAIL"),
            (5, "phone", "INVALID_PHONE"),
            (5, None, "NOTHING_TO_IDENTIFY"),
        }
        assert rejected[0].row["Client ID"] == "A4"

    def test_fields_are_normalised_and_notes_kept(self, engine, org, people_csv):
        import_text(engine, org, people_csv)
        john = next(c for c in active_contacts(engine, org) if c.first_name == "John")
        assert john.email == "john@example.com"
        assert john.phone == "+61412345678"
        assert john.date_of_birth.isoformat() == "1980-01-31"
        assert (john.address_line1, john.city, john.region, john.postal_code) == (
            "12 Smith St",
            "Bondi",
            "NSW",
            "2026",
        )
        assert john.attributes["notes"] == "likes mornings"

    def test_in_file_duplicates_collapse_to_one_contact(self, engine, org):
        text = csv_text(
            ["first_name", "last_name", "email", "phone"],
            [
                ["Ann", "Lee", "ann@example.com", "0412 000 111"],
                ["ANN", "LEE", "Ann@Example.com", "+61 412 000 111"],
                ["Ann", "Lee", "ann@example.com", "0412 000 111"],
            ],
        )
        job = import_text(engine, org, text)
        assert job.created == 1
        assert len(active_contacts(engine, org)) == 1

    def test_discrepancy_never_crashes_and_is_recorded(self, engine, org):
        # given: the same person (same external id) with a new address, then another source
        first = csv_text(["id", "name", "email", "city"], [["9", "Ann Lee", "a@x.io", "Perth"]])
        second = csv_text(["id", "name", "email", "city"], [["9", "Anne Lee", "a@x.io", "Darwin"]])
        import_text(engine, org, first)
        # when
        job = import_text(engine, org, second)
        # then: a new version of the source record; survivorship takes the newer csv value
        assert job.updated == 1
        (contact,) = active_contacts(engine, org)
        assert (contact.first_name, contact.city) == ("Anne", "Darwin")
        with Session(engine) as s:
            versions = s.exec(
                select(SourceRecord.version, SourceRecord.is_current, SourceRecord.payload)
                .where(SourceRecord.contact_id == contact.id)
                .order_by(SourceRecord.version)
            ).all()
        assert [(v, cur, p["city"]) for v, cur, p in versions] == [
            (1, False, "Perth"),
            (2, True, "Darwin"),
        ]


class TestIdempotency:
    def test_reimport_with_external_ids_changes_nothing(self, engine, org, people_csv):
        import_text(engine, org, people_csv)
        before = counts(engine)
        job = import_text(engine, org, people_csv)
        assert (job.created, job.updated, job.linked, job.unchanged) == (0, 0, 0, 4)
        assert counts(engine) == before

    def test_reimport_without_external_ids_changes_nothing(self, engine, org):
        text = csv_text(
            ["First Name", "Surname", "Mobile"],
            [["Ann", "Lee", "0412 000 111"], ["Bob", "Lee", "0412 000 222"]],
        )
        import_text(engine, org, text)
        before = counts(engine)
        job = import_text(engine, org, text)
        assert (job.created, job.updated, job.linked, job.unchanged) == (0, 0, 0, 2)
        assert counts(engine) == before

    def test_one_record_spelled_two_ways_in_a_file_reimports_unchanged(self, engine, org):
        # given: the same Client ID twice, the second time in other formats
        text = csv_text(
            ["Client ID", "First Name", "Surname", "Email", "Mobile"],
            [
                ["P1", "Anna", "Smith", "anna@example.com", "0412 345 678"],
                ["P1", "Anna", "Smith", "Anna@Example.com", "+61412345678"],
            ],
        )
        first = import_text(engine, org, text)
        assert (first.created, first.unchanged) == (1, 1)
        before = counts(engine)
        # when
        again = import_text(engine, org, text)
        # then: nothing flips back and forth between the two spellings
        assert (again.created, again.updated, again.linked, again.unchanged) == (0, 0, 0, 2)
        assert counts(engine) == before

    @pytest.mark.parametrize("overlap", ["true", "false"])
    def test_a_record_changed_and_changed_back_in_later_batches_ends_as_its_last_row(
        self, engine, org, monkeypatch, overlap
    ):
        # given: Ann stored with one email; then a file (batches of 2) that changes it, and
        # in the next batch changes it back: stored as it is, but not any more by then
        header = ["Client ID", "First Name", "Surname", "Email"]
        import_text(engine, org, csv_text(header, [["P1", "Ann", "Lee", "a@example.com"]]))
        monkeypatch.setenv("CRM_IMPORT_BATCH_SIZE", "2")
        monkeypatch.setenv("CRM_IMPORT_OVERLAP", overlap)
        get_settings.cache_clear()
        rows = [
            ["P1", "Ann", "Lee", "b@example.com"],
            ["P2", "Bo", "Ng", "bo@example.com"],
            ["P1", "Ann", "Lee", "a@example.com"],
            ["P3", "Cy", "Oh", "cy@example.com"],
        ]
        # when
        try:
            job = import_text(engine, org, csv_text(header, rows))
        finally:
            get_settings.cache_clear()
        # then: the last row wins, as in a file of one batch
        assert (job.created, job.updated, job.unchanged) == (2, 2, 0)
        ann = next(c for c in active_contacts(engine, org) if c.first_name == "Ann")
        assert ann.email == "a@example.com"


class TestDryRun:
    def test_dry_run_reports_outcomes_and_writes_no_contact_data(self, engine, org, people_csv):
        before = counts(engine)
        job = import_text(engine, org, people_csv, dry_run=True)
        assert job.dry_run is True
        assert (job.rows, job.created, job.rejected) == (5, 4, 1)
        assert counts(engine) == before

    def test_dry_run_after_a_real_import_says_unchanged(self, engine, org, people_csv):
        import_text(engine, org, people_csv)
        job = import_text(engine, org, people_csv, dry_run=True)
        assert (job.created, job.unchanged) == (0, 4)


class TestRejectsRoundTrip:
    def test_fixed_rejects_file_imports_every_row(self, engine, org, people_csv):
        # given
        job = import_text(engine, org, people_csv)
        out = io.StringIO()
        with Session(engine) as s:
            assert write_rejects(s, job=job, out=out) == 1
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert rows[0]["reject_line"] == "5"
        assert "NOTHING_TO_IDENTIFY" in rows[0]["reject_code"]
        # when: staff fix the row in the rejects file and import that file
        rows[0]["E-mail"] = "fixed@example.com"
        fixed = io.StringIO()
        writer = csv.DictWriter(fixed, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        second = import_text(engine, org, fixed.getvalue())
        # then
        assert (second.rows, second.created, second.rejected) == (1, 1, 0)
        assert any(c.email == "fixed@example.com" for c in active_contacts(engine, org))


class TestExport:
    def test_export_then_reimport_is_a_no_op(self, engine, org, people_csv):
        # given
        import_text(engine, org, people_csv)
        out = io.StringIO()
        with Session(engine) as s:
            written = export_contacts(s, organization_id=org.id, out=out)
        assert written == 4
        before = counts(engine)
        # when
        job = import_text(engine, org, out.getvalue())
        # then
        assert (job.rows, job.unchanged, job.created, job.updated, job.linked) == (4, 4, 0, 0, 0)
        assert counts(engine) == before

    def test_edited_export_updates_the_contact_it_came_from(self, engine, org, people_csv):
        import_text(engine, org, people_csv)
        out = io.StringIO()
        with Session(engine) as s:
            export_contacts(s, organization_id=org.id, out=out)
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        jo = next(r for r in rows if r["first_name"] == "Jo")
        jo["city"] = "Hobart"
        edited = io.StringIO()
        writer = csv.DictWriter(edited, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(jo)
        job = import_text(engine, org, edited.getvalue())
        assert job.created == 0
        contact = next(c for c in active_contacts(engine, org) if c.first_name == "Jo")
        assert str(contact.id) == jo["contact_id"]
        assert contact.city == "Hobart"

    def test_formula_cells_are_neutralised(self, engine, org):
        text = csv_text(["first_name", "last_name", "notes"], [["=HYPERLINK(1)", "@Lee", "-2+3"]])
        import_text(engine, org, text)
        out = io.StringIO()
        with Session(engine) as s:
            export_contacts(s, organization_id=org.id, out=out)
        (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert row["first_name"] == "'=HYPERLINK(1)"
        assert row["last_name"] == "'@Lee"
        assert row["notes"] == "'-2+3"
        assert all(not v.startswith(("=", "+", "-", "@")) for v in row.values())


class TestWorkerProcess:
    def test_normalising_in_a_worker_process_gives_the_same_result(
        self, engine, session, org, people_csv, monkeypatch
    ):
        # given: one import in-process, the same file through a worker process (one worker,
        # used whatever the file's size)
        other_org = create_organization(session, name="Same Region", region="AU")
        session.commit()
        inline = import_text(engine, org, people_csv)
        monkeypatch.setenv("CRM_IMPORT_WORKERS", "1")
        monkeypatch.setenv("CRM_IMPORT_PARALLEL_MIN_BYTES", "0")
        get_settings.cache_clear()
        children: list[int] = []
        data = people_csv.encode()
        try:
            with Session(engine, expire_on_commit=False) as s:
                job = create_import_job(
                    s,
                    organization=other_org,
                    options=ImportOptions(),
                    total_bytes=len(data),
                    actor="test",
                )
                s.commit()
            # when
            parallel = run_import(
                engine=engine,
                job_id=job.id,
                stream=io.BytesIO(data),
                progress=lambda _job: children.append(len(multiprocessing.active_children())),
            )
        finally:
            get_settings.cache_clear()
        # then: a worker process ran while the file was imported...
        assert children and all(count >= 1 for count in children)
        # ...and it imported the same as one in-process
        fields = ("rows", "created", "updated", "unchanged", "linked", "rejected")
        assert [getattr(parallel, f) for f in fields] == [getattr(inline, f) for f in fields]

        def people(o):
            return sorted(
                (c.first_name, c.last_name, c.email, c.phone) for c in active_contacts(engine, o)
            )

        assert people(other_org) == people(org)
        assert len(errors_of(engine, parallel)) == len(errors_of(engine, inline))
