"""Production hardening: no GraphiQL, no introspection, masked bugs, and query-size limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import graphql_schema.mutations.create_contact as create_contact_mutation
from crm.contacts import queries as contact_queries
from crm.settings import Settings
from graphql_schema.app import create_app
from tests.graphql.conftest import Api, top_level_error

INTROSPECT_SCHEMA = "query Introspect { __schema { queryType { name } } }"
INTROSPECT_TYPE = 'query IntrospectType { __type(name: "Contact") { fields { name } } }'
TYPENAME = "query Typename { __typename }"

CONTACT = """
query Contact($id: ID!) { contact(id: $id) { id } }
"""

CONTACTS = """
query Contacts($after: String) { contacts(after: $after) { totalCount } }
"""

CREATE_CONTACT = """
mutation CreateContact($input: CreateContactInput!) {
  createContact(input: $input) { contact { id } errors { code field message } }
}
"""

UNEXPECTED = "Unexpected error."


def boom(*args, **kwargs):
    raise RuntimeError("secret: db password is hunter2")


def nested(depth: int) -> str:
    """A query whose deepest field is ``depth`` levels below the root field."""
    inner = "id"
    for _ in range(depth - 1):
        inner = f"mergedInto {{ {inner} }}"
    return f'query Deep {{ contact(id: "00000000-0000-0000-0000-000000000000") {{ {inner} }} }}'


def aliased(count: int) -> str:
    return "query Aliases { " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"


@pytest.fixture(params=["development", "production"])
def env_api(request, engine) -> Iterator[tuple[Api, Settings]]:
    """The app in each environment: the limits hold in both."""
    settings = Settings(env=request.param)
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        yield Api(client), settings


class TestIntrospection:
    @pytest.mark.parametrize("operation", [INTROSPECT_SCHEMA, INTROSPECT_TYPE])
    def test_production_refuses_it(self, production_api, reader_key, operation):
        # when
        body = production_api.execute(operation, key=reader_key)

        # then
        assert body["data"] is None
        assert all("introspection" in e["message"] for e in body["errors"])

    def test_development_allows_it(self, api, reader_key):
        # when
        data = api.data(INTROSPECT_TYPE, key=reader_key)

        # then
        assert "identifiers" in {f["name"] for f in data["__type"]["fields"]}

    def test_production_still_answers_typename(self, production_api, reader_key):
        # when
        data = production_api.data(TYPENAME, key=reader_key)

        # then
        assert data == {"__typename": "Query"}


class TestGraphiQL:
    def test_development_serves_it_to_a_browser(self, api):
        # when
        response = api.client.get("/graphql", headers={"Accept": "text/html"})

        # then
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "graphiql" in response.text.lower()

    @pytest.mark.parametrize("authenticated", [False, True])
    def test_production_does_not(self, production_api, reader_key, authenticated):
        # given
        headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        if authenticated:
            headers["Authorization"] = f"Bearer {reader_key}"

        # when
        response = production_api.client.get("/graphql", headers=headers)

        # then
        assert not response.headers["content-type"].startswith("text/html")
        assert "graphiql" not in response.text.lower()
        assert 400 <= response.status_code < 500


class TestErrorMasking:
    def test_production_masks_a_bug_in_a_query(self, production_api, reader_key, monkeypatch):
        # given
        monkeypatch.setattr(contact_queries, "get_contact", boom)

        # when
        response = production_api.post(CONTACT, key=reader_key, variables={"id": "x"})

        # then
        assert response.status_code == 200
        error = top_level_error(response.json())
        assert error["message"] == UNEXPECTED
        assert error["path"] == ["contact"]
        assert "secret" not in response.text
        assert "hunter2" not in response.text

    def test_production_masks_a_bug_in_a_mutation(
        self, production_api, editor_key, reader_key, monkeypatch
    ):
        # given
        monkeypatch.setattr(create_contact_mutation, "create_contact", boom)
        before = production_api.snapshot(key=reader_key)

        # when
        response = production_api.post(
            CREATE_CONTACT, key=editor_key, variables={"input": {"firstName": "Mary"}}
        )

        # then
        assert response.status_code == 200
        assert top_level_error(response.json())["message"] == UNEXPECTED
        assert "secret" not in response.text
        assert production_api.snapshot(key=reader_key) == before

    def test_development_shows_the_bug(self, api, reader_key, monkeypatch):
        # given
        monkeypatch.setattr(contact_queries, "get_contact", boom)

        # when
        body = api.execute(CONTACT, key=reader_key, variables={"id": "x"})

        # then
        assert "secret" in top_level_error(body)["message"]

    def test_production_keeps_user_errors(self, production_api, editor_key):
        # when
        data = production_api.data(
            CREATE_CONTACT, key=editor_key, variables={"input": {"email": "not-an-email"}}
        )

        # then
        errors = data["createContact"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [
            ("INVALID_EMAIL", "email"),
            ("NOTHING_TO_IDENTIFY", None),
        ]
        assert all(e["message"] != UNEXPECTED for e in errors)

    def test_production_keeps_forbidden(self, production_api, reader_key):
        # when
        body = production_api.execute(
            CREATE_CONTACT, key=reader_key, variables={"input": {"firstName": "Mary"}}
        )

        # then
        error = top_level_error(body)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "editor role" in error["message"]

    def test_production_keeps_bad_query_arguments(self, production_api, reader_key):
        # when
        body = production_api.execute(CONTACTS, key=reader_key, variables={"after": "bogus"})

        # then
        error = top_level_error(body)
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "after"}
        assert error["message"] == "invalid cursor"

    def test_production_keeps_validation_errors(self, production_api, reader_key):
        # when
        body = production_api.execute("query Typo { contacts { totalCuont } }", key=reader_key)

        # then
        message = top_level_error(body)["message"]
        assert "totalCuont" in message


class TestLimits:
    def test_depth_at_the_limit_is_served(self, env_api, reader_key):
        # given
        api, settings = env_api

        # when
        body = api.execute(nested(settings.max_query_depth), key=reader_key)

        # then
        assert body == {"data": {"contact": None}}

    def test_depth_over_the_limit_is_refused(self, env_api, reader_key):
        # given
        api, settings = env_api

        # when
        body = api.execute(nested(settings.max_query_depth + 1), key=reader_key)

        # then
        assert body["data"] is None
        assert "exceeds maximum operation depth" in top_level_error(body)["message"]

    def test_aliases_at_the_limit_are_served(self, env_api, reader_key):
        # given
        api, settings = env_api

        # when
        data = api.data(aliased(settings.max_aliases), key=reader_key)

        # then
        assert len(data) == settings.max_aliases

    def test_the_limits_count_each_request_afresh(self, env_api, reader_key):
        # given
        api, settings = env_api
        api.data(aliased(settings.max_aliases), key=reader_key)

        # when
        data = api.data(aliased(settings.max_aliases), key=reader_key)

        # then
        assert len(data) == settings.max_aliases

    def test_aliases_over_the_limit_are_refused(self, env_api, reader_key):
        # given
        api, settings = env_api

        # when
        body = api.execute(aliased(settings.max_aliases + 1), key=reader_key)

        # then
        assert body["data"] is None
        assert "aliases" in top_level_error(body)["message"]

    def test_tokens_over_the_limit_are_refused(self, env_api, reader_key):
        # given: names, braces, parentheses and colons count; a string argument is one token
        api, settings = env_api
        fields = " ".join(["totalCount"] * settings.max_tokens)
        operation = f"query Big {{ contacts {{ {fields} }} }}"

        # when
        body = api.execute(operation, key=reader_key)

        # then
        assert body["data"] is None
        assert "more than" in top_level_error(body)["message"]
        assert str(settings.max_tokens) in top_level_error(body)["message"]

    def test_the_limits_come_from_the_settings(self, engine, reader_key):
        # given
        settings = Settings(env="production", max_tokens=40, max_aliases=2, max_query_depth=3)
        with TestClient(create_app(engine=engine, settings=settings)) as client:
            api = Api(client)

            # when
            small = api.execute(nested(3), key=reader_key)
            deep = api.execute(nested(4), key=reader_key)
            aliases = api.execute(aliased(3), key=reader_key)
            tokens = api.execute(
                "query T { " + " ".join(["__typename"] * 40) + " }", key=reader_key
            )

        # then
        assert small == {"data": {"contact": None}}
        assert "depth of 3" in top_level_error(deep)["message"]
        assert "Allowed: 2" in top_level_error(aliases)["message"]
        assert "more than 40 tokens" in top_level_error(tokens)["message"]
