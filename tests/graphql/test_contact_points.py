"""Contact.phones and Contact.emails: every number and email a contact holds, primary first."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.graphql.test_sql_statements import recorded_statements

PHONES_AND_EMAILS = """
query PhonesAndEmails($id: ID!) {
  contact(id: $id) {
    phone email
    phones { channel value source primary }
    emails { channel value source primary }
  }
}
"""

PAGE = """
query Page {
  contacts(first: 50) {
    edges { node { id identifiers { value } phones { value } emails { value primary } } }
  }
}
"""


class TestContactPoints:
    def test_second_phones_and_emails_are_listed_after_the_primary_ones(
        self, api, reader_key, import_contact
    ):
        # given: the clinic's PMS, then the patient's WhatsApp with another number and email
        contact = import_contact(
            source="cliniko",
            cliniko_id="501",
            observed_at=datetime(2026, 1, 1, tzinfo=UTC),
            first_name="Kate",
            email="kate@work.example.com",
            phone="0412 345 678",
        )
        import_contact(
            source="whatsapp",
            observed_at=datetime(2026, 2, 1, tzinfo=UTC),
            first_name="Kate",
            whatsapp="+61 400 111 222",
            email="KATE@home.example.com",
            cliniko_id="501",
        )

        # when
        data = api.data(PHONES_AND_EMAILS, key=reader_key, variables={"id": str(contact.id)})

        # then: the PMS values are the contact's own; the others stay listed
        found = data["contact"]
        assert (found["phone"], found["email"]) == ("+61412345678", "kate@work.example.com")
        assert found["phones"] == [
            {"channel": "PHONE", "value": "+61412345678", "source": "cliniko", "primary": True},
            {
                "channel": "WHATSAPP",
                "value": "+61400111222",
                "source": "whatsapp",
                "primary": False,
            },
        ]
        assert found["emails"] == [
            {
                "channel": "EMAIL",
                "value": "kate@work.example.com",
                "source": "cliniko",
                "primary": True,
            },
            {
                "channel": "EMAIL",
                "value": "kate@home.example.com",
                "source": "whatsapp",
                "primary": False,
            },
        ]

    def test_phones_and_emails_cost_no_statement_beyond_the_identifiers(
        self, engine, api, reader_key, import_batch
    ):
        # given
        import_batch(
            records=[
                {
                    "first_name": f"Pat{n}",
                    "email": f"pat{n}@example.com",
                    "phone": f"0412 {n:03d} 000",
                }
                for n in range(30)
            ]
        )

        # when
        # the key's use is recorded once a minute, not per page
        api.data("{ __typename }", key=reader_key)
        with recorded_statements(engine) as statements:
            data = api.data(PAGE, key=reader_key)

        # then: the key, the page (with its count) and the identifiers: one statement each
        nodes = [edge["node"] for edge in data["contacts"]["edges"]]
        assert len(nodes) == 30
        assert all(len(n["phones"]) == 1 and n["emails"][0]["primary"] for n in nodes)
        assert len(statements) <= 4
