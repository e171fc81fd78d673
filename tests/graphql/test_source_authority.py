"""Source authority: a caller writes as the sources its API key carries, never as a free-text
claim, and an organization's priority override applies to manual edits too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.models import Contact
from tests.conftest import make_key

RESOLVE_CONTACT = """
mutation ResolveContact($input: ResolveContactInput!) {
  resolveContact(input: $input) {
    created
    contact { id lastName sources { system } }
    errors { code field }
  }
}
"""

IMPORT_CONTACTS = """
mutation ImportContacts($input: ImportContactsInput!) {
  importContacts(input: $input) {
    importJob { status source rows created linked updated rejected }
    errors { code field }
  }
}
"""

UPDATE_CONTACT = """
mutation UpdateContact($input: UpdateContactInput!) {
  updateContact(input: $input) { contact { lastName } errors { code field } }
}
"""

CONTACT = """
query Contact($id: ID!) {
  contact(id: $id) { lastName sources { system } }
}
"""

PHONE = "0412 345 678"
REFUSED = [{"code": "SOURCE_NOT_ALLOWED", "field": "source"}]


@pytest.fixture
def kate(import_contact) -> Contact:
    """Kate as the clinic's PMS knows her, an hour ago."""
    return import_contact(
        source="cliniko",
        first_name="Kate",
        last_name="Pms",
        phone=PHONE,
        cliniko_id="100",
        observed_at=datetime.now(UTC) - timedelta(hours=1),
    )


def last_name(api, key: str, contact: Contact) -> str:
    return api.data(CONTACT, key=key, variables={"id": str(contact.id)})["contact"]["lastName"]


class TestResolveContactSource:
    @pytest.mark.parametrize("source", ["cliniko", "Cliniko", "manual"])
    def test_an_ordinary_key_cannot_write_as_the_pms_or_as_manual(
        self, api, editor_key, kate, source
    ):
        # given
        before = api.snapshot(key=editor_key)

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={
                "input": {"channel": "PHONE", "value": PHONE, "lastName": "Spoof", "source": source}
            },
        )

        # then
        assert data["resolveContact"] == {"created": False, "contact": None, "errors": REFUSED}
        assert api.snapshot(key=editor_key) == before

    def test_an_admin_key_cannot_write_as_manual_either(self, api, admin_key, kate):
        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=admin_key,
            variables={
                "input": {
                    "channel": "PHONE",
                    "value": PHONE,
                    "lastName": "Spoof",
                    "source": "manual",
                }
            },
        )

        # then
        assert data["resolveContact"]["errors"] == REFUSED
        assert last_name(api, admin_key, kate) == "Pms"

    def test_a_pms_channel_without_a_source_does_not_write_as_the_pms(self, api, editor_key, kate):
        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=editor_key,
            variables={"input": {"channel": "CLINIKO", "value": "100", "lastName": "Spoof"}},
        )

        # then: recorded as the key's own source, which ranks below the PMS
        payload = data["resolveContact"]
        assert payload["errors"] == []
        assert payload["contact"]["id"] == str(kate.id)
        assert {s["system"] for s in payload["contact"]["sources"]} == {"cliniko", "api"}
        assert payload["contact"]["lastName"] == "Pms"

    def test_the_key_of_the_pms_connection_writes_as_the_pms(self, api, session, org, kate):
        # given
        cliniko_key = make_key(session, org, "editor", sources=["cliniko"])

        # when
        data = api.data(
            RESOLVE_CONTACT,
            key=cliniko_key,
            variables={
                "input": {
                    "channel": "CLINIKO",
                    "value": "100",
                    "lastName": "Married",
                    "source": "cliniko",
                }
            },
        )

        # then
        assert data["resolveContact"]["errors"] == []
        assert data["resolveContact"]["contact"]["lastName"] == "Married"

    def test_a_key_writes_only_as_the_sources_it_was_given(self, api, session, org):
        # given
        webform_key = make_key(session, org, "editor", sources=["webform"])

        # when
        refused = api.data(
            RESOLVE_CONTACT,
            key=webform_key,
            variables={"input": {"channel": "EMAIL", "value": "a@example.com", "source": "api"}},
        )
        unset = api.data(
            RESOLVE_CONTACT,
            key=webform_key,
            variables={"input": {"channel": "EMAIL", "value": "a@example.com"}},
        )

        # then
        assert refused["resolveContact"]["errors"] == REFUSED
        assert unset["resolveContact"]["errors"] == []
        assert [s["system"] for s in unset["resolveContact"]["contact"]["sources"]] == ["webform"]


