"""Admin keys manage the organization's keys: apiKeys, createApiKey, revokeApiKey."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from crm import db as crm_db
from crm.models import ApiKey
from graphql_schema.app import create_app
from tests.graphql.conftest import Api, top_level_error

API_KEYS = """
query($first: Int, $after: String, $includeRevoked: Boolean) {
  apiKeys(first: $first, after: $after, includeRevoked: $includeRevoked) {
    totalCount
    edges { node { id prefix name role sources createdAt lastUsedAt revokedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    key
    apiKey { id prefix name role sources revokedAt }
    errors { code field message }
  }
}
"""
REVOKE = """
mutation($id: ID!) {
  revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } errors { code field } }
}
"""
RESOLVE = """
mutation($source: String) {
  resolveContact(input: {channel: WHATSAPP, value: "+61 412 345 678", source: $source}) {
    contact { id } errors { code field }
  }
}
"""
WHO = "{ contacts(first: 1) { totalCount } }"


def key_count(session) -> int:
    count = session.execute(select(func.count()).select_from(ApiKey)).scalar_one()
    session.rollback()  # SQLite: a reading session would hold the write lock
    return count


def key_id(session, **where) -> str:
    found = session.execute(select(ApiKey.id).filter_by(**where)).scalar_one()
    session.rollback()
    return str(found)


def listed(api: Api, key: str, **variables) -> list[dict]:
    data = api.data(API_KEYS, key=key, variables=variables or None)["apiKeys"]
    return [edge["node"] for edge in data["edges"]]


class TestApiKeys:
    def test_lists_every_key_without_its_secret(self, api, admin_key, reader_key, revoke):
        # given
        revoke(reader_key)

        # when
        response = api.post(API_KEYS, key=admin_key)

        # then
        nodes = [edge["node"] for edge in response.json()["data"]["apiKeys"]["edges"]]
        assert [n["role"] for n in nodes] == ["ADMIN", "READER"]
        assert nodes[0]["prefix"] == admin_key[:12]
        assert nodes[0]["sources"] == ["api"]
        assert nodes[0]["revokedAt"] is None
        assert nodes[1]["revokedAt"] is not None
        assert admin_key not in response.text
        assert reader_key not in response.text

    def test_only_active_keys_when_asked(self, api, admin_key, reader_key, revoke):
        # given
        revoke(reader_key)

        # when
        nodes = listed(api, admin_key, includeRevoked=False)

        # then
        assert [n["role"] for n in nodes] == ["ADMIN"]

    def test_records_when_a_key_was_last_used(self, api, admin_key, reader_key, editor_key):
        # given
        api.data(WHO, key=reader_key)

        # when
        nodes = {n["role"]: n for n in listed(api, admin_key)}

        # then
        assert nodes["READER"]["lastUsedAt"] is not None
        assert nodes["ADMIN"]["lastUsedAt"] is not None  # this very request
        assert nodes["EDITOR"]["lastUsedAt"] is None

    def test_pages_with_a_cursor(self, api, session, org, admin_key, reader_key, editor_key):
        # when
        first = api.data(API_KEYS, key=admin_key, variables={"first": 2})["apiKeys"]
        rest = api.data(
            API_KEYS,
            key=admin_key,
            variables={"first": 2, "after": first["pageInfo"]["endCursor"]},
        )["apiKeys"]

        # then
        assert first["totalCount"] == 3
        assert first["pageInfo"]["hasNextPage"] is True
        assert rest["pageInfo"]["hasNextPage"] is False
        ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
        assert len(set(ids)) == 3

    @pytest.mark.parametrize("role", ["reader", "editor"])
    def test_needs_an_admin_key(self, api, request, role):
        # given
        key = request.getfixturevalue(f"{role}_key")

        # when
        error = top_level_error(api.execute(API_KEYS, key=key))

        # then
        assert error["extensions"]["code"] == "FORBIDDEN"

    def test_never_lists_another_organizations_keys(self, api, admin_key, foreign_key):
        # when
        nodes = listed(api, admin_key)

        # then
        assert [n["prefix"] for n in nodes] == [admin_key[:12]]


class TestCreateApiKey:
    def test_shows_the_new_key_once_and_it_works_with_its_role(self, api, admin_key):
        # when
        payload = api.data(
            CREATE, key=admin_key, variables={"input": {"role": "READER", "name": "frontend"}}
        )["createApiKey"]

        # then
        assert payload["errors"] == []
        new_key = payload["key"]
        assert payload["apiKey"]["prefix"] == new_key[:12]
        assert payload["apiKey"]["name"] == "frontend"
        assert api.data(WHO, key=new_key)["contacts"]["totalCount"] == 0
        error = top_level_error(api.execute(API_KEYS, key=new_key))
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert new_key not in api.post(API_KEYS, key=admin_key).text

    def test_the_key_keeps_its_sources(self, api, admin_key):
        # given
        payload = api.data(
            CREATE,
            key=admin_key,
            variables={"input": {"role": "EDITOR", "sources": ["WhatsApp", "csv"]}},
        )["createApiKey"]
        new_key = payload["key"]

        # when
        allowed = api.data(RESOLVE, key=new_key, variables={"source": "csv"})["resolveContact"]
        refused = api.data(RESOLVE, key=new_key, variables={"source": "api"})["resolveContact"]

        # then
        assert payload["apiKey"]["sources"] == ["whatsapp", "csv"]
        assert allowed["errors"] == []
        assert refused["errors"] == [{"code": "SOURCE_NOT_ALLOWED", "field": "source"}]

    @pytest.mark.parametrize("source", ["manual", "Manual", "cliniko"])
    def test_cannot_claim_manual_or_a_source_above_its_own(self, api, session, admin_key, source):
        # given
        before = key_count(session)

        # when
        payload = api.data(
            CREATE, key=admin_key, variables={"input": {"role": "ADMIN", "sources": [source]}}
        )["createApiKey"]

        # then
        assert payload["key"] is None
        assert [e["code"] for e in payload["errors"]] == ["SOURCE_NOT_ALLOWED"]
        assert key_count(session) == before

    def test_needs_an_admin_key(self, api, session, editor_key):
        # when
        error = top_level_error(
            api.execute(CREATE, key=editor_key, variables={"input": {"role": "ADMIN"}})
        )

        # then
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert key_count(session) == 1


@pytest.fixture
def second_app(engine, settings) -> Iterator[Api]:
    """Another API process on the same database: its own engine, pools and app."""
    url = engine.url.render_as_string(hide_password=False)
    other = crm_db.make_engine(url)
    try:
        with TestClient(create_app(engine=other, settings=settings)) as client:
            yield Api(client)
    finally:
        other.dispose()


class TestRevokeApiKey:
    def test_a_revoked_key_fails_at_once_in_every_process(self, api, second_app, admin_key):
        # given a key both processes have just accepted
        created = api.data(CREATE, key=admin_key, variables={"input": {"role": "READER"}})
        key, key_id = created["createApiKey"]["key"], created["createApiKey"]["apiKey"]["id"]
        assert api.post(WHO, key=key).status_code == 200
        assert second_app.post(WHO, key=key).status_code == 200

        # when one of them revokes it
        payload = api.data(REVOKE, key=admin_key, variables={"id": key_id})["revokeApiKey"]

        # then both refuse it on the next request
        assert payload["errors"] == []
        assert payload["apiKey"]["revokedAt"] is not None
        assert second_app.post(WHO, key=key).status_code == 401
        assert api.post(WHO, key=key).status_code == 401

    def test_revoking_again_changes_nothing(self, api, admin_key, reader_key, session):
        # given
        reader_id = key_id(session, role="reader")
        first = api.data(REVOKE, key=admin_key, variables={"id": reader_id})["revokeApiKey"]

        # when
        again = api.data(REVOKE, key=admin_key, variables={"id": reader_id})["revokeApiKey"]

        # then
        assert again["errors"] == []
        assert again["apiKey"]["revokedAt"] == first["apiKey"]["revokedAt"]

    def test_another_organizations_key_is_not_found(self, api, session, admin_key, foreign_key):
        # given
        foreign_id = key_id(session, prefix=foreign_key[:12])

        # when
        payload = api.data(REVOKE, key=admin_key, variables={"id": foreign_id})

        # then
        assert payload["revokeApiKey"]["errors"] == [{"code": "NOT_FOUND", "field": "id"}]
        assert api.post(WHO, key=foreign_key).status_code == 200

    def test_needs_an_admin_key(self, api, session, editor_key, admin_key):
        # given
        admin_id = key_id(session, prefix=admin_key[:12])

        # when
        error = top_level_error(api.execute(REVOKE, key=editor_key, variables={"id": admin_id}))

        # then
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert api.post(WHO, key=admin_key).status_code == 200
