"""Practitioners and appointment types per connection: listed, mapped, flags that decide
what the sync keeps (GraphQL, CLI, the sync itself)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select
from typer.testing import CliRunner

from crm.cli import app
from crm.models import PmsAppointment, utcnow
from crm.pms.connections import create_connection
from crm.pms.fake_fhir import FakeFhir
from tests.conftest import make_key
from tests.pms.conftest import API_KEY, gql

CREATE = """
mutation ($input: CreatePmsConnectionInput!) {
  createPmsConnection(input: $input) { pmsConnection { id } errors { code message } }
}
"""
TRIGGER = """
mutation ($id: ID!, $full: Boolean!) {
  triggerPmsSync(input: {connectionId: $id, full: $full}) {
    pmsSyncRun { status appointmentsFetched appointmentsCreated appointmentsSkipped }
    errors { code message }
  }
}
"""
CATALOG = """
query ($id: ID!) {
  pmsConnection(id: $id) {
    practitioners { id pmsId name clinicianRef suggestedClinicianRef telehealth syncEnabled }
    appointmentTypes { id pmsId name telehealth syncEnabled }
  }
}
"""
UPDATE_TYPE = """
mutation ($input: UpdatePmsAppointmentTypeInput!) {
  updatePmsAppointmentType(input: $input) {
    pmsAppointmentType { name telehealth syncEnabled } errors { code field }
  }
}
"""
UPDATE_PRACTITIONER = """
mutation ($input: UpdatePmsPractitionerInput!) {
  updatePmsPractitioner(input: $input) {
    pmsPractitioner { name clinicianRef syncEnabled } errors { code field }
  }
}
"""


def cliniko(api, key, fake) -> str:
    body = gql(
        api,
        CREATE,
        key,
        input={"type": "CLINIKO", "credentials": {"apiKey": API_KEY}, "baseUrl": fake.base_url},
    )
    return body["data"]["createPmsConnection"]["pmsConnection"]["id"]


def trigger(api, key, cid, full=False) -> dict:
    body = gql(api, TRIGGER, key, id=cid, full=full)["data"]["triggerPmsSync"]
    assert body["errors"] == [], body
    return body["pmsSyncRun"]


def test_types_and_practitioners_are_listed_and_their_flags_decide_the_sync(
    session, org, api, fake
):
    key = make_key(session, org, "admin")
    session.close()
    patient = fake.add_patient(first_name="Ada", last_name="Lovelace")
    fake.practitioners.append({"id": 2, "first_name": "Sam", "last_name": "Other"})
    soon = utcnow() + timedelta(days=1)
    fake.add_appointment(patient_id=patient["id"], starts_at=soon, appointment_type_id=1)
    fake.add_appointment(patient_id=patient["id"], starts_at=soon, appointment_type_id=2)
    fake.add_appointment(
        patient_id=patient["id"], starts_at=soon, appointment_type_id=1, practitioner_id=2
    )
    cid = cliniko(api, key, fake)
    first = trigger(api, key, cid)
    assert (first["appointmentsCreated"], first["appointmentsSkipped"]) == (3, 0)
    # then both lists are there, with the PMS's telehealth flag
    listed = gql(api, CATALOG, key, id=cid)["data"]["pmsConnection"]
    types = {t["name"]: t for t in listed["appointmentTypes"]}
    assert set(types) == {"Initial consult", "Telehealth review"}
    assert types["Telehealth review"]["telehealth"] is True
    people = {p["name"]: p for p in listed["practitioners"]}
    assert set(people) == {"Dr Jane", "Sam Other"}
    assert all(p["syncEnabled"] for p in people.values())
    # when the practice turns off the telehealth type and the second practitioner
    off = gql(
        api,
        UPDATE_TYPE,
        key,
        input={"id": types["Telehealth review"]["id"], "syncEnabled": False},
    )["data"]["updatePmsAppointmentType"]
    assert off == {
        "pmsAppointmentType": {
            "name": "Telehealth review",
            "telehealth": True,
            "syncEnabled": False,
        },
        "errors": [],
    }
    gql(
        api,
        UPDATE_PRACTITIONER,
        key,
        input={"id": people["Sam Other"]["id"], "syncEnabled": False},
    )
    # then the next sync skips their appointments and counts them
    again = trigger(api, key, cid, full=True)
    assert (again["appointmentsFetched"], again["appointmentsSkipped"]) == (3, 2)
    # and the flags survive the sync that refreshed the lists
    listed = gql(api, CATALOG, key, id=cid)["data"]["pmsConnection"]
    assert {t["name"]: t["syncEnabled"] for t in listed["appointmentTypes"]} == {
        "Initial consult": True,
        "Telehealth review": False,
    }


def test_an_unknown_id_is_not_found(session, org, api):
    key = make_key(session, org, "admin")
    session.close()
    body = gql(api, UPDATE_TYPE, key, input={"id": "00000000-0000-0000-0000-000000000000"})["data"][
        "updatePmsAppointmentType"
    ]
    assert body["errors"] == [{"code": "NOT_FOUND", "field": "id"}]


def test_a_practitioner_gets_the_clinician_of_the_same_name_elsewhere_as_suggestion(
    session, org, api, fake
):
    key = make_key(session, org, "admin")
    session.close()
    fake.practitioners[:] = [{"id": 1, "display_name": "Dr Jane Doctor"}]
    cid = cliniko(api, key, fake)
    trigger(api, key, cid)
    jane = gql(api, CATALOG, key, id=cid)["data"]["pmsConnection"]["practitioners"][0]
    assert jane["suggestedClinicianRef"] is None  # nothing mapped yet
    mapped = gql(
        api, UPDATE_PRACTITIONER, key, input={"id": jane["id"], "clinicianRef": "clin-42"}
    )["data"]["updatePmsPractitioner"]
    assert mapped["pmsPractitioner"]["clinicianRef"] == "clin-42"
    # the same person in Halaxy (no title, other order of words) and someone else
    with FakeFhir("halaxy") as halaxy:
        halaxy.practitioners[:] = [
            {
                "resourceType": "Practitioner",
                "id": "PR-1",
                "name": [{"given": ["Jane"], "family": "Doctor"}],
            },
            {
                "resourceType": "Practitioner",
                "id": "PR-2",
                "name": [{"given": ["Bob"], "family": "Builder"}],
            },
        ]
        body = gql(
            api,
            CREATE,
            key,
            input={"type": "HALAXY", "credentials": halaxy.credentials, "baseUrl": halaxy.base_url},
        )
        hid = body["data"]["createPmsConnection"]["pmsConnection"]["id"]
        trigger(api, key, hid)
    listed = gql(api, CATALOG, key, id=hid)["data"]["pmsConnection"]["practitioners"]
    hints = {p["name"]: p["suggestedClinicianRef"] for p in listed}
    assert hints == {"Jane Doctor": "clin-42", "Bob Builder": None}


def test_fhir_types_come_from_the_appointments(engine, session, org, settings):
    with FakeFhir("medirecords") as fhir:
        patient = fhir.add_patient(given=["Ada"], family="Lovelace")
        fhir.add_appointment(
            patient_id=patient["id"],
            start=utcnow() + timedelta(days=1),
            type_code="tele",
            type_name="Video consult",
        )
        connection = create_connection(
            session,
            organization=org,
            type="medirecords",
            credentials=fhir.credentials,
            base_url=fhir.base_url,
            settings=settings,
        )
        session.commit()
        from crm.pms.sync import sync_connection

        run = sync_connection(
            engine, organization_id=org.id, connection_id=connection.id, settings=settings
        )
    assert run.appointments_created == 1
    result = CliRunner().invoke(
        app,
        ["pms", "types", "--org", "Bondi Physio", "--connection", str(connection.id), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert [(t["pms_id"], t["name"]) for t in json.loads(result.stdout)] == [
        ("tele", "Video consult")
    ]
    result = CliRunner().invoke(
        app,
        [
            "pms",
            "practitioners",
            "--org",
            "Bondi Physio",
            "--connection",
            str(connection.id),
            "--json",
        ],
    )
    assert [p["name"] for p in json.loads(result.stdout)] == ["Dr Sarah Wilson"]
    assert session.exec(select(PmsAppointment)).one().appointment_type_name == "Video consult"
