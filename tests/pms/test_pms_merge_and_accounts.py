"""A patient merged in the PMS merges here as the PMS's decision, undoable; one account of
each PMS per organization (two accounts' patient ids may be the same)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from crm.contacts.queries import contact_by_identifier
from crm.errors import ErrorCode, ServiceError
from crm.models import Merge, PmsConnection
from crm.pms.sync import sync_connection
from tests.conftest import make_key
from tests.pms.conftest import API_KEY, gql

HISTORY = """
query ($id: ID!) {
  contact(id: $id, followMerges: false) {
    id status history(first: 50) { edges { node { kind actor data } } }
  }
}
"""
UNMERGE = """
mutation ($id: ID!) {
  unmergeContact(input: {contactId: $id}) { contact { id status } errors { code message } }
}
"""
CREATE = """
mutation ($input: CreatePmsConnectionInput!) {
  createPmsConnection(input: $input) { pmsConnection { id } errors { code field message } }
}
"""


def holder(session, org, pms_id):
    session.expire_all()
    return contact_by_identifier(
        session, organization_id=org.id, channel="CLINIKO", value=str(pms_id), region="AU"
    )


def sync(session, engine, org, connection, settings):
    session.commit()
    session.close()
    return sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings
    )


def test_a_cliniko_merge_is_recorded_as_the_pms_s_and_undone_with_unmerge_contact(
    engine, session, org, fake, connect, settings, api
):
    # given two patients synced as two contacts
    keep = fake.add_patient(first_name="Jo", last_name="Citizen", email="jo@example.com")
    dup = fake.add_patient(first_name="Joanne", last_name="Citizen")
    connection = connect()
    sync(session, engine, org, connection, settings)
    dup_contact = holder(session, org, dup["id"]).id
    # when Cliniko merges them and the next sync runs
    fake.merge_patients(dup["id"], into=keep["id"])
    assert sync(session, engine, org, connection, settings).patients_merged == 1
    # then the merge is the PMS's, by the connection
    merge = session.exec(select(Merge).where(Merge.merged_id == dup_contact)).one()
    assert (merge.reason, merge.actor) == ("pms", f"pms:{connection.id}")
    key = make_key(session, org, "admin")
    session.close()
    contact = gql(api, HISTORY, key, id=str(dup_contact))["data"]["contact"]
    assert contact["status"] == "MERGED"
    merged = [e["node"] for e in contact["history"]["edges"] if e["node"]["kind"] == "merged"]
    assert [(e["actor"], e["data"]["reason"]) for e in merged] == [(f"pms:{connection.id}", "pms")]
    # and an admin undoes it like any merge
    body = gql(api, UNMERGE, key, id=str(dup_contact))["data"]["unmergeContact"]
    assert body == {"contact": {"id": str(dup_contact), "status": "ACTIVE"}, "errors": []}
    assert holder(session, org, dup["id"]).id == dup_contact
    assert holder(session, org, keep["id"]).id != dup_contact
    session.expire_all()
    assert session.get(Merge, merge.id).undone_at is not None


class TestOneAccountPerPms:
    def test_a_second_cliniko_connection_is_refused_with_its_code(
        self, session, org, fake, connect
    ):
        first = connect()
        requests = len(fake.requests)
        with pytest.raises(ServiceError) as caught:
            connect()
        assert caught.value.code == ErrorCode.PMS_CONNECTION_EXISTS
        assert caught.value.field == "type" and str(first.id) in caught.value.message
        assert len(fake.requests) == requests  # refused before the PMS was asked
        session.rollback()
        assert [c.id for c in session.exec(select(PmsConnection)).all()] == [first.id]

    def test_over_graphql_and_other_organizations_are_not_concerned(
        self, session, org, other_org, fake, api
    ):
        mine, theirs = make_key(session, org, "admin"), make_key(session, other_org, "admin")
        session.close()
        cliniko = {"type": "CLINIKO", "credentials": {"apiKey": API_KEY}, "baseUrl": fake.base_url}
        first = gql(api, CREATE, mine, input=cliniko)["data"]["createPmsConnection"]
        assert first["errors"] == []
        again = gql(api, CREATE, mine, input=cliniko)["data"]["createPmsConnection"]
        assert again["pmsConnection"] is None
        assert [(e["code"], e["field"]) for e in again["errors"]] == [
            ("PMS_CONNECTION_EXISTS", "type")
        ]
        # another organization connects its own account
        other = gql(api, CREATE, theirs, input=cliniko)["data"]["createPmsConnection"]
        assert other["errors"] == []
