"""Gentu: a pairing code becomes the tenant and its secret, then the FHIR sync runs
(against the fake Gentu, whose shape is the documented assumption in docs/pms.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from crm.cli import app
from crm.contacts.queries import contact_by_identifier
from crm.errors import ErrorCode, ServiceError
from crm.models import PmsAppointment, PmsConnection, utcnow
from crm.pms import secrets
from crm.pms.connections import create_connection, pair_connection
from crm.pms.fake_fhir import GENTU_TENANT, FakeFhir
from crm.pms.sync import sync_connection
from tests.conftest import make_key
from tests.pms.conftest import gql

PAIR = """
mutation Pair($input: PairGentuConnectionInput!) {
  pairGentuConnection(input: $input) {
    pmsConnection { id type displayName }
    errors { field message code }
  }
}
"""
TRIGGER = """
mutation Trigger($id: ID!) {
  triggerPmsSync(input: {connectionId: $id, full: true}) {
    pmsSyncRun { status patientsCreated appointmentsCreated error }
    errors { code message }
  }
}
"""


@pytest.fixture
def gentu() -> Iterator[FakeFhir]:
    with FakeFhir("gentu") as server:
        yield server


def test_pairing_over_graphql_then_a_sync(session, org, api, gentu):
    key = make_key(session, org, "admin")
    session.close()
    patient = gentu.add_patient(
        given=["Grace"],
        family="Hopper",
        telecom=[{"system": "phone", "value": "+61412345678", "use": "mobile"}],
    )
    gentu.add_appointment(patient_id=patient["id"], start=utcnow() + timedelta(days=1))
    # when
    body = gql(api, PAIR, key, input={"pairingCode": "PAIR-1234", "baseUrl": gentu.base_url})
    # then
    paired = body["data"]["pairGentuConnection"]
    assert paired["errors"] == [] and paired["pmsConnection"]["type"] == "GENTU"
    connection = session.get(PmsConnection, uuid.UUID(paired["pmsConnection"]["id"]))
    assert connection.tenant_id == GENTU_TENANT
    # what is stored is the tenant's secret, not the used code
    assert secrets.decrypt(connection.credentials_encrypted) == {
        "tenantId": GENTU_TENANT,
        "tenantSecret": gentu.tenant_secret,
    }
    session.close()
    # when
    run = gql(api, TRIGGER, key, id=paired["pmsConnection"]["id"])["data"]["triggerPmsSync"]
    # then
    assert run["errors"] == []
    assert run["pmsSyncRun"]["status"] == "SUCCESS", run
    assert (run["pmsSyncRun"]["patientsCreated"], run["pmsSyncRun"]["appointmentsCreated"]) == (
        1,
        1,
    )
    contact = contact_by_identifier(
        session, organization_id=org.id, channel="GENTU", value=patient["id"], region="AU"
    )
    assert contact is not None and contact.phone == "+61412345678"
    assert session.exec(select(PmsAppointment)).one().contact_id == contact.id


def test_a_used_pairing_code_is_refused_clearly(session, org, api, gentu):
    key = make_key(session, org, "admin")
    session.close()
    first = gql(api, PAIR, key, input={"pairingCode": "PAIR-1234", "baseUrl": gentu.base_url})
    assert first["data"]["pairGentuConnection"]["errors"] == []
    connection_id = first["data"]["pairGentuConnection"]["pmsConnection"]["id"]
    # pairing the connection again with the code already used
    again = gql(api, PAIR, key, input={"pairingCode": "PAIR-1234", "connectionId": connection_id})
    errors = again["data"]["pairGentuConnection"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("PMS_AUTH_FAILED", "pairingCode")]
    assert "new one" in errors[0]["message"]


def test_an_unpaired_connection_says_so_and_pairs_later(engine, session, org, gentu, settings):
    # stored without pairing (no test): its sync fails with what to do
    connection = create_connection(
        session,
        organization=org,
        type="gentu",
        credentials={"pairingCode": "PAIR-1234"},
        base_url=gentu.base_url,
        test=False,
        settings=settings,
    )
    session.commit()
    run = sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings
    )
    assert run.status == "failed" and "not paired" in run.error
    # when it is paired with the code
    pair_connection(
        session,
        organization=org,
        connection_id=connection.id,
        pairing_code="PAIR-1234",
        settings=settings,
    )
    session.commit()
    assert connection.tenant_id == GENTU_TENANT
    # a wrong code is a clear error on the right field
    with pytest.raises(ServiceError) as caught:
        pair_connection(
            session,
            organization=org,
            connection_id=connection.id,
            pairing_code="NOPE",
            settings=settings,
        )
    assert (caught.value.code, caught.value.field) == (ErrorCode.PMS_AUTH_FAILED, "pairingCode")


def test_crm_pms_pair(session, org, gentu):
    result = CliRunner().invoke(
        app,
        [
            "pms",
            "pair",
            "--org",
            "Bondi Physio",
            "--code",
            "PAIR-1234",
            "--base-url",
            gentu.base_url,
        ],
    )
    assert result.exit_code == 0, result.output
    connection = session.get(PmsConnection, uuid.UUID(result.stdout.strip()))
    assert (connection.type, connection.tenant_id) == ("GENTU", GENTU_TENANT)
    assert gentu.tenant_secret not in result.output
    assert secrets.decrypt(connection.credentials_encrypted)["tenantId"] == GENTU_TENANT
