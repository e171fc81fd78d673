"""Bad input is explained, never a crash: mutations return UserErrors (code and field), queries
coded GraphQL errors, and no malformed request gets an HTTP 500."""

from __future__ import annotations

from typing import Any

import pytest

from crm.models import Contact
from tests.graphql.conftest import top_level_error

CONTACT_FIELDS = "contact { id } errors { code field message }"

CREATE_CONTACT = f"""
mutation CreateContact($input: CreateContactInput!) {{
  createContact(input: $input) {{ {CONTACT_FIELDS} }}
}}
"""

UPDATE_CONTACT = f"""
mutation UpdateContact($input: UpdateContactInput!) {{
  updateContact(input: $input) {{ {CONTACT_FIELDS} }}
}}
"""

RESOLVE_CONTACT = f"""
mutation ResolveContact($input: ResolveContactInput!) {{
  resolveContact(input: $input) {{ created {CONTACT_FIELDS} }}
}}
"""

LINK_IDENTIFIER = f"""
mutation LinkIdentifier($input: IdentifierInput!) {{
  linkIdentifier(input: $input) {{ {CONTACT_FIELDS} }}
}}
"""

UNLINK_IDENTIFIER = f"""
mutation UnlinkIdentifier($input: IdentifierInput!) {{
  unlinkIdentifier(input: $input) {{ {CONTACT_FIELDS} }}
}}
"""

CONTACTS = """
query Contacts($first: Int, $after: String, $filter: ContactFilter) {
  contacts(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { endCursor }
  }
}
"""

CONTACT_BY_IDENTIFIER = """
query ContactByIdentifier($channel: Channel!, $value: String!) {
  contactByIdentifier(channel: $channel, value: $value) { id }
}
"""

BY_IDENTIFIER = """
query ByIdentifier($channel: Channel!, $value: String!) {
  %s(channel: $channel, value: $value) { id }
}
"""

HISTORY = """
query History($id: ID!, $first: Int!, $after: String) {
  contact(id: $id) { history(first: $first, after: $after) { edges { node { kind } } } }
}
"""


def graphql_answer(body: dict[str, Any]) -> bool:
    """A GraphQL response: top-level errors, or data (whose payloads may carry UserErrors)."""
    return bool(body.get("errors")) or bool(body.get("data"))


