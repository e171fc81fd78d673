"""Contact.activity and activePatients from synced appointments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.merging.merge import merge
from crm.pms.sync import sync_connection
from tests.conftest import make_key
from tests.pms.conftest import gql

ACTIVITY = """
query ($value: String!) {
  contactByIdentifier(channel: CLINIKO, value: $value) {
    activity {
      recentAppointments { status practitioner startsAt }
      upcomingAppointments { status appointmentType telehealth }
      lastAppointmentAt nextAppointmentAt lastPractitioner
    }
  }
}
"""
ACTIVE = """
query ($days: Int!, $after: String) {
  activePatients(first: 1, windowDays: $days, after: $after) {
    totalCount edges { cursor node { firstName } } pageInfo { hasNextPage endCursor }
  }
}
"""


def synced(session, engine, org, fake, connect, settings):
    connection = connect()
    session.close()
    run = sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings
    )
    assert run.status == "success", run.error
    return run


class TestActivity:
    def test_recent_and_upcoming_appointments(
        self, session, engine, org, fake, connect, settings, api
    ):
        now = datetime.now(UTC)
        patient = fake.add_patient(first_name="Ann", last_name="Active")
        fake.add_appointment(
            patient_id=patient["id"], starts_at=now - timedelta(days=10), patient_arrived=True
        )
        fake.add_appointment(
            patient_id=patient["id"], starts_at=now - timedelta(days=2), did_not_arrive=True
        )
        cancelled = fake.add_appointment(
            patient_id=patient["id"], starts_at=now + timedelta(days=1)
        )
        fake.update_appointment(cancelled["id"], cancelled_at="2026-01-01T00:00:00Z")
        upcoming = now + timedelta(days=7)
        fake.add_appointment(patient_id=patient["id"], starts_at=upcoming, appointment_type_id=2)
        key = make_key(session, org, "reader")
        synced(session, engine, org, fake, connect, settings)
        # when
        body = gql(api, ACTIVITY, key, value=str(patient["id"]))
        # then
        activity = body["data"]["contactByIdentifier"]["activity"]
        assert [a["status"] for a in activity["recentAppointments"]] == [
            "did_not_arrive",
            "arrived",
        ]
        assert [a["status"] for a in activity["upcomingAppointments"]] == ["cancelled", "booked"]
        assert activity["upcomingAppointments"][1]["telehealth"] is True
        # the last kept one, not the missed one; the next booked one, not the cancelled one
        last = datetime.fromisoformat(activity["lastAppointmentAt"])
        assert abs(last - (now - timedelta(days=10))) < timedelta(seconds=1)
        nxt = datetime.fromisoformat(activity["nextAppointmentAt"])
        assert abs(nxt - upcoming) < timedelta(seconds=1)
        assert activity["lastPractitioner"] == "Dr Jane"

    def test_a_contact_without_appointments(
        self, session, org, api, engine, fake, connect, settings
    ):
        patient = fake.add_patient(first_name="No", last_name="Visits")
        key = make_key(session, org, "reader")
        synced(session, engine, org, fake, connect, settings)
        activity = gql(api, ACTIVITY, key, value=str(patient["id"]))["data"]["contactByIdentifier"][
            "activity"
        ]
        assert activity["recentAppointments"] == [] and activity["nextAppointmentAt"] is None


class TestActivePatients:
    def test_patients_with_a_kept_appointment_in_the_window(
        self, session, engine, org, fake, connect, settings, api
    ):
        now = datetime.now(UTC)
        seen = fake.add_patient(first_name="Seen", last_name="Recently")
        booked = fake.add_patient(first_name="Booked", last_name="Soon")
        missed = fake.add_patient(first_name="Missed", last_name="Only")
        fake.add_patient(first_name="Never", last_name="Came")
        fake.add_appointment(
            patient_id=seen["id"], starts_at=now - timedelta(days=20), patient_arrived=True
        )
        fake.add_appointment(patient_id=booked["id"], starts_at=now + timedelta(days=3))
        fake.add_appointment(
            patient_id=missed["id"], starts_at=now - timedelta(days=3), did_not_arrive=True
        )
        key = make_key(session, org, "reader")
        synced(session, engine, org, fake, connect, settings)
        # when paging one at a time
        first = gql(api, ACTIVE, key, days=30)["data"]["activePatients"]
        after = first["pageInfo"]["endCursor"]
        second = gql(api, ACTIVE, key, days=30, after=after)["data"]["activePatients"]
        # then
        assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"]
        names = {first["edges"][0]["node"]["firstName"], second["edges"][0]["node"]["firstName"]}
        assert names == {"Seen", "Booked"}
        assert not second["pageInfo"]["hasNextPage"]
        # a narrower window leaves the one seen 20 days ago out
        narrow = gql(api, ACTIVE, key, days=10)["data"]["activePatients"]
        assert narrow["totalCount"] == 1

    def test_a_merged_patient_s_appointments_count_for_the_survivor(
        self, session, engine, org, fake, connect, settings, api
    ):
        now = datetime.now(UTC)
        a = fake.add_patient(first_name="Kim", last_name="Lee")
        b = fake.add_patient(first_name="Kimberly", last_name="Lee")
        fake.add_appointment(patient_id=b["id"], starts_at=now + timedelta(days=2))
        key = make_key(session, org, "reader")
        synced(session, engine, org, fake, connect, settings)
        from crm.contacts.queries import contact_by_identifier

        ids = [
            contact_by_identifier(
                session, organization_id=org.id, channel="CLINIKO", value=str(p["id"]), region="AU"
            ).id
            for p in (a, b)
        ]
        with session.begin_nested():
            merge(session, organization=org, survivor_id=ids[0], merge_ids=[ids[1]], actor="t")
        session.commit()
        session.close()
        active = gql(api, ACTIVE, key, days=30)["data"]["activePatients"]
        assert [e["node"]["firstName"] for e in active["edges"]] == ["Kim"]
        activity = gql(api, ACTIVITY, key, value=str(a["id"]))["data"]["contactByIdentifier"]
        assert activity["activity"]["nextAppointmentAt"] is not None

    def test_a_bad_window_is_a_coded_error(self, session, org, api):
        key = make_key(session, org, "reader")
        session.close()
        body = gql(api, ACTIVE, key, days=0)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
