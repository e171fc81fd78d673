"""Nothing reaches another organization's data: its ids behave exactly like unknown ids."""

from __future__ import annotations

import uuid

import pytest

from crm.models import Contact

CONTACT = """
query Contact($id: ID!) {
  contact(id: $id) { id firstName }
}
"""

CONTACTS = """
query Contacts($filter: ContactFilter) {
  contacts(first: 500, filter: $filter) { totalCount edges { node { id } } }
}
"""

CONTACT_BY_IDENTIFIER = """
query ContactByIdentifier($channel: Channel!, $value: String!) {
  contactByIdentifier(channel: $channel, value: $value) { id }
  contactsByIdentifier(channel: $channel, value: $value) { id }
}
"""

CREATE_CONTACT = """
mutation CreateContact($input: CreateContactInput!) {
  createContact(input: $input) { contact { id } errors { code field } }
}
"""

UPDATE_CONTACT = """
mutation UpdateContact($input: UpdateContactInput!) {
  updateContact(input: $input) { contact { id } errors { code field } }
}
"""

RESOLVE_CONTACT = """
mutation ResolveContact($input: ResolveContactInput!) {
  resolveContact(input: $input) {
    created
    contact { id identifiers { channel value } }
    errors { code field }
  }
}
"""

LINK_IDENTIFIER = """
mutation LinkIdentifier($input: IdentifierInput!) {
  linkIdentifier(input: $input) { contact { id } errors { code field } }
}
"""

UNLINK_IDENTIFIER = """
mutation UnlinkIdentifier($input: IdentifierInput!) {
  unlinkIdentifier(input: $input) { contact { id } errors { code field } }
}
"""

# identifiers the other organization's contact holds
FOREIGN_EMAIL = "aroha@example.co.nz"
FOREIGN_PHONE = "+64 21 123 4567"
FOREIGN_CLINIKO_ID = "nz-42"


@pytest.fixture
def own(import_contact) -> Contact:
    return import_contact(first_name="John", last_name="Smith", email="john@example.com")


@pytest.fixture
def foreign(import_contact, other_org) -> Contact:
    return import_contact(
        organization=other_org,
        first_name="Aroha",
        last_name="Ngata",
        email=FOREIGN_EMAIL,
        phone=FOREIGN_PHONE,
        cliniko_id=FOREIGN_CLINIKO_ID,
    )


@pytest.fixture(params=["foreign", "unknown"])
def missing_id(request, foreign) -> str:
    """Another organization's contact id, then an id nobody has: both must read the same."""
    return str(foreign.id) if request.param == "foreign" else str(uuid.uuid4())


class TestQueries:
    def test_contact_is_null(self, api, admin_key, own, missing_id):
        # when
        body = api.execute(CONTACT, key=admin_key, variables={"id": missing_id})

        # then
        assert body == {"data": {"contact": None}}

    def test_contacts_lists_only_the_own_organization(self, api, admin_key, own, foreign):
        # when
        data = api.data(CONTACTS, key=admin_key, variables={"filter": {"status": None}})

        # then
        assert data["contacts"]["totalCount"] == 1
        assert [e["node"]["id"] for e in data["contacts"]["edges"]] == [str(own.id)]

    @pytest.mark.parametrize(
        "filter",
        [
            pytest.param({"email": FOREIGN_EMAIL}, id="email"),
            pytest.param({"phone": FOREIGN_PHONE}, id="phone"),
            pytest.param({"search": "Aroha"}, id="search name"),
            pytest.param({"search": "aroha@example"}, id="search email"),
            pytest.param({"search": "21 123 4567"}, id="search phone"),
        ],
    )
    def test_contacts_filters_find_nothing_foreign(
        self, api, admin_key, foreign_key, own, foreign, filter
    ):
        # given: the filter finds the contact in its own organization
        found = api.data(CONTACTS, key=foreign_key, variables={"filter": filter})
        assert [e["node"]["id"] for e in found["contacts"]["edges"]] == [str(foreign.id)]

        # when
        data = api.data(CONTACTS, key=admin_key, variables={"filter": filter})

        # then
        ids = [e["node"]["id"] for e in data["contacts"]["edges"]]
        assert str(foreign.id) not in ids
        assert data["contacts"]["totalCount"] == len(ids)

    @pytest.mark.parametrize(
        ("channel", "value"),
        [("EMAIL", FOREIGN_EMAIL), ("WHATSAPP", FOREIGN_PHONE), ("CLINIKO", FOREIGN_CLINIKO_ID)],
    )
    def test_identifier_lookups_find_nothing_foreign(
        self, api, admin_key, own, foreign, channel, value
    ):
        # when
        data = api.data(
            CONTACT_BY_IDENTIFIER, key=admin_key, variables={"channel": channel, "value": value}
        )

        # then
        assert data == {"contactByIdentifier": None, "contactsByIdentifier": []}

    def test_the_owner_still_finds_it(self, api, foreign_key, foreign):
        # when
        data = api.data(
            CONTACT_BY_IDENTIFIER,
            key=foreign_key,
            variables={"channel": "CLINIKO", "value": FOREIGN_CLINIKO_ID},
        )

        # then
        assert data["contactByIdentifier"] == {"id": str(foreign.id)}


