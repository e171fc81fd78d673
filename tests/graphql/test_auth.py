"""Who may call what: an API key authenticates (HTTP 401 without one), its role authorizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crm.models import Contact
from tests.graphql.conftest import top_level_error

CONTACTS = "query Contacts { contacts { totalCount } }"

CREATE_CONTACT = """
mutation CreateContact($input: CreateContactInput!) {
  createContact(input: $input) { contact { id } errors { code field message } }
}
"""

UPDATE_CONTACT = """
mutation UpdateContact($input: UpdateContactInput!) {
  updateContact(input: $input) { contact { id } errors { code field message } }
}
"""

RESOLVE_CONTACT = """
mutation ResolveContact($input: ResolveContactInput!) {
  resolveContact(input: $input) { created contact { id } errors { code field message } }
}
"""

LINK_IDENTIFIER = """
mutation LinkIdentifier($input: IdentifierInput!) {
  linkIdentifier(input: $input) { contact { id } errors { code field message } }
}
"""

UNLINK_IDENTIFIER = """
mutation UnlinkIdentifier($input: IdentifierInput!) {
  unlinkIdentifier(input: $input) { contact { id } errors { code field message } }
}
"""

# each mutation with an input that an editor may apply to the contact John Smith
MUTATIONS: dict[str, tuple[str, Callable[[Contact], dict[str, Any]]]] = {
    "createContact": (
        CREATE_CONTACT,
        lambda _: {"input": {"firstName": "Mary", "email": "mary@example.com"}},
    ),
    "updateContact": (
        UPDATE_CONTACT,
        lambda c: {"input": {"id": str(c.id), "version": c.version, "firstName": "Jon"}},
    ),
    "resolveContact": (
        RESOLVE_CONTACT,
        lambda _: {"input": {"channel": "WHATSAPP", "value": "+61 498 765 432"}},
    ),
    "linkIdentifier": (
        LINK_IDENTIFIER,
        lambda c: {"input": {"contactId": str(c.id), "channel": "CLINIKO", "value": "9001"}},
    ),
    "unlinkIdentifier": (
        UNLINK_IDENTIFIER,
        lambda c: {
            "input": {"contactId": str(c.id), "channel": "EMAIL", "value": "john@example.com"}
        },
    ),
}


@pytest.fixture
def john(import_contact) -> Contact:
    return import_contact(first_name="John", last_name="Smith", email="john@example.com")


class TestAuthentication:
    def test_a_valid_key_is_served(self, api, reader_key, john):
        # when
        body = api.execute(CONTACTS, key=reader_key)

        # then
        assert body == {"data": {"contacts": {"totalCount": 1}}}

    @pytest.mark.parametrize(
        "authorization",
        [
            pytest.param(None, id="no header"),
            pytest.param("Bearer", id="no key"),
            pytest.param("Bearer    ", id="blank key"),
            pytest.param("Bearer crm_not-a-real-key", id="unknown key"),
            pytest.param("Bearer garbage", id="garbage"),
            pytest.param("Bearer " + "crm_" + "x" * 5000, id="oversized"),
            pytest.param("Token crm_abc", id="other scheme"),
        ],
    )
    def test_a_missing_or_unknown_key_is_401(self, api, admin_key, authorization):
        # given
        headers = {} if authorization is None else {"Authorization": authorization}

        # when
        response = api.post(CONTACTS, key=None, headers=headers)

        # then
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert top_level_error(response.json())["extensions"]["code"] == "UNAUTHENTICATED"

    def test_a_valid_key_in_another_scheme_is_401(self, api, admin_key):
        # when
        response = api.post(CONTACTS, key=None, headers={"Authorization": f"Basic {admin_key}"})

        # then
        assert response.status_code == 401

    def test_a_revoked_key_is_401_at_once(self, api, admin_key, revoke):
        # given
        assert api.post(CONTACTS, key=admin_key).status_code == 200
        revoke(admin_key)

        # when
        response = api.post(CONTACTS, key=admin_key)

        # then
        assert response.status_code == 401

    def test_a_mutation_without_a_key_changes_nothing(self, api, admin_key, john):
        # given
        before = api.snapshot(key=admin_key)
        operation, variables = MUTATIONS["createContact"]

        # when
        response = api.post(operation, key=None, variables=variables(john))

        # then
        assert response.status_code == 401
        assert api.snapshot(key=admin_key) == before

    def test_the_scheme_name_is_case_insensitive(self, api, admin_key):
        # when
        response = api.post(CONTACTS, key=None, headers={"Authorization": f"bearer {admin_key}"})

        # then
        assert response.status_code == 200


class TestRoles:
    @pytest.mark.parametrize("name", MUTATIONS)
    def test_a_reader_cannot_mutate(self, api, reader_key, admin_key, john, name):
        # given
        operation, variables = MUTATIONS[name]
        before = api.snapshot(key=admin_key)

        # when
        body = api.execute(operation, key=reader_key, variables=variables(john))

        # then
        error = top_level_error(body)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["path"] == [name]
        assert "editor" in error["message"]
        assert body["data"] is None
        assert api.snapshot(key=admin_key) == before

    @pytest.mark.parametrize("name", MUTATIONS)
    def test_an_editor_can_mutate(self, api, editor_key, john, name):
        # given
        operation, variables = MUTATIONS[name]

        # when
        data = api.data(operation, key=editor_key, variables=variables(john))

        # then
        assert data[name]["errors"] == []
        assert data[name]["contact"]["id"]

    def test_an_admin_can_do_what_an_editor_can(self, api, admin_key, john):
        # given
        operation, variables = MUTATIONS["updateContact"]

        # when
        data = api.data(operation, key=admin_key, variables=variables(john))

        # then
        assert data["updateContact"]["errors"] == []

    def test_a_reader_can_query(self, api, reader_key, john):
        # given
        operation = """
        query All($id: ID!) {
          contact(id: $id) { id }
          contacts { totalCount }
          contactByIdentifier(channel: EMAIL, value: "john@example.com") { id }
          contactsByIdentifier(channel: EMAIL, value: "john@example.com") { id }
        }
        """

        # when
        data = api.data(operation, key=reader_key, variables={"id": str(john.id)})

        # then
        assert data["contact"]["id"] == str(john.id)
        assert data["contacts"]["totalCount"] == 1
        assert data["contactByIdentifier"]["id"] == str(john.id)
        assert [c["id"] for c in data["contactsByIdentifier"]] == [str(john.id)]