def user_errors(data: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(code, field) of each UserError of the one mutation in ``data``; its result is null."""
    (payload,) = data.values()
    assert payload["contact"] is None, payload
    assert all(e["message"] for e in payload["errors"])
    return [(e["code"], e["field"]) for e in payload["errors"]]


@pytest.fixture
def john(import_contact) -> Contact:
    return import_contact(
        first_name="John",
        last_name="Smith",
        email="john@example.com",
        phone="0412 345 678",
        cliniko_id="1001",
    )


@pytest.fixture
def jane(import_contact) -> Contact:
    return import_contact(first_name="Jane", last_name="Doe", email="jane@example.com")


class TestCreateContactErrors:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            pytest.param({"email": "john.example.com"}, ("INVALID_EMAIL", "email"), id="email"),
            pytest.param({"phone": "12"}, ("INVALID_PHONE", "phone"), id="phone"),
            pytest.param({"phone": "1" * 200}, ("INVALID_PHONE", "phone"), id="long phone"),
            pytest.param({"dateOfBirth": "31/02/1990"}, ("INVALID_DATE", "dateOfBirth"), id="date"),
            pytest.param({"dateOfBirth": "1890-01-01"}, ("INVALID_DATE", "dateOfBirth"), id="1890"),
            pytest.param(
                {"dateOfBirth": "2990-01-01"}, ("INVALID_DATE", "dateOfBirth"), id="future"
            ),
            pytest.param({"dateOfBirth": "yesterday"}, ("INVALID_DATE", "dateOfBirth"), id="words"),
            pytest.param({"firstName": "J" * 101}, ("INVALID_NAME", "firstName"), id="long name"),
            pytest.param({"lastName": "Sm\u0007ith"}, ("INVALID_NAME", "lastName"), id="control"),
        ],
    )
    def test_an_invalid_value_is_a_user_error_on_its_field(
        self, api, editor_key, admin_key, values, expected
    ):
        # given
        before = api.snapshot(key=admin_key)
        given = {"firstName": "Mary", "email": "mary@example.com", **values}

        # when
        data = api.data(CREATE_CONTACT, key=editor_key, variables={"input": given})

        # then
        assert user_errors(data) == [expected]
        assert api.snapshot(key=admin_key) == before

    def test_every_invalid_value_is_reported(self, api, editor_key):
        # given
        given = {"firstName": "Mary", "email": "nope", "phone": "12", "dateOfBirth": "1990-13-01"}

        # when
        data = api.data(CREATE_CONTACT, key=editor_key, variables={"input": given})

        # then
        assert sorted(user_errors(data)) == [
            ("INVALID_DATE", "dateOfBirth"),
            ("INVALID_EMAIL", "email"),
            ("INVALID_PHONE", "phone"),
        ]

    @pytest.mark.parametrize(
        "given",
        [
            pytest.param({}, id="empty"),
            pytest.param({"firstName": "   ", "address": {"city": "Bondi"}}, id="blank name"),
        ],
    )
    def test_nothing_to_identify(self, api, editor_key, given):
        # when
        data = api.data(CREATE_CONTACT, key=editor_key, variables={"input": given})

        # then
        assert user_errors(data) == [("NOTHING_TO_IDENTIFY", None)]

    def test_only_invalid_identifiers_is_nothing_to_identify_too(self, api, editor_key):
        # when
        data = api.data(
            CREATE_CONTACT, key=editor_key, variables={"input": {"email": "no-at-sign"}}
        )

        # then
        assert user_errors(data) == [("INVALID_EMAIL", "email"), ("NOTHING_TO_IDENTIFY", None)]

    @pytest.mark.parametrize(
        ("given", "field"),
        [
            pytest.param({"firstName": "John", "email": "JOHN@Example.com"}, "email", id="email"),
            pytest.param({"firstName": "Johnny", "phone": "+61412345678"}, "phone", id="phone"),
        ],
    )
    def test_an_identifier_of_the_same_person_is_a_duplicate(
        self, api, editor_key, admin_key, john, given, field
    ):
        # given
        before = api.snapshot(key=admin_key)

        # when
        data = api.data(CREATE_CONTACT, key=editor_key, variables={"input": given})

        # then
        assert user_errors(data) == [("DUPLICATE_CONTACT", field)]
        assert api.snapshot(key=admin_key) == before


class TestUpdateContactErrors:
    def test_an_unknown_id_is_not_found(self, api, editor_key):
        # when
        data = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": "not-a-uuid", "firstName": "Jon"}},
        )

        # then
        assert user_errors(data) == [("NOT_FOUND", "id")]

    def test_an_erased_contact_is_not_active(self, api, editor_key, john, set_status):
        # given
        set_status(john, status="erased")

        # when
        data = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(john.id), "firstName": "Jo"}},
        )

        # then
        assert user_errors(data) == [("NOT_ACTIVE", "id")]

    def test_a_merged_contact_s_edit_goes_to_its_survivor_and_says_so(
        self, api, editor_key, john, jane, set_status
    ):
        # given
        set_status(john, status="merged", merged_into=jane)

        # when
        data = api.data(
            """
            mutation Edit($input: UpdateContactInput!) {
              updateContact(input: $input) {
                redirectedFrom contact { id lastName } errors { code }
              }
            }
            """,
            key=editor_key,
            variables={"input": {"id": str(john.id), "lastName": "Nguyen"}},
        )

        # then
        payload = data["updateContact"]
        assert payload["errors"] == []
        assert payload["contact"] == {"id": str(jane.id), "lastName": "Nguyen"}
        assert payload["redirectedFrom"] == str(john.id)

    def test_a_stale_version_is_a_conflict(self, api, editor_key, admin_key, john):
        # given
        before = api.snapshot(key=admin_key)
        stale = {"id": str(john.id), "version": john.version - 1, "firstName": "Jon"}

        # when
        data = api.data(UPDATE_CONTACT, key=editor_key, variables={"input": stale})

        # then
        assert user_errors(data) == [("VERSION_CONFLICT", "version")]
        assert api.snapshot(key=admin_key) == before

    @pytest.mark.parametrize(
        "values",
        [pytest.param({}, id="no field"), pytest.param({"firstName": "", "email": ""}, id="blank")],
    )
    def test_nothing_to_update_is_invalid_input(self, api, editor_key, john, values):
        # when
        data = api.data(
            UPDATE_CONTACT, key=editor_key, variables={"input": {"id": str(john.id), **values}}
        )

        # then
        assert user_errors(data) == [("INVALID_INPUT", None)]

    def test_an_invalid_value_is_a_user_error(self, api, editor_key, admin_key, john):
        # given
        before = api.snapshot(key=admin_key)

        # when
        data = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(john.id), "lastName": "Smyth", "email": "x@"}},
        )

        # then
        assert user_errors(data) == [("INVALID_EMAIL", "email")]
        assert api.snapshot(key=admin_key) == before


class TestResolveContactErrors:
    @pytest.mark.parametrize(
        ("channel", "value", "code"),
        [
            ("WHATSAPP", "call me", "INVALID_PHONE"),
            ("SMS", "+999 1234", "INVALID_PHONE"),
            ("EMAIL", "@example.com", "INVALID_EMAIL"),
            ("INSTAGRAM", "not a handle!", "INVALID_HANDLE"),
            ("FACEBOOK", "https://facebook.com/groups/x", "INVALID_HANDLE"),
            ("CLINIKO", "   ", "INVALID_EXTERNAL_ID"),
            ("CHATWOOT", "x" * 129, "INVALID_EXTERNAL_ID"),
        ],
    )
    def test_an_invalid_identifier_identifies_nobody(
        self, api, editor_key, admin_key, channel, value, code
    ):
        # given
        before = api.snapshot(key=admin_key)

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": channel, "value": value}},
        )

        # then
        assert data["resolveContact"]["created"] is False
        assert user_errors(data) == [(code, "value"), ("NOTHING_TO_IDENTIFY", None)]
        assert api.snapshot(key=admin_key) == before

    def test_an_invalid_identifier_with_a_name_is_still_refused(self, api, editor_key):
        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "WHATSAPP", "value": "12", "firstName": "Mary"}},
        )

        # then
        assert user_errors(data) == [("INVALID_PHONE", "value")]

    def test_an_overlong_source_is_invalid_input(self, api, editor_key, admin_key):
        # given
        before = api.snapshot(key=admin_key)

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "PHONE", "value": "0412 999 888", "source": "s" * 65}},
        )

        # then
        assert user_errors(data) == [("INVALID_INPUT", "source")]
        assert api.snapshot(key=admin_key) == before

    def test_an_invalid_extra_value_is_reported_on_its_field(self, api, editor_key):
        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={
                "input": {"channel": "WHATSAPP", "value": "+61 498 765 432", "email": "nope"}
            },
        )

        # then
        assert user_errors(data) == [("INVALID_EMAIL", "email")]


class TestIdentifierErrors:
    @pytest.mark.parametrize(
        ("channel", "value", "code"),
        [
            ("PHONE", "0000", "INVALID_PHONE"),
            ("EMAIL", "john@", "INVALID_EMAIL"),
            ("INSTAGRAM", "@no spaces", "INVALID_HANDLE"),
            ("GENTU", "", "INVALID_EXTERNAL_ID"),
            ("HALAXY", "id\twith\ttabs", "INVALID_EXTERNAL_ID"),
        ],
    )
    def test_link_an_invalid_identifier(
        self, api, editor_key, admin_key, john, channel, value, code
    ):
        # given
        before = api.snapshot(key=admin_key)

        # when
        data = api.data(
            LINK_IDENTIFIER,
            key=editor_key,
            variables={"input": {"contactId": str(john.id), "channel": channel, "value": value}},
        )

        # then
        assert user_errors(data) == [(code, "value")]
        assert api.snapshot(key=admin_key) == before

    def test_link_an_exclusive_identifier_of_another_contact_is_a_conflict(
        self, api, editor_key, admin_key, john, jane
    ):
        # given
        before = api.snapshot(key=admin_key)

        # when
        data = api.data(
            LINK_IDENTIFIER,
            key=editor_key,
            variables={"input": {"contactId": str(jane.id), "channel": "CLINIKO", "value": "1001"}},
        )

        # then
        assert user_errors(data) == [("IDENTIFIER_CONFLICT", "value")]
        assert api.snapshot(key=admin_key) == before

    @pytest.mark.parametrize("operation", [LINK_IDENTIFIER, UNLINK_IDENTIFIER])
    def test_an_unknown_contact_is_not_found(self, api, editor_key, operation):
        # given
        given = {"contactId": "00000000-0000-7000-8000-000000000000", "channel": "EMAIL"}

        # when
        data = api.data(
            operation, key=editor_key, variables={"input": {**given, "value": "a@example.com"}}
        )

        # then
        assert user_errors(data) == [("NOT_FOUND", "id")]

    @pytest.mark.parametrize("operation", [LINK_IDENTIFIER, UNLINK_IDENTIFIER])
    def test_an_erased_contact_is_not_active(self, api, editor_key, john, set_status, operation):
        # given
        set_status(john, status="erased")

        # when
        data = api.data(
            operation,
            key=editor_key,
            variables={"input": {"contactId": str(john.id), "channel": "GENTU", "value": "7"}},
        )

        # then
        assert user_errors(data) == [("NOT_ACTIVE", "id")]

    def test_a_merged_contact_s_link_goes_to_its_survivor_and_says_so(
        self, api, editor_key, john, jane, set_status
    ):
        # given
        set_status(john, status="merged", merged_into=jane)

        # when
        data = api.data(
            """
            mutation Link($input: IdentifierInput!) {
              linkIdentifier(input: $input) {
                redirectedFrom contact { id identifiers { channel value } } errors { code }
              }
            }
            """,
            key=editor_key,
            variables={"input": {"contactId": str(john.id), "channel": "GENTU", "value": "7"}},
        )

        # then
        payload = data["linkIdentifier"]
        assert payload["errors"] == []
        assert payload["redirectedFrom"] == str(john.id)
        assert payload["contact"]["id"] == str(jane.id)
        assert {"channel": "GENTU", "value": "7"} in payload["contact"]["identifiers"]

    def test_unlink_an_identifier_the_contact_does_not_hold_is_not_found(
        self, api, editor_key, john, jane
    ):
        # when: Jane's email is not John's
        data = api.data(
            UNLINK_IDENTIFIER,
            key=editor_key,
            variables={
                "input": {
                    "contactId": str(john.id),
                    "channel": "EMAIL",
                    "value": "jane@example.com",
                }
            },
        )

        # then
        assert user_errors(data) == [("NOT_FOUND", "value")]

    def test_unlink_an_invalid_identifier(self, api, editor_key, john):
        # when
        data = api.data(
            UNLINK_IDENTIFIER,
            key=editor_key,
            variables={"input": {"contactId": str(john.id), "channel": "SMS", "value": "nope"}},
        )

        # then
        assert user_errors(data) == [("INVALID_PHONE", "value")]


class TestUnreachableCodes:
    """UNSUPPORTED_CHANNEL cannot come back as a UserError: the Channel enum refuses first."""

    def test_an_unknown_channel_is_a_request_error(self, api, editor_key):
        # when
        response = api.post(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "TELEGRAM", "value": "@john"}},
        )

        # then
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None
        assert "TELEGRAM" in top_level_error(body)["message"]

    def test_an_unknown_channel_in_a_query_is_a_request_error(self, api, editor_key):
        # when
        body = api.execute(
            '{ contactByIdentifier(channel: TELEGRAM, value: "x") { id } }', key=editor_key
        )

        # then
        assert body["data"] is None
        assert "TELEGRAM" in top_level_error(body)["message"]


class TestQueryArgumentErrors:
    """Queries have no payload: a bad argument is a top-level error with extensions.code."""

    @pytest.mark.parametrize(
        ("variables", "field"),
        [
            pytest.param({"first": 501}, "first", id="first over 500"),
            pytest.param({"first": -1}, "first", id="negative first"),
            pytest.param({"after": "not a cursor"}, "after", id="garbage cursor"),
            pytest.param({"after": "eyJ4IjoxfQ"}, "after", id="cursor without id"),
            pytest.param({"after": "W10"}, "after", id="cursor not an object"),
            pytest.param(
                {"after": "eyJvIjoyfQ", "filter": {"search": None}}, "after", id="search cursor"
            ),
        ],
    )
    def test_contacts_paging(self, api, reader_key, john, variables, field):
        # when
        body = api.execute(CONTACTS, key=reader_key, variables=variables)

        # then
        error = top_level_error(body)
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": field}
        assert error["path"] == ["contacts"]
        assert body["data"] is None

    def test_a_listing_cursor_is_no_search_cursor(self, api, reader_key, john, jane):
        # given
        listing = api.data(CONTACTS, key=reader_key, variables={"first": 1})
        cursor = listing["contacts"]["pageInfo"]["endCursor"]

        # when
        body = api.execute(
            CONTACTS, key=reader_key, variables={"after": cursor, "filter": {"search": "smith"}}
        )

        # then
        assert top_level_error(body)["extensions"] == {"code": "INVALID_INPUT", "field": "after"}

    @pytest.mark.parametrize(
        ("filter", "code", "field"),
        [
            ({"email": "not-an-email"}, "INVALID_EMAIL", "email"),
            ({"phone": "phone me"}, "INVALID_PHONE", "phone"),
        ],
    )
    def test_contacts_filter(self, api, reader_key, filter, code, field):
        # when
        body = api.execute(CONTACTS, key=reader_key, variables={"filter": filter})

        # then
        assert top_level_error(body)["extensions"] == {"code": code, "field": field}

    @pytest.mark.parametrize(
        ("channel", "value", "code"),
        [
            ("PHONE", "123", "INVALID_PHONE"),
            ("EMAIL", "john", "INVALID_EMAIL"),
            ("INSTAGRAM", "a b", "INVALID_HANDLE"),
            ("CLINIKO", "", "INVALID_EXTERNAL_ID"),
        ],
    )
    @pytest.mark.parametrize("field", ["contactByIdentifier", "contactsByIdentifier"])
    def test_identifier_lookups(self, api, reader_key, field, channel, value, code):
        # when
        body = api.execute(
            BY_IDENTIFIER % field, key=reader_key, variables={"channel": channel, "value": value}
        )

        # then
        [error] = body["errors"]
        assert error["path"] == [field]
        assert error["extensions"] == {"code": code, "field": "value"}

    @pytest.mark.parametrize(
        ("variables", "field"),
        [
            pytest.param({"first": 101}, "first", id="first over 100"),
            pytest.param({"first": -5}, "first", id="negative first"),
            pytest.param({"first": 5, "after": "%%%"}, "after", id="garbage cursor"),
            pytest.param({"first": 5, "after": "eyJpZCI6MX0"}, "after", id="id not a uuid"),
        ],
    )
    def test_history_paging(self, api, reader_key, john, variables, field):
        # when
        body = api.execute(HISTORY, key=reader_key, variables={"id": str(john.id), **variables})

        # then
        error = top_level_error(body)
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": field}
        assert error["path"] == ["contact", "history"]

    def test_a_bad_history_argument_fails_only_its_own_field(self, api, reader_key, john):
        # given: two histories of one contact in one request, one of them with a bad cursor
        operation = """
        query Two($id: ID!) {
          good: contact(id: $id) { history(first: 5) { edges { node { kind } } } }
          bad: contact(id: $id) { history(first: 5, after: "%%%") { edges { node { kind } } } }
        }
        """

        # when
        body = api.execute(operation, key=reader_key, variables={"id": str(john.id)})

        # then
        assert body["data"]["bad"] is None
        assert body["data"]["good"]["history"]["edges"] == [{"node": {"kind": "created"}}]
        assert top_level_error(body)["path"] == ["bad", "history"]


# requests a client may get wrong in every way the schema allows; name -> (operation, variables)
MALFORMED: dict[str, tuple[str, dict[str, Any] | None]] = {
    "int overflow": (CONTACTS, {"first": 2**40}),
    "string for int": (CONTACTS, {"first": "ten"}),
    "unknown enum": (CONTACTS, {"filter": {"status": "DELETED"}}),
    "bad datetime": (CONTACTS, {"filter": {"updatedSince": "yesterday"}}),
    "nasty search": (CONTACTS, {"filter": {"search": "\u0000%_\\'\""}}),
    "huge search": (CONTACTS, {"filter": {"search": "x" * 100_000}}),
    "unknown input field": (CONTACTS, {"filter": {"nope": 1}}),
    "missing variable": (CONTACT_BY_IDENTIFIER, {"channel": "PHONE"}),
    "int value": (CONTACT_BY_IDENTIFIER, {"channel": "PHONE", "value": 412}),
    "huge value": (CONTACT_BY_IDENTIFIER, {"channel": "EMAIL", "value": "a" * 100_000}),
    "object for id": (HISTORY, {"id": {"x": 1}, "first": 1}),
    "null input": (CREATE_CONTACT, {"input": None}),
    "list for string": (CREATE_CONTACT, {"input": {"email": ["a@b.c"]}}),
    "lone surrogate": (CREATE_CONTACT, {"input": {"firstName": "\ud83d"}}),
    "empty id": (UPDATE_CONTACT, {"input": {"id": "", "firstName": "X"}}),
    "huge id": (UPDATE_CONTACT, {"input": {"id": "x" * 10_000, "version": -1}}),
    "nul value": (
        UNLINK_IDENTIFIER,
        {"input": {"contactId": "1", "channel": "EMAIL", "value": "\u0000"}},
    ),
    "syntax error": ("{ contacts { totalCount }", None),
    "unknown field": ("{ contacts { nope } }", None),
    "missing argument": ("query { contact { id } }", None),
}


class TestNeverServerError:
    def test_malformed_input_is_answered(self, api, editor_key, john):
        # when
        answers = {
            name: api.post(operation, key=editor_key, variables=variables)
            for name, (operation, variables) in MALFORMED.items()
        }

        # then: every request is answered with an explanation, none with a server error
        assert {name: r.status_code for name, r in answers.items() if r.status_code >= 500} == {}
        assert [name for name, r in answers.items() if not graphql_answer(r.json())] == []


class TestValuesTheDatabaseCannotStore:
    """Bad input must not reach the database as a value it refuses (a top-level error):
    NUL, which PostgreSQL refuses, and lone surrogates, which UTF-8 cannot encode, are removed
    from free text."""

    @pytest.mark.parametrize(
        "source",
        [
            pytest.param("web\u0000form", id="nul"),
            pytest.param("web\ud83dform", id="lone surrogate"),
        ],
    )
    def test_resolve_contact_source(self, api, editor_key, source):
        # when
        body = api.execute(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "PHONE", "value": "0412 999 888", "source": source}},
        )

        # then: stored cleaned, or refused as a UserError
        assert "errors" not in body, body["errors"]

    @pytest.mark.parametrize(
        "city",
        [
            pytest.param("Bon\u0000di", id="nul"),
            pytest.param("Bondi\ud83d", id="lone surrogate"),
        ],
    )
    def test_create_contact_address(self, api, editor_key, city):
        # when
        body = api.execute(
            "mutation($input: CreateContactInput!) { createContact(input: $input) "
            "{ contact { address { city } } errors { code } } }",
            key=editor_key,
            variables={"input": {"firstName": "Mary", "address": {"city": city}}},
        )

        # then: stored without the character
        assert "errors" not in body, body["errors"]
        contact = body["data"]["createContact"]["contact"]
        assert contact["address"]["city"] == "Bondi"

    def test_an_overlong_address_part_is_cut_to_fit(self, api, editor_key):
        # when
        data = api.data(
            CREATE_CONTACT,
            key=editor_key,
            variables={"input": {"firstName": "Mary", "address": {"postalCode": "2" * 200}}},
        )

        # then
        assert data["createContact"]["errors"] == []
