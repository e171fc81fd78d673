"""``crm pms practitioner|type``: the practice's settings of practitioners and appointment
types from the command line, as updatePmsPractitioner / updatePmsAppointmentType set them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from crm.cli import app
from crm.models import utcnow
from crm.pms.connections import create_connection
from crm.pms.fake_fhir import FakeFhir
from crm.pms.sync import sync_connection


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result

    return run


def listed(cli, what: str, connection) -> dict[str, dict]:
    out = cli("pms", what, "--org", "Bondi Physio", "--connection", str(connection.id), "--json")
    return {row["name"]: row for row in json.loads(out.stdout)}


def sync(session, engine, org, connection, settings, **kwargs):
    session.commit()
    session.close()
    return sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings, **kwargs
    )


class TestFlags:
    def test_flags_set_from_the_cli_decide_what_the_next_sync_keeps(
        self, engine, session, org, fake, connect, settings, cli
    ):
        # given two practitioners, two types and three appointments, synced once
        patient = fake.add_patient(first_name="Ada", last_name="Lovelace")
        fake.practitioners.append({"id": 2, "first_name": "Sam", "last_name": "Other"})
        soon = utcnow() + timedelta(days=1)
        fake.add_appointment(patient_id=patient["id"], starts_at=soon, appointment_type_id=1)
        fake.add_appointment(patient_id=patient["id"], starts_at=soon, appointment_type_id=2)
        fake.add_appointment(
            patient_id=patient["id"], starts_at=soon, appointment_type_id=1, practitioner_id=2
        )
        connection = connect()
        first = sync(session, engine, org, connection, settings)
        assert (first.appointments_created, first.appointments_skipped) == (3, 0)
        people, types = listed(cli, "practitioners", connection), listed(cli, "types", connection)
        assert set(people) == {"Dr Jane", "Sam Other"} and set(types) == {
            "Initial consult",
            "Telehealth review",
        }
        # when the practice turns off Sam and the telehealth type, and marks the consult
        # as telehealth
        out = cli("pms", "practitioner", "--org", "Bondi Physio", people["Sam Other"]["id"],
                  "--no-sync", "--json")  # fmt: skip
        assert json.loads(out.stdout)[0] | {"id": None} == {
            "id": None,
            "pms_id": "2",
            "name": "Sam Other",
            "clinician_ref": None,
            "suggested_clinician_ref": None,
            "telehealth": False,
            "sync_enabled": False,
        }
        cli("pms", "type", "--org", "Bondi Physio", types["Telehealth review"]["id"], "--no-sync")
        out = cli("pms", "type", "--org", "Bondi Physio", types["Initial consult"]["id"],
                  "--telehealth", "--json")  # fmt: skip
        assert json.loads(out.stdout)[0]["telehealth"] is True
        # then the next sync skips their appointments and counts them
        again = sync(session, engine, org, connection, settings, full=True)
        assert (again.appointments_fetched, again.appointments_skipped) == (3, 2)
        # and what was not given is unchanged; the sync kept the practice's flags
        types = listed(cli, "types", connection)
        assert {n: (t["telehealth"], t["sync_enabled"]) for n, t in types.items()} == {
            "Initial consult": (True, True),
            "Telehealth review": (True, False),
        }

    def test_an_unknown_id_is_not_found(self, org, cli):
        out = cli("pms", "type", "--org", "Bondi Physio", "00000000-0000-0000-0000-000000000000",
                  "--no-sync", code=2)  # fmt: skip
        assert "NOT_FOUND" in out.stderr


class TestClinicianMapping:
    def test_map_clear_and_accept_the_suggestion(
        self, engine, session, org, fake, connect, settings, cli
    ):
        # given Dr Jane Doctor in Cliniko, mapped by hand
        fake.practitioners[:] = [{"id": 1, "display_name": "Dr Jane Doctor"}]
        cliniko = connect()
        sync(session, engine, org, cliniko, settings)
        jane = listed(cli, "practitioners", cliniko)["Dr Jane Doctor"]
        out = cli("pms", "practitioner", "--org", "Bondi Physio", jane["id"],
                  "--clinician", "clin-42", "--json")  # fmt: skip
        assert json.loads(out.stdout)[0]["clinician_ref"] == "clin-42"
        # and the same person (and someone else) in Halaxy
        with FakeFhir("halaxy") as halaxy:
            halaxy.practitioners[:] = [
                {"resourceType": "Practitioner", "id": "PR-1",
                 "name": [{"given": ["Jane"], "family": "Doctor"}]},
                {"resourceType": "Practitioner", "id": "PR-2",
                 "name": [{"given": ["Bob"], "family": "Builder"}]},
            ]  # fmt: skip
            other = create_connection(
                session,
                organization=org,
                type="halaxy",
                credentials=halaxy.credentials,
                base_url=halaxy.base_url,
                settings=settings,
            )
            sync(session, engine, org, other, settings)
        people = listed(cli, "practitioners", other)
        assert people["Jane Doctor"]["suggested_clinician_ref"] == "clin-42"
        # when the suggestion is accepted
        out = cli("pms", "practitioner", "--org", "Bondi Physio", people["Jane Doctor"]["id"],
                  "--accept-suggestion", "--json")  # fmt: skip
        # then it is the mapping
        assert json.loads(out.stdout)[0]["clinician_ref"] == "clin-42"
        assert listed(cli, "practitioners", other)["Jane Doctor"]["clinician_ref"] == "clin-42"
        # nothing to accept for someone unlike anyone mapped: an error, nothing changed
        bob = people["Bob Builder"]["id"]
        out = cli("pms", "practitioner", "--org", "Bondi Physio", bob, "--accept-suggestion",
                  code=2)  # fmt: skip
        assert "INVALID_INPUT" in out.stderr and "similar" in out.stderr
        # both at once is bad usage
        cli("pms", "practitioner", "--org", "Bondi Physio", bob, "--accept-suggestion",
            "--clinician", "x", code=2)  # fmt: skip
        # "" clears a mapping
        out = cli("pms", "practitioner", "--org", "Bondi Physio", jane["id"], "--clinician", "",
                  "--json")  # fmt: skip
        assert json.loads(out.stdout)[0]["clinician_ref"] is None

    def test_another_organization_s_practitioner_is_not_found(
        self, engine, session, org, other_org, fake, connect, settings, cli
    ):
        connection = connect()
        sync(session, engine, org, connection, settings)
        jane = listed(cli, "practitioners", connection)["Dr Jane"]
        out = cli("pms", "practitioner", "--org", "Other Clinic", jane["id"], "--no-sync",
                  code=2)  # fmt: skip
        assert "NOT_FOUND" in out.stderr
