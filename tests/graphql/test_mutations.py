"""Changing contacts: create, update (manual edits), resolve by identifier, link and unlink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.models import Contact
from tests.conftest import make_key

CONTACT_FIELDS = """
id firstName lastName displayName email phone dateOfBirth status version primarySource
address { line1 line2 city region postalCode country }
identifiers { channel value source primary }
sources { system externalId }
history(first: 10) { edges { node { kind field oldValue newValue source } } }
"""

CREATE_CONTACT = f"""
mutation CreateContact($input: CreateContactInput!) {{
  createContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} errors {{ code field }} }}
}}
"""

UPDATE_CONTACT = f"""
mutation UpdateContact($input: UpdateContactInput!) {{
  updateContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} errors {{ code field }} }}
}}
"""

RESOLVE_CONTACT = f"""
mutation ResolveContact($input: ResolveContactInput!) {{
  resolveContact(input: $input) {{ created contact {{ {CONTACT_FIELDS} }} errors {{ code field }} }}
}}
"""

LINK_IDENTIFIER = f"""
mutation LinkIdentifier($input: IdentifierInput!) {{
  linkIdentifier(input: $input) {{ contact {{ {CONTACT_FIELDS} }} errors {{ code field }} }}
}}
"""

UNLINK_IDENTIFIER = f"""
mutation UnlinkIdentifier($input: IdentifierInput!) {{
  unlinkIdentifier(input: $input) {{ contact {{ {CONTACT_FIELDS} }} errors {{ code field }} }}
}}
"""

CONTACT = f"""
query Contact($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}
"""

CONTACT_BY_IDENTIFIER = """
query ContactByIdentifier($channel: Channel!, $value: String!) {
  contactByIdentifier(channel: $channel, value: $value) { id }
}
"""


def kinds(contact: dict) -> list[str]:
    return [edge["node"]["kind"] for edge in contact["history"]["edges"]]


class TestCreateContact:
    def test_values_are_stored_normalised(self, api, editor_key):
        # given
        given = {
            "firstName": "  Mary  Anne ",
            "lastName": "O'Brien",
            "email": "Mary.OBrien@Example.COM",
            "phone": "(04) 1234 5678",
            "dateOfBirth": "22/04/1990",
            "address": {
                "line1": "1 Beach Rd",
                "city": "Bondi",
                "region": "NSW",
                "postalCode": "2026",
            },
        }

        # when
        data = api.data(CREATE_CONTACT, key=editor_key, variables={"input": given})

        # then
        payload = data["createContact"]
        assert payload["errors"] == []
        contact = payload["contact"]
        assert contact["firstName"] == "Mary Anne"
        assert contact["displayName"] == "Mary Anne O'Brien"
        assert contact["email"] == "mary.obrien@example.com"
        assert contact["phone"] == "+61412345678"
        assert contact["dateOfBirth"] == "1990-04-22"
        assert contact["address"] == {
            "line1": "1 Beach Rd",
            "line2": None,
            "city": "Bondi",
            "region": "NSW",
            "postalCode": "2026",
            "country": None,
        }
        assert contact["status"] == "ACTIVE"
        assert contact["version"] == 1
        assert contact["primarySource"] == "manual"
        assert contact["sources"] == [{"system": "manual", "externalId": None}]
        assert kinds(contact) == ["created"]
        assert {(i["channel"], i["value"], i["source"]) for i in contact["identifiers"]} == {
            ("EMAIL", "mary.obrien@example.com", "manual"),
            ("PHONE", "+61412345678", "manual"),
        }

    def test_the_new_contact_can_be_read_back(self, api, editor_key):
        # given
        created = api.data(
            CREATE_CONTACT, key=editor_key, variables={"input": {"firstName": "Solo"}}
        )["createContact"]["contact"]

        # when
        read = api.data(CONTACT, key=editor_key, variables={"id": created["id"]})["contact"]

        # then
        assert read == created

    def test_a_household_member_with_a_shared_email_is_created(
        self, api, editor_key, import_contact
    ):
        # given: the family email is already the father's
        import_contact(first_name="Peter", email="family@example.com")

        # when
        data = api.data(
            CREATE_CONTACT,
            key=editor_key,
            variables={"input": {"firstName": "Lily", "email": "family@example.com"}},
        )

        # then
        contact = data["createContact"]["contact"]
        assert data["createContact"]["errors"] == []
        assert contact["identifiers"] == [
            {
                "channel": "EMAIL",
                "value": "family@example.com",
                "source": "manual",
                "primary": False,
            }
        ]


class TestUpdateContact:
    @pytest.fixture
    def imported(self, import_contact) -> Contact:
        return import_contact(
            source="csv",
            external_id="r1",
            first_name="Jon",
            last_name="Smith",
            email="jon@example.com",
            observed_at=datetime.now(UTC) - timedelta(days=2),
        )

    def test_an_edit_bumps_the_version_and_keeps_other_fields(self, api, editor_key, imported):
        # when
        data = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(imported.id), "version": 1, "firstName": "John"}},
        )

        # then
        payload = data["updateContact"]
        assert payload["errors"] == []
        contact = payload["contact"]
        assert contact["version"] == 2
        assert (contact["firstName"], contact["lastName"]) == ("John", "Smith")
        assert contact["email"] == "jon@example.com"
        assert kinds(contact)[0] == "field_changed"
        change = contact["history"]["edges"][0]["node"]
        assert (change["field"], change["oldValue"], change["newValue"]) == (
            "first_name",
            "Jon",
            "John",
        )
        assert change["source"] == "manual"

    def test_consecutive_edits_each_need_the_latest_version(self, api, editor_key, imported):
        # given
        first = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(imported.id), "version": 1, "firstName": "John"}},
        )["updateContact"]["contact"]

        # when
        second = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={
                "input": {"id": str(imported.id), "version": first["version"], "lastName": "Smyth"}
            },
        )["updateContact"]

        # then
        assert second["errors"] == []
        assert second["contact"]["version"] == 3
        assert (second["contact"]["firstName"], second["contact"]["lastName"]) == ("John", "Smyth")

    def test_without_a_version_the_edit_applies(self, api, editor_key, imported):
        # when
        data = api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(imported.id), "dateOfBirth": "1980-01-31"}},
        )

        # then
        assert data["updateContact"]["contact"]["dateOfBirth"] == "1980-01-31"

    def test_a_manual_edit_survives_a_later_import(self, api, editor_key, imported, import_contact):
        # given
        api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(imported.id), "firstName": "John"}},
        )

        # when: the CSV row comes again, newer and changed
        import_contact(
            source="csv", external_id="r1", first_name="Jonathan", last_name="Smith", city="Bondi"
        )

        # then
        contact = api.data(CONTACT, key=editor_key, variables={"id": str(imported.id)})["contact"]
        assert contact["firstName"] == "John"
        assert contact["address"]["city"] == "Bondi"  # what the edit did not touch still flows

    def test_a_newer_pms_observation_replaces_a_manual_edit(
        self, api, editor_key, imported, import_contact
    ):
        # given
        api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(imported.id), "firstName": "John"}},
        )

        # when
        import_contact(
            source="cliniko", external_id="c-1", email="jon@example.com", first_name="Jonny"
        )

        # then
        contact = api.data(CONTACT, key=editor_key, variables={"id": str(imported.id)})["contact"]
        assert contact["firstName"] == "Jonny"


class TestResolveContact:
    @pytest.fixture
    def imported(self, import_contact) -> Contact:
        return import_contact(first_name="John", last_name="Smith", phone="0412 345 678")

    def test_whatsapp_finds_the_contact_imported_with_a_local_phone(
        self, api, editor_key, imported
    ):
        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "WHATSAPP", "value": "+61 412 345 678"}},
        )

        # then
        payload = data["resolveContact"]
        assert payload["errors"] == []
        assert payload["created"] is False
        assert payload["contact"]["id"] == str(imported.id)
        assert {s["system"] for s in payload["contact"]["sources"]} == {"csv", "api"}

    def test_a_new_identity_is_created_once_then_found_in_any_format(self, api, editor_key):
        # given
        first = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "SMS", "value": "0498 765 432", "firstName": "Kim"}},
        )["resolveContact"]

        # when
        again = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "WHATSAPP", "value": "+61498765432"}},
        )["resolveContact"]

        # then
        assert first["created"] is True
        assert first["contact"]["phone"] == "+61498765432"
        assert first["contact"]["firstName"] == "Kim"
        assert again["created"] is False
        assert again["contact"]["id"] == first["contact"]["id"]

    @pytest.mark.parametrize(
        ("channel", "value", "again"),
        [
            ("EMAIL", "Kim@Example.com", "kim@example.com"),
            ("INSTAGRAM", "@Kim.Lee", "https://www.instagram.com/kim.lee/"),
            ("CHATWOOT", "cw-77", " cw-77 "),
        ],
    )
    def test_every_channel_resolves_to_one_contact(self, api, editor_key, channel, value, again):
        # given
        first = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": channel, "value": value}},
        )["resolveContact"]

        # when
        second = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": channel, "value": again}},
        )["resolveContact"]

        # then
        assert (first["created"], second["created"]) == (True, False)
        assert second["contact"]["id"] == first["contact"]["id"]
        assert [i["channel"] for i in second["contact"]["identifiers"]] == [channel]

    def test_the_source_defaults_to_the_channel_when_the_key_writes_as_it(self, api, session, org):
        # given
        key = make_key(session, org, "editor", sources=["api", "whatsapp"])

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=key,
            variables={"input": {"channel": "WHATSAPP", "value": "+61 498 000 001", "source": " "}},
        )

        # then
        contact = data["resolveContact"]["contact"]
        assert [s["system"] for s in contact["sources"]] == ["whatsapp"]
        assert contact["identifiers"][0]["channel"] == "WHATSAPP"

    def test_the_source_defaults_to_the_keys_own_otherwise(self, api, editor_key):
        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "WHATSAPP", "value": "+61 498 000 001"}},
        )

        # then
        contact = data["resolveContact"]["contact"]
        assert [s["system"] for s in contact["sources"]] == ["api"]

    def test_a_named_source_is_kept(self, api, session, org):
        # given
        key = make_key(session, org, "editor", sources=["webform"])

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=key,
            variables={
                "input": {"channel": "EMAIL", "value": "a@example.com", "source": "Webform"}
            },
        )

        # then
        assert [s["system"] for s in data["resolveContact"]["contact"]["sources"]] == ["webform"]

    def test_a_shared_phone_resolves_to_the_household_member_named(
        self, api, editor_key, import_contact
    ):
        # given
        import_contact(first_name="Peter", phone="02 9876 5432")
        lily = import_contact(first_name="Lily", phone="02 9876 5432")

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "SMS", "value": "+61298765432", "firstName": "Lily"}},
        )

        # then
        assert data["resolveContact"]["created"] is False
        assert data["resolveContact"]["contact"]["id"] == str(lily.id)


class TestLinkAndUnlinkIdentifier:
    @pytest.fixture
    def contact(self, import_contact) -> Contact:
        return import_contact(first_name="Ava", email="ava@example.com")

    def test_a_linked_identifier_finds_the_contact(self, api, editor_key, contact):
        # given
        variables = {"input": {"contactId": str(contact.id), "channel": "CLINIKO", "value": "C-9"}}

        # when
        data = api.data(LINK_IDENTIFIER, key=editor_key, variables=variables)

        # then
        linked = data["linkIdentifier"]
        assert linked["errors"] == []
        assert linked["contact"]["version"] == contact.version + 1
        assert {"channel": "CLINIKO", "value": "C-9", "source": "manual", "primary": True} in (
            linked["contact"]["identifiers"]
        )
        assert kinds(linked["contact"])[0] == "identifier_linked"
        found = api.data(
            CONTACT_BY_IDENTIFIER, key=editor_key, variables={"channel": "CLINIKO", "value": "C-9"}
        )
        assert found["contactByIdentifier"] == {"id": str(contact.id)}

    def test_linking_an_email_does_not_change_the_primary_email(self, api, editor_key, contact):
        # when
        data = api.data(
            LINK_IDENTIFIER,
            key=editor_key,
            variables={
                "input": {"contactId": str(contact.id), "channel": "EMAIL", "value": "ava@work.com"}
            },
        )

        # then
        linked = data["linkIdentifier"]["contact"]
        assert linked["email"] == "ava@example.com"
        assert [i["value"] for i in linked["identifiers"]] == ["ava@example.com", "ava@work.com"]

    def test_linking_an_identifier_twice_is_harmless(self, api, editor_key, contact):
        # given
        variables = {"input": {"contactId": str(contact.id), "channel": "GENTU", "value": "g1"}}
        api.data(LINK_IDENTIFIER, key=editor_key, variables=variables)

        # when
        data = api.data(LINK_IDENTIFIER, key=editor_key, variables=variables)

        # then
        assert data["linkIdentifier"]["errors"] == []
        values = [i["value"] for i in data["linkIdentifier"]["contact"]["identifiers"]]
        assert values.count("g1") == 1

    def test_an_unlinked_identifier_finds_nobody(self, api, editor_key, contact):
        # when
        data = api.data(
            UNLINK_IDENTIFIER,
            key=editor_key,
            variables={
                "input": {
                    "contactId": str(contact.id),
                    "channel": "EMAIL",
                    "value": "AVA@example.com",
                }
            },
        )

        # then
        unlinked = data["unlinkIdentifier"]
        assert unlinked["errors"] == []
        assert unlinked["contact"]["identifiers"] == []
        assert unlinked["contact"]["version"] == contact.version + 1
        assert kinds(unlinked["contact"])[0] == "identifier_unlinked"
        found = api.data(
            CONTACT_BY_IDENTIFIER,
            key=editor_key,
            variables={"channel": "EMAIL", "value": "ava@example.com"},
        )
        assert found["contactByIdentifier"] is None

    def test_each_mutation_of_a_request_shows_its_own_result(self, api, editor_key, contact):
        # given: two links in one request, each payload selecting the identifiers
        operation = """
        mutation Two($id: ID!) {
          a: linkIdentifier(input: {contactId: $id, channel: CLINIKO, value: "1"}) {
            contact { version identifiers { value } }
          }
          b: linkIdentifier(input: {contactId: $id, channel: HALAXY, value: "2"}) {
            contact { version identifiers { value } }
          }
        }
        """

        # when
        data = api.data(operation, key=editor_key, variables={"id": str(contact.id)})

        # then
        assert [i["value"] for i in data["a"]["contact"]["identifiers"]] == ["ava@example.com", "1"]
        assert [i["value"] for i in data["b"]["contact"]["identifiers"]] == [
            "ava@example.com",
            "1",
            "2",
        ]
        assert data["b"]["contact"]["version"] == data["a"]["contact"]["version"] + 1