class TestMutations:
    def test_update_contact_is_not_found(self, api, admin_key, foreign_key, missing_id):
        # given
        before = api.snapshot(key=foreign_key)

        # when
        data = api.data(
            UPDATE_CONTACT,
            key=admin_key,
            variables={"input": {"id": missing_id, "firstName": "Mallory"}},
        )

        # then
        assert data["updateContact"] == {
            "contact": None,
            "errors": [{"code": "NOT_FOUND", "field": "id"}],
        }
        assert api.snapshot(key=foreign_key) == before

    @pytest.mark.parametrize("operation", [LINK_IDENTIFIER, UNLINK_IDENTIFIER])
    def test_link_and_unlink_identifier_are_not_found(
        self, api, admin_key, foreign_key, missing_id, operation
    ):
        # given
        before = api.snapshot(key=foreign_key)
        variables = {"input": {"contactId": missing_id, "channel": "EMAIL", "value": FOREIGN_EMAIL}}

        # when
        data = api.data(operation, key=admin_key, variables=variables)

        # then
        (payload,) = data.values()
        assert payload == {"contact": None, "errors": [{"code": "NOT_FOUND", "field": "id"}]}
        assert api.snapshot(key=foreign_key) == before

    @pytest.mark.parametrize(
        ("channel", "value"),
        [("WHATSAPP", FOREIGN_PHONE), ("EMAIL", FOREIGN_EMAIL), ("CLINIKO", FOREIGN_CLINIKO_ID)],
    )
    def test_resolve_contact_creates_its_own_contact(
        self, api, admin_key, foreign_key, foreign, channel, value
    ):
        # given
        before = api.snapshot(key=foreign_key)

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=admin_key,
            variables={"input": {"channel": channel, "value": value}},
        )

        # then
        payload = data["resolveContact"]
        assert payload["errors"] == []
        assert payload["created"] is True
        assert payload["contact"]["id"] != str(foreign.id)
        assert api.snapshot(key=foreign_key) == before

    def test_create_contact_is_no_duplicate_of_a_foreign_contact(self, api, admin_key, foreign):
        # when
        data = api.data(
            CREATE_CONTACT,
            key=admin_key,
            variables={"input": {"firstName": "Aroha", "email": FOREIGN_EMAIL}},
        )

        # then
        assert data["createContact"]["errors"] == []
        assert data["createContact"]["contact"]["id"] != str(foreign.id)

    def test_an_exclusive_identifier_held_elsewhere_links_without_conflict(
        self, api, admin_key, own, foreign
    ):
        # when
        data = api.data(
            LINK_IDENTIFIER,
            key=admin_key,
            variables={
                "input": {
                    "contactId": str(own.id),
                    "channel": "CLINIKO",
                    "value": FOREIGN_CLINIKO_ID,
                }
            },
        )

        # then
        assert data["linkIdentifier"] == {"contact": {"id": str(own.id)}, "errors": []}