class TestImportContactsSource:
    CSV = "first_name,last_name,phone\nKate,Spoof,0412 345 678\n"

    @pytest.mark.parametrize("source", ["cliniko", "whatsapp", "instagram", "manual"])
    def test_an_ordinary_key_cannot_import_as_another_system(self, api, editor_key, kate, source):
        # given
        before = api.snapshot(key=editor_key)

        # when
        data = api.data(
            IMPORT_CONTACTS,
            key=editor_key,
            variables={"input": {"csv": self.CSV, "source": source}},
        )

        # then
        assert data["importContacts"] == {"importJob": None, "errors": REFUSED}
        assert api.snapshot(key=editor_key) == before

    @pytest.mark.parametrize("source", ["csv", "csv:clinic-a", "clinic-a"])
    def test_a_file_may_be_labelled_as_a_csv_source(self, api, editor_key, kate, source):
        # when
        data = api.data(
            IMPORT_CONTACTS,
            key=editor_key,
            variables={"input": {"csv": self.CSV, "source": source}},
        )

        # then: imported, and the PMS's name survives
        payload = data["importContacts"]
        assert payload["errors"] == []
        assert (payload["importJob"]["status"], payload["importJob"]["source"]) == (
            "SUCCEEDED",
            source,
        )
        assert last_name(api, editor_key, kate) == "Pms"

    def test_a_label_the_organization_ranks_above_csv_needs_a_key_for_it(
        self, api, session, org, editor_key, kate
    ):
        # given
        org.settings = {"source_priorities": {"csv:front-desk": 50}}
        session.add(org)
        session.commit()
        front_desk_key = make_key(session, org, "editor", sources=["csv:front-desk"])
        variables = {"input": {"csv": self.CSV, "source": "csv:front-desk"}}

        # when
        refused = api.data(IMPORT_CONTACTS, key=editor_key, variables=variables)
        allowed = api.data(IMPORT_CONTACTS, key=front_desk_key, variables=variables)

        # then
        assert refused["importContacts"]["errors"] == REFUSED
        assert allowed["importContacts"]["errors"] == []
        assert last_name(api, editor_key, kate) == "Spoof"

    def test_the_key_of_the_pms_connection_imports_as_the_pms(self, api, session, org, kate):
        # given
        cliniko_key = make_key(session, org, "editor", sources=["cliniko"])

        # when
        data = api.data(
            IMPORT_CONTACTS,
            key=cliniko_key,
            variables={"input": {"csv": self.CSV, "source": "cliniko"}},
        )

        # then
        assert data["importContacts"]["errors"] == []
        assert last_name(api, cliniko_key, kate) == "Spoof"


class TestManualEditsFollowTheOrganizationsPriorities:
    def edit(self, api, key: str, contact: Contact, last: str) -> None:
        data = api.data(
            UPDATE_CONTACT,
            key=key,
            variables={"input": {"id": str(contact.id), "lastName": last}},
        )
        assert data["updateContact"]["errors"] == []

    def test_manual_ranked_above_the_pms_holds_against_a_newer_pms_record(
        self, api, session, org, editor_key, kate, import_contact
    ):
        # given
        org.settings = {"source_priorities": {"manual": 50}}
        session.add(org)
        session.commit()
        self.edit(api, editor_key, kate, "Manual")

        # when: the PMS sends a newer record with another name
        import_contact(
            source="cliniko", first_name="Kate", last_name="Pms2", phone=PHONE, cliniko_id="100"
        )

        # then
        assert last_name(api, editor_key, kate) == "Manual"

    def test_manual_ranked_below_direct_gives_way_to_a_newer_message(
        self, api, session, org, editor_key, kate, import_contact
    ):
        # given
        org.settings = {"source_priorities": {"manual": 25}}
        session.add(org)
        session.commit()
        self.edit(api, editor_key, kate, "Manual")

        # when: a WhatsApp conversation, after the edit, says otherwise
        import_contact(source="whatsapp", first_name="Kate", last_name="Chat", phone=PHONE)

        # then
        assert last_name(api, editor_key, kate) == "Chat"

    def test_without_an_override_a_manual_edit_holds_until_a_newer_pms_record(
        self, api, editor_key, kate, import_contact
    ):
        # given
        self.edit(api, editor_key, kate, "Manual")
        import_contact(source="whatsapp", first_name="Kate", last_name="Chat", phone=PHONE)
        held = last_name(api, editor_key, kate)

        # when
        import_contact(
            source="cliniko", first_name="Kate", last_name="Pms2", phone=PHONE, cliniko_id="100"
        )

        # then
        assert (held, last_name(api, editor_key, kate)) == ("Manual", "Pms2")
