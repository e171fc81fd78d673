"""PMS connections over GraphQL (admin keys): create, test, trigger, runs, update, delete."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import make_key
from tests.pms.conftest import API_KEY, gql
from tests.workers import drain

CREATE = """
mutation Create($input: CreatePmsConnectionInput!) {
  createPmsConnection(input: $input) {
    pmsConnection { id type displayName syncEnabled syncFrequencyMinutes lastSync { status } }
    errors { field message code }
  }
}
"""
TRIGGER = """
mutation Trigger($id: ID!) {
  triggerPmsSync(input: {connectionId: $id, full: true}) {
    pmsSyncRun { id status kind startedAt completedAt patientsFetched patientsCreated
                 patientsUpdated appointmentsFetched error }
    errors { code message }
  }
}
"""
CONNECTION = """
query One($id: ID!) {
  pmsConnection(id: $id) { id displayName lastSync { status patientsCreated } }
  pmsConnections { id }
  pmsSyncRuns(connectionId: $id, first: 10) { totalCount edges { node { id status } } }
}
"""
UPDATE = """
mutation ($id: ID!) {
  updatePmsConnection(input: {id: $id, displayName: "Renamed", syncFrequencyMinutes: 30,
                              syncEnabled: false}) {
    pmsConnection { displayName syncFrequencyMinutes syncEnabled }
    errors { code }
  }
}
"""
BY_ID = """
query ($value: String!) { contactByIdentifier(channel: CLINIKO, value: $value) { firstName } }
"""


def create(client, key, fake, **extra) -> dict:
    variables = {
        "type": "CLINIKO",
        "credentials": {"apiKey": API_KEY},
        "baseUrl": fake.base_url,
        **extra,
    }
    return gql(client, CREATE, key, input=variables)


class TestConnections:
    def test_create_then_sync_then_find_the_patient(self, session, org, api, fake):
        key = make_key(session, org, "admin")
        session.close()
        patient = fake.add_patient(first_name="Grace", last_name="Hopper")
        # when
        body = create(api, key, fake, displayName="Main clinic")
        # then
        assert API_KEY not in json.dumps(body)
        created = body["data"]["createPmsConnection"]
        assert created["errors"] == []
        connection = created["pmsConnection"]
        assert connection["type"] == "CLINIKO" and connection["lastSync"] is None
        assert connection["syncFrequencyMinutes"] == 15
        # when a sync is triggered (no Redis: it runs inline)
        run = gql(api, TRIGGER, key, id=connection["id"])["data"]["triggerPmsSync"]
        assert run["errors"] == []
        assert run["pmsSyncRun"]["status"] == "SUCCESS"
        assert run["pmsSyncRun"]["patientsCreated"] == 1
        # then
        found = gql(api, BY_ID, key, value=str(patient["id"]))["data"]["contactByIdentifier"]
        assert found == {"firstName": "Grace"}
        data = gql(api, CONNECTION, key, id=connection["id"])["data"]
        assert data["pmsConnection"]["lastSync"] == {"status": "SUCCESS", "patientsCreated": 1}
        assert data["pmsSyncRuns"]["totalCount"] == 1
        assert [c["id"] for c in data["pmsConnections"]] == [connection["id"]]

    def test_refused_credentials_are_a_coded_error(self, session, org, api, fake):
        key = make_key(session, org, "admin")
        session.close()
        fake.api_key = "other-au2"
        body = create(api, key, fake)["data"]["createPmsConnection"]
        assert body["pmsConnection"] is None
        assert [e["code"] for e in body["errors"]] == ["PMS_AUTH_FAILED"]
        assert API_KEY not in json.dumps(body)

    def test_missing_credentials_are_bad_input(self, session, org, api, fake):
        key = make_key(session, org, "admin")
        session.close()
        body = gql(api, CREATE, key, input={"type": "CLINIKO", "credentials": {"key": "x"}})[
            "data"
        ]["createPmsConnection"]
        assert [(e["code"], e["field"]) for e in body["errors"]] == [
            ("INVALID_INPUT", "credentials")
        ]

    def test_a_credential_it_does_not_take_is_named_not_kept(self, session, org, api, fake):
        """A setting in the wrong place (the address among the credentials) would be stored
        and ignored: it is refused, saying where it goes; a key that is no name (a secret
        pasted as a key) is not repeated."""
        key = make_key(session, org, "admin")
        session.close()
        credentials = {"apiKey": API_KEY, "baseUrl": fake.base_url, "MS0x-secret-au1": True}
        body = gql(api, CREATE, key, input={"type": "CLINIKO", "credentials": credentials})["data"][
            "createPmsConnection"
        ]
        assert body["pmsConnection"] is None
        [error] = body["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "credentials")
        assert "'baseUrl'" in error["message"] and "crm pms add --base-url" in error["message"]
        assert "MS0x-secret" not in error["message"] and API_KEY not in error["message"]

    @pytest.mark.parametrize("role", ["reader", "editor"])
    def test_only_admins_manage_connections(self, session, org, api, fake, role):
        key = make_key(session, org, role)
        session.close()
        body = create(api, key, fake)
        assert body["errors"] and body["data"] is None

    def test_another_organization_sees_nothing(self, session, org, other_org, api, fake):
        mine = make_key(session, org, "admin")
        theirs = make_key(session, other_org, "admin")
        session.close()
        connection = create(api, mine, fake)["data"]["createPmsConnection"]["pmsConnection"]
        data = gql(api, CONNECTION, theirs, id=connection["id"])
        assert data["data"] is None or data["data"]["pmsConnection"] is None
        trigger = gql(api, TRIGGER, theirs, id=connection["id"])["data"]["triggerPmsSync"]
        assert [e["code"] for e in trigger["errors"]] == ["NOT_FOUND"]

    def test_update_test_and_delete(self, session, org, api, fake):
        key = make_key(session, org, "admin")
        session.close()
        cid = create(api, key, fake)["data"]["createPmsConnection"]["pmsConnection"]["id"]
        updated = gql(
            api,
            UPDATE,
            key,
            id=cid,
        )["data"]["updatePmsConnection"]
        assert updated["pmsConnection"] == {
            "displayName": "Renamed",
            "syncFrequencyMinutes": 30,
            "syncEnabled": False,
        }
        fake.api_key = "revoked-au2"
        tested = gql(
            api,
            "mutation ($id: ID!) { testPmsConnection(input: {id: $id}) { ok errors { code } } }",
            key,
            id=cid,
        )["data"]["testPmsConnection"]
        assert tested == {"ok": False, "errors": [{"code": "PMS_AUTH_FAILED"}]}
        deleted = gql(
            api,
            "mutation ($id: ID!) { deletePmsConnection(input: {id: $id}) { deletedId } }",
            key,
            id=cid,
        )["data"]["deletePmsConnection"]
        assert deleted == {"deletedId": cid}
        assert gql(api, "{ pmsConnections { id } }", key)["data"]["pmsConnections"] == []


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
class TestTriggerWithRedis:
    def test_the_run_answers_running_and_the_worker_finishes_it(
        self, session, org, engine, fake, monkeypatch, queue_name
    ):
        import asyncio

        from starlette.testclient import TestClient

        import jobs.queue
        from crm.models import PmsSyncRun
        from crm.settings import Settings, get_settings
        from graphql_schema.app import create_app
        from tests.pms.conftest import REDIS_SKIP, REDIS_URL

        if not REDIS_URL:
            pytest.skip(REDIS_SKIP)
        monkeypatch.setenv("CRM_REDIS_URL", REDIS_URL)
        monkeypatch.setattr(jobs.queue, "QUEUE_NAME", queue_name)
        get_settings.cache_clear()
        key = make_key(session, org, "admin")
        fake.add_patient(first_name="Back", last_name="Ground")
        session.close()
        settings = Settings(env="development", redis_url=REDIS_URL)
        with TestClient(create_app(engine=engine, settings=settings)) as client:
            cid = create(client, key, fake)["data"]["createPmsConnection"]["pmsConnection"]["id"]
            run = gql(client, TRIGGER, key, id=cid)["data"]["triggerPmsSync"]["pmsSyncRun"]
        # then it answered at once, the run still running
        assert run["status"] == "RUNNING"

        async def work() -> int:
            return await drain(REDIS_URL, queue_name)

        assert asyncio.run(work()) == 1
        finished = session.get(PmsSyncRun, uuid.UUID(run["id"]))
        assert (finished.status, finished.patients_created) == ("success", 1)
