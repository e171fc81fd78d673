"""Halaxy and MediRecords end to end: a fake FHIR R4 server on loopback -> the one sync
engine -> contacts and appointments (SQLite and PostgreSQL through the usual fixtures)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from crm.contacts.queries import contact_by_identifier
from crm.errors import ErrorCode, ServiceError
from crm.models import Contact, PmsAppointment, PmsConnection, PmsSyncRun, SourceRecord, utcnow
from crm.pms.adapters.fhir import read_appointment, read_patient
from crm.pms.connections import create_connection
from crm.pms.fake_fhir import FakeFhir
from crm.pms.sync import sync_connection

REFERENCE = Path("/work/shared/reference/fhir")
MEDICARE = "http://ns.electronichealth.net.au/id/medicare-number"
IHI = "http://ns.electronichealth.net.au/id/hi/ihi/1.0"


def _reference(name: str) -> dict[str, Any]:
    text = "\n".join(
        line for line in (REFERENCE / name).read_text().splitlines() if not line.startswith("//")
    )
    return json.loads(text)


@pytest.fixture(params=["halaxy", "medirecords"])
def fhir(request) -> Iterator[FakeFhir]:
    with FakeFhir(request.param) as server:
        yield server


@pytest.fixture
def connect(session: Session, org, fhir: FakeFhir, settings) -> Callable[..., PmsConnection]:
    def make(**kwargs: Any) -> PmsConnection:
        connection = create_connection(
            session,
            organization=org,
            type=fhir.flavor,
            credentials=kwargs.pop("credentials", fhir.credentials),
            base_url=fhir.base_url,
            settings=settings,
            **kwargs,
        )
        session.commit()
        return connection

    return make


def sync(session, engine, org, connection, settings, **kwargs) -> PmsSyncRun:
    session.commit()
    session.close()
    return sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings, **kwargs
    )


def holder(session: Session, org, fhir: FakeFhir, pms_id: str) -> Contact | None:
    session.expire_all()
    return contact_by_identifier(
        session, organization_id=org.id, channel=fhir.flavor.upper(), value=pms_id, region="AU"
    )


def ada(fhir: FakeFhir, **values: Any) -> dict[str, Any]:
    return fhir.add_patient(
        given=["Ada", "Augusta"],
        family="Lovelace",
        name=[
            {"use": "usual", "given": ["Addie"], "family": "Lovelace"},
            {
                "use": "official",
                "prefix": ["Ms"],
                "given": ["Ada", "Augusta"],
                "family": "Lovelace",
            },
        ],
        telecom=[
            {"system": "phone", "value": "0298765432", "use": "home"},
            {"system": "phone", "value": "+61412345678", "use": "mobile"},
            {"system": "email", "value": "ada@example.com", "use": "home"},
        ],
        gender="female",
        birthDate="1985-12-10",
        address=[
            {"use": "work", "line": ["1 Work St"], "city": "Parramatta"},
            {
                "use": "home",
                "line": ["12 Analytical Way", "Unit 3"],
                "city": "Sydney",
                "state": "NSW",
                "postalCode": "2000",
                "country": "Australia",
            },
        ],
        identifier=[
            {"system": MEDICARE, "value": "2123456701"},
            {"system": IHI, "value": "8003608166690503"},
        ],
        **values,
    )


class TestMapping:
    def test_the_reference_halaxy_patient_reads_as_its_fields(self):
        record = read_patient(_reference("patient.jsonc"), region="AU")
        assert record.pms_id == "12345" and record.status == "active"
        assert record.fields["first_name"] == "John" and record.fields["last_name"] == "Smith"
        assert record.fields["email"] == "john.smith@example.com"
        assert record.fields["date_of_birth"] == "1980-05-15"
        assert (record.fields["address_line1"], record.fields["postal_code"]) == (
            "123 Main Street",
            "2000",
        )
        assert record.phones == [("Home", "+61 2 1234 5678")]
        assert record.facts["middle_names"] == "James" and record.facts["gender"] == "male"
        assert record.facts["identifiers"] == [
            {"system": "http://halaxy.com/identifier/patient", "value": "PAT-12345"}
        ]

    def test_the_reference_appointments_read_with_their_references(self):
        bundle = _reference("appointment-bundle.jsonc")
        first, second = (read_appointment(e["resource"]) for e in bundle["entry"])
        assert (first.pms_id, first.patient_pms_id, first.practitioner_pms_id) == (
            "55001",
            "12345",
            "99001",
        )
        assert (
            first.status == "booked" and first.starts_at.isoformat() == "2024-01-31T22:00:00+00:00"
        )
        assert second.status == "booked"  # pending: not yet confirmed, still on the books

    @pytest.mark.parametrize(
        ("fhir_status", "status"),
        [
            ("arrived", "arrived"),
            ("fulfilled", "arrived"),
            ("cancelled", "cancelled"),
            ("noshow", "did_not_arrive"),
            ("entered-in-error", "deleted"),
        ],
    )
    def test_appointment_statuses(self, fhir_status, status):
        raw = {
            "resourceType": "Appointment",
            "id": "1",
            "status": fhir_status,
            "start": "2026-01-01T09:00:00Z",
        }
        assert read_appointment(raw).status == status


class TestSync:
    def test_patients_and_appointments_sync_end_to_end(
        self, engine, session, org, fhir, connect, settings
    ):
        # given
        patient = ada(fhir)
        gone = fhir.add_patient(given=["Old"], family="Timer", active=False)
        soon = utcnow() + timedelta(days=2)
        fhir.add_appointment(patient_id=patient["id"], start=soon)
        fhir.add_appointment(
            patient_id=patient["id"],
            start=utcnow() - timedelta(days=3),
            status="fulfilled",
            type_code="tele",
            type_name="Telehealth review",
        )
        fhir.add_appointment(patient_id=gone["id"], start=soon, status="cancelled")
        connection = connect()
        # when
        run = sync(session, engine, org, connection, settings)
        # then
        assert (run.status, run.patients_fetched, run.patients_created) == ("success", 2, 2)
        assert (run.appointments_fetched, run.appointments_created) == (3, 3)
        contact = holder(session, org, fhir, patient["id"])
        assert contact is not None
        assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")
        assert (contact.phone, contact.email) == ("+61412345678", "ada@example.com")
        assert (contact.city, contact.address_line2) == ("Sydney", "Unit 3")
        facts = contact.attributes[fhir.flavor]
        assert facts["status"] == "active"
        assert facts["medicare_number"] == "2123456701" and facts["ihi"] == "8003608166690503"
        assert (facts["preferred_first_name"], facts["prefix"]) == ("Addie", "Ms")
        # the home number is an identifier of the same person; Medicare is not a key
        home = contact_by_identifier(
            session, organization_id=org.id, channel="PHONE", value="0298765432", region="AU"
        )
        assert home is not None and home.id == contact.id
        record = session.exec(
            select(SourceRecord).where(SourceRecord.contact_id == contact.id)
        ).one()
        assert (record.source_system, record.source_id) == (fhir.flavor, patient["id"])
        # active: false -> archived, kept
        old = holder(session, org, fhir, gone["id"])
        assert old.status == "active" and old.attributes[fhir.flavor]["status"] == "archived"
        rows = session.exec(select(PmsAppointment).order_by(PmsAppointment.starts_at)).all()
        assert [(r.status, r.telehealth) for r in rows] == [
            ("arrived", True),
            ("booked", False),
            ("cancelled", False),
        ]
        assert rows[1].contact_id == contact.id
        assert rows[1].practitioner_name == "Dr Sarah Wilson"
        assert rows[0].appointment_type_name == "Telehealth review"
        # every request spoke FHIR JSON with a User-Agent
        assert all(r["accept"] == "application/fhir+json" for r in fhir.requests)
        assert all(r["user_agent"] for r in fhir.requests)

    def test_the_next_sync_asks_only_for_changes_and_stores_them(
        self, engine, session, org, fhir, connect, settings
    ):
        patients = [fhir.add_patient(given=[f"P{i}"], family="Smith") for i in range(5)]
        connection = connect()
        first = sync(session, engine, org, connection, settings)
        assert (first.status, first.patients_fetched) == ("success", 5)
        fhir.update_patient(
            patients[2]["id"], name=[{"use": "official", "given": ["P2"], "family": "Smyth"}]
        )
        fhir.requests.clear()
        settings.pms_sync_overlap_seconds = 0
        run = sync(session, engine, org, connection, settings)
        assert (run.patients_fetched, run.patients_updated) == (1, 1)
        patient_queries = [r["query"] for r in fhir.requests if r["path"] == "Patient"]
        assert patient_queries and all("_lastUpdated=gt" in q for q in patient_queries)
        assert holder(session, org, fhir, patients[2]["id"]).last_name == "Smyth"

    def test_a_crash_mid_sync_resumes_with_no_gap_and_no_duplicate(
        self, engine, session, org, fhir, connect, settings
    ):
        for i in range(250):
            fhir.add_patient(given=[f"P{i}"], family="Resume")
        connection = connect()
        first_request = len(fhir.requests)
        # the server goes down after the first page of patients
        fhir.fail_from_request = first_request + 2
        first = sync(session, engine, org, connection, settings)
        assert first.status == "failed" and "503" in first.error
        assert first.patients_created == 100
        session.expire_all()
        assert session.get(PmsConnection, connection.id).cursors["patients"]
        fhir.fail_from_request = None
        settings.pms_sync_overlap_seconds = 0
        second = sync(session, engine, org, connection, settings)
        assert second.status == "success" and second.patients_created == 150
        count = session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar()
        assert count == 250

    def test_429_and_500_are_retried(self, engine, session, org, fhir, connect, settings):
        for i in range(3):
            fhir.add_patient(given=[f"P{i}"], family="Retry")
        connection = connect()
        fhir.rate_limit_next(1, retry_after=0)
        fhir.fail_next(1, status=500)
        run = sync(session, engine, org, connection, settings)
        assert (run.status, run.patients_created) == ("success", 3)

    def test_an_operation_outcome_fails_the_run_with_its_code_and_no_data(
        self, engine, session, org, fhir, connect, settings
    ):
        fhir.add_patient(given=["Jane"], family="Citizen")
        connection = connect()
        fhir.outcome_next(status=400, code="invalid")
        run = sync(session, engine, org, connection, settings)
        assert run.status == "failed"
        assert "OperationOutcome invalid" in run.error and "PMS_BAD_RESPONSE" in run.error
        assert "Jane" not in run.error

    def test_a_malformed_entry_is_counted_and_the_run_goes_on(
        self, engine, session, org, fhir, connect, settings
    ):
        fhir.add_patient(given=["Good"], family="One")
        fhir.raw_patients.append({"resourceType": "Patient", "name": "not a list"})
        fhir.raw_patients.append({"resourceType": "Patient", "id": "x1", "telecom": "nope"})
        connection = connect()
        run = sync(session, engine, org, connection, settings)
        assert run.status == "partial"
        assert (run.patients_created, run.patients_failed) == (1, 2)
        assert {f["code"] for f in run.details["failures"]} == {"PMS_BAD_RECORD"}

    def test_refused_credentials_are_a_clear_error(self, org, fhir, connect):
        wrong = (
            {"clientId": "client-1", "clientSecret": "wrong"}
            if fhir.flavor == "halaxy"
            else {"token": "wrong", "practiceId": "practice-1"}
        )
        with pytest.raises(ServiceError) as caught:
            connect(credentials=wrong)
        assert caught.value.code == ErrorCode.PMS_AUTH_FAILED
        assert "wrong" not in caught.value.message


class TestHalaxyTokens:
    @pytest.fixture
    def fhir(self) -> Iterator[FakeFhir]:
        with FakeFhir("halaxy") as server:
            yield server

    def test_an_expired_token_is_replaced_and_the_run_goes_on(
        self, engine, session, org, fhir, connect, settings
    ):
        for i in range(150):
            fhir.add_patient(given=[f"P{i}"], family="Token")
        connection = connect()
        issued = fhir.tokens_issued
        # the token expires between the first and the second page of patients
        fhir.expire_tokens_at = len(fhir.requests) + 2
        run = sync(session, engine, org, connection, settings)
        assert (run.status, run.patients_created) == ("success", 150)
        # the token adding the connection fetched serves the run (kept on the connection),
        # and one more once it expired
        assert fhir.tokens_issued == issued + 1
        # the token request carried the client credentials as JSON, never in the URL
        assert not any("secret" in r["query"] for r in fhir.requests)


class TestMediRecordsPractice:
    @pytest.fixture
    def fhir(self) -> Iterator[FakeFhir]:
        with FakeFhir("medirecords") as server:
            yield server

    def test_the_practice_goes_with_every_request(self, org, connect, fhir):
        with pytest.raises(ServiceError) as caught:
            connect(credentials={"token": fhir.static_token, "practiceId": "another-practice"})
        assert caught.value.code == ErrorCode.PMS_AUTH_FAILED


def test_identifiers_are_facts_not_keys(engine, session, org, settings):
    """Two patients sharing a Medicare number (a family card) stay two people."""
    with FakeFhir("medirecords") as fhir:
        for given in ("Mum", "Kid"):
            fhir.add_patient(
                given=[given],
                family="Family",
                identifier=[{"system": MEDICARE, "value": "2123456701"}],
            )
        connection = create_connection(
            session,
            organization=org,
            type="medirecords",
            credentials=fhir.credentials,
            base_url=fhir.base_url,
            settings=settings,
        )
        run = sync(session, engine, org, connection, settings)
    assert run.patients_created == 2
    assert session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar() == 2
