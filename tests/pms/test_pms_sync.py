"""Cliniko sync end to end: fake Cliniko on loopback -> ingestion pipeline -> contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from crm.contacts.commands import update_contact
from crm.contacts.queries import contact_by_identifier, get_contact
from crm.errors import ErrorCode, ServiceError
from crm.importing.export import export_values
from crm.merging.unmerge import unmerge
from crm.models import (
    Contact,
    ContactIdentifier,
    PmsAppointment,
    PmsConnection,
    PmsSyncRun,
    SourceRecord,
    utcnow,
)
from crm.pms.sync import start_run, sync_connection


def holder(session: Session, org, pms_id) -> Contact | None:
    session.expire_all()
    return contact_by_identifier(
        session, organization_id=org.id, channel="CLINIKO", value=str(pms_id), region="AU"
    )


def sync(session, engine, org, connection, settings, **kwargs) -> PmsSyncRun:
    # the test's own session lets go of the database (SQLite has one writer at a time)
    session.commit()
    session.close()
    return sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings, **kwargs
    )


class TestPatients:
    def test_a_patient_becomes_a_contact_reachable_by_its_cliniko_id(
        self, engine, session, org, fake, connect, settings
    ):
        # given
        patient = fake.add_patient(
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            accepted_sms_marketing=True,
            patient_phone_numbers=[
                {"phone_type": "Home", "number": "0298765432"},
                {"phone_type": "Mobile", "number": "0412345678"},
            ],
        )
        connection = connect()
        # when
        run = sync(session, engine, org, connection, settings)
        # then
        assert (run.status, run.patients_fetched, run.patients_created) == ("success", 1, 1)
        contact = holder(session, org, patient["id"])
        assert contact is not None
        assert (contact.first_name, contact.phone) == ("Ada", "+61412345678")
        assert contact.attributes["cliniko"]["accepted_sms_marketing"] is True
        assert contact.attributes["cliniko"]["status"] == "active"
        # every number is an identifier of the contact
        home = contact_by_identifier(
            session, organization_id=org.id, channel="PHONE", value="0298765432", region="AU"
        )
        assert home is not None and home.id == contact.id
        record = session.exec(
            select(SourceRecord).where(SourceRecord.contact_id == contact.id)
        ).one()
        assert (record.source_system, record.source_id) == ("cliniko", str(patient["id"]))
        assert record.source_id_given is True
        # the Cliniko id is held once, as the CLINIKO identifier (no `external` copy of it)
        held = session.exec(
            select(ContactIdentifier.namespace, ContactIdentifier.value).where(
                ContactIdentifier.contact_id == contact.id
            )
        ).all()
        assert sorted(held) == [
            ("cliniko", str(patient["id"])),
            ("email", "ada@example.com"),
            ("tel", "+61298765432"),
            ("tel", "+61412345678"),
        ]
        # and the export gives it in its own column
        row = export_values(contact, session.exec(select(ContactIdentifier)).all())
        assert (row["cliniko_id"], row["external_id"]) == (str(patient["id"]), "")

    def test_a_second_sync_stores_nothing_twice(
        self, engine, session, org, fake, connect, settings
    ):
        for i in range(120):
            fake.add_patient(first_name=f"Pat{i}", last_name="Smith")
        connection = connect()
        sync(session, engine, org, connection, settings)
        # when
        again = sync(session, engine, org, connection, settings, full=True)
        # then
        assert (again.patients_created, again.patients_updated) == (0, 0)
        assert again.patients_unchanged == 120
        count = session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar()
        assert count == 120

    def test_a_change_in_cliniko_updates_the_contact(
        self, engine, session, org, fake, connect, settings
    ):
        patient = fake.add_patient(first_name="Bob", last_name="Brown")
        connection = connect()
        first = sync(session, engine, org, connection, settings)
        fake.update_patient(patient["id"], last_name="Browne")
        run = sync(session, engine, org, connection, settings)
        # the first run read everything; the next one what changed since
        assert (first.kind, run.kind) == ("full", "incremental")
        assert run.patients_updated == 1
        assert holder(session, org, patient["id"]).last_name == "Browne"

    def test_a_bad_record_is_counted_and_the_run_goes_on(
        self, engine, session, org, fake, connect, settings
    ):
        fake.add_patient(first_name="Good", last_name="One")
        fake.raw_patients.append({"first_name": "no id"})
        fake.raw_patients.append("not an object")
        # a bad value is dropped and reported; the patient id still identifies the patient
        fake.add_patient(first_name="Bad", last_name="Email", email="not-an-email")
        fake.add_patient(first_name="Also", last_name="Good")
        connection = connect()
        run = sync(session, engine, org, connection, settings)
        assert run.status == "partial"
        assert (run.patients_fetched, run.patients_created, run.patients_failed) == (5, 3, 2)
        codes = sorted(f["code"] for f in run.details["failures"])
        assert codes == ["PMS_BAD_RECORD", "PMS_BAD_RECORD"]

    def test_archived_and_deleted_patients_are_marked_not_removed(
        self, engine, session, org, fake, connect, settings
    ):
        archived = fake.add_patient(first_name="Arch", last_name="Ived")
        deleted = fake.add_patient(first_name="Del", last_name="Eted")
        connection = connect()
        sync(session, engine, org, connection, settings)
        # when Cliniko archives one and deletes the other
        fake.archive_patient(archived["id"])
        fake.delete_patient(deleted["id"])
        run = sync(session, engine, org, connection, settings)
        # then both contacts stay, with their names, and say what Cliniko did
        assert run.status == "success"
        first = holder(session, org, archived["id"])
        second = holder(session, org, deleted["id"])
        assert (first.status, first.first_name) == ("active", "Arch")
        assert first.attributes["cliniko"]["status"] == "archived"
        assert (second.status, second.first_name) == ("active", "Del")
        assert second.attributes["cliniko"]["status"] == "deleted"
        versions = session.exec(
            select(SourceRecord.version).where(SourceRecord.source_id == str(deleted["id"]))
        ).all()
        assert sorted(versions) == [1, 2]

    def test_a_patient_deleted_before_it_was_synced_is_skipped(
        self, engine, session, org, fake, connect, settings
    ):
        gone = fake.add_patient(first_name="Never", last_name="Seen")
        fake.delete_patient(gone["id"])
        run = sync(session, engine, org, connect(), settings)
        assert (run.patients_skipped, run.patients_created) == (1, 0)
        assert holder(session, org, gone["id"]) is None

    def test_a_merge_in_cliniko_merges_here_reversibly(
        self, engine, session, org, fake, connect, settings
    ):
        keep = fake.add_patient(first_name="Jo", last_name="Citizen", email="jo@example.com")
        dup = fake.add_patient(first_name="Joanne", last_name="Citizen")
        connection = connect()
        sync(session, engine, org, connection, settings)
        assert holder(session, org, keep["id"]).id != holder(session, org, dup["id"]).id
        dup_contact = holder(session, org, dup["id"]).id
        # when
        fake.merge_patients(dup["id"], into=keep["id"])
        run = sync(session, engine, org, connection, settings)
        # then
        assert run.patients_merged == 1
        survivor = holder(session, org, keep["id"])
        assert holder(session, org, dup["id"]).id == survivor.id
        assert get_contact(session, organization_id=org.id, contact_id=dup_contact).status == (
            "merged"
        )
        # and it can be undone
        with session.begin_nested():
            unmerge(session, organization=org, contact_id=dup_contact, actor="test")
        session.commit()
        assert holder(session, org, dup["id"]).id == dup_contact

    def test_pms_data_wins_over_an_older_manual_edit_only_when_newer(
        self, engine, session, org, fake, connect, settings
    ):
        patient = fake.add_patient(first_name="Sam", last_name="Stone")
        connection = connect()
        sync(session, engine, org, connection, settings)
        contact = holder(session, org, patient["id"])
        # a manual edit holds against the same PMS data read again
        update_contact(
            session,
            organization=org,
            contact_id=contact.id,
            version=None,
            data={"last_name": "Stones"},
            actor="test",
        )
        session.commit()
        sync(session, engine, org, connection, settings, full=True)
        assert holder(session, org, patient["id"]).last_name == "Stones"
        # a newer change in the PMS replaces it (PMS has the top priority)
        fake._clock = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        fake.update_patient(patient["id"], last_name="Stoner")
        sync(session, engine, org, connection, settings)
        assert holder(session, org, patient["id"]).last_name == "Stoner"


class TestFailures:
    def test_a_crash_mid_run_resumes_with_no_gap_and_no_duplicate(
        self, engine, session, org, fake, connect, settings
    ):
        # given 250 patients: three pages
        for i in range(250):
            fake.add_patient(first_name=f"P{i}", last_name="Resume")
        connection = connect()
        # when the PMS goes down after the first page of patients
        fake.fail_from_request = len(fake.requests) + 2
        first = sync(session, engine, org, connection, settings)
        # then the run failed with its error, and the first page is stored with its cursor
        assert first.status == "failed" and "503" in first.error
        assert first.patients_created == 100
        session.expire_all()
        stored = session.get(PmsConnection, connection.id)
        assert stored.cursors["patients"]
        assert stored.failure_count == 1 and stored.next_attempt_at > utcnow()
        # when it is back
        fake.fail_from_request = None
        settings.pms_sync_overlap_seconds = 0
        second = sync(session, engine, org, connection, settings)
        # then the next run catches up: every patient once
        assert second.status == "success"
        assert second.patients_created == 150
        count = session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar()
        assert count == 250
        session.expire_all()
        assert session.get(PmsConnection, connection.id).failure_count == 0

    def test_refused_credentials_fail_the_run_without_the_key(
        self, engine, session, org, fake, connect, settings
    ):
        connection = connect()
        fake.api_key = "changed-au2"
        run = sync(session, engine, org, connection, settings)
        assert run.status == "failed"
        assert "PMS_AUTH_FAILED" in run.error
        assert "MS0x" not in run.error

    def test_one_run_at_a_time(self, engine, session, org, connect, settings):
        connection = connect()
        start_run(session, organization_id=org.id, connection_id=connection.id)
        session.commit()
        with pytest.raises(ServiceError) as caught:
            sync(session, engine, org, connection, settings)
        assert caught.value.code == ErrorCode.SYNC_RUNNING

    def test_a_stale_running_run_is_marked_failed_and_a_new_one_runs(
        self, engine, session, org, connect, settings
    ):
        connection = connect()
        stale = start_run(session, organization_id=org.id, connection_id=connection.id)
        stale.heartbeat_at = utcnow() - timedelta(hours=2)
        session.add(stale)
        session.commit()
        run = sync(session, engine, org, connection, settings)
        assert run.status == "success"
        session.expire_all()
        assert session.get(PmsSyncRun, stale.id).status == "failed"


class TestAppointments:
    def test_appointments_of_the_window_with_their_status(
        self, engine, session, org, fake, connect, settings
    ):
        patient = fake.add_patient(first_name="Ann", last_name="Appt")
        now = datetime.now(UTC)
        booked = fake.add_appointment(patient_id=patient["id"], starts_at=now + timedelta(days=3))
        fake.add_appointment(
            patient_id=patient["id"], starts_at=now - timedelta(days=5), did_not_arrive=True
        )
        cancelled = fake.add_appointment(
            patient_id=patient["id"], starts_at=now + timedelta(days=1), appointment_type_id=2
        )
        fake.update_appointment(cancelled["id"], cancelled_at=fake.tick().isoformat())
        fake.add_appointment(patient_id=patient["id"], starts_at=now - timedelta(days=200))
        connection = connect()
        # when
        run = sync(session, engine, org, connection, settings)
        # then
        assert (run.appointments_fetched, run.appointments_created) == (3, 3)
        rows = session.exec(select(PmsAppointment).order_by(PmsAppointment.starts_at)).all()
        contact = holder(session, org, patient["id"])
        assert [r.status for r in rows] == ["did_not_arrive", "cancelled", "booked"]
        assert {r.contact_id for r in rows} == {contact.id}
        assert rows[1].telehealth and rows[1].appointment_type_name == "Telehealth review"
        assert rows[2].practitioner_name == "Dr Jane"
        # a change is an update of the same row
        fake.update_appointment(booked["id"], patient_arrived=True)
        again = sync(session, engine, org, connection, settings)
        assert again.appointments_updated == 1
        session.expire_all()
        assert session.get(PmsAppointment, rows[2].id).status == "arrived"
