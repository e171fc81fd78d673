"""Reading contacts: keyset pages, filters, ranked search, identifier lookups, nested lists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crm.models import Contact

CONTACTS = """
query Contacts($first: Int, $after: String, $filter: ContactFilter) {
  contacts(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id displayName } }
  }
}
"""

CONTACT = """
query Contact($id: ID!) {
  contact(id: $id) {
    id firstName lastName displayName email phone dateOfBirth status version
    address { line1 city region postalCode country }
    identifiers { channel value source primary createdAt }
    sources { system externalId version observedAt receivedAt payload normalized }
  }
}
"""

BY_IDENTIFIER = """
query ByIdentifier($channel: Channel!, $value: String!) {
  contactByIdentifier(channel: $channel, value: $value) { id firstName }
  contactsByIdentifier(channel: $channel, value: $value) {
    id firstName identifiers { channel value primary }
  }
}
"""

HISTORY = """
query History($id: ID!, $first: Int!, $after: String) {
  contact(id: $id) {
    history(first: $first, after: $after) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id kind field oldValue newValue source actor createdAt } }
    }
  }
}
"""

MERGED_INTO = """
query MergedInto($id: ID!) {
  contact(id: $id, followMerges: false) { status mergedInto { id status mergedInto { id } } }
}
"""

UNLINK_IDENTIFIER = """
mutation UnlinkIdentifier($input: IdentifierInput!) {
  unlinkIdentifier(input: $input) { errors { code } }
}
"""

UPDATE_CONTACT = """
mutation UpdateContact($input: UpdateContactInput!) {
  updateContact(input: $input) { contact { version } errors { code } }
}
"""


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["displayName"] for edge in connection["edges"]]


@pytest.fixture
def twelve(import_batch) -> list[str]:
    """Twelve imported contacts, in creation order."""
    created = import_batch(
        records=[
            {"first_name": f"Person{n:02d}", "email": f"person{n}@example.com"} for n in range(12)
        ]
    )
    return [str(i) for i in created]


class TestPagination:
    def test_pages_cover_every_contact_once(self, api, reader_key, twelve):
        # given
        seen: list[str] = []
        pages: list[dict[str, Any]] = []
        after = None

        # when
        while True:
            page = api.data(CONTACTS, key=reader_key, variables={"first": 5, "after": after})
            pages.append(page["contacts"])
            seen += ids(page["contacts"])
            if not page["contacts"]["pageInfo"]["hasNextPage"]:
                break
            after = page["contacts"]["pageInfo"]["endCursor"]

        # then
        assert seen == twelve  # creation order, nothing missing, nothing twice
        assert [len(p["edges"]) for p in pages] == [5, 5, 2]
        assert [p["totalCount"] for p in pages] == [12, 12, 12]
        assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
        assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
        for page in pages:
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]

    def test_any_edge_cursor_continues_after_that_edge(self, api, reader_key, twelve):
        # given
        first = api.data(CONTACTS, key=reader_key, variables={"first": 5})["contacts"]

        # when
        rest = api.data(
            CONTACTS, key=reader_key, variables={"first": 3, "after": first["edges"][1]["cursor"]}
        )["contacts"]

        # then
        assert ids(rest) == twelve[2:5]

    def test_a_contact_created_between_pages_shifts_nothing(
        self, api, reader_key, twelve, import_contact
    ):
        # given
        first = api.data(CONTACTS, key=reader_key, variables={"first": 5})["contacts"]
        late = import_contact(first_name="Latecomer")

        # when
        rest = api.data(
            CONTACTS,
            key=reader_key,
            variables={"first": 100, "after": first["pageInfo"]["endCursor"]},
        )["contacts"]

        # then
        assert ids(rest) == [*twelve[5:], str(late.id)]
        assert rest["totalCount"] == 13

    def test_first_zero_counts_without_edges(self, api, reader_key, twelve):
        # when
        page = api.data(CONTACTS, key=reader_key, variables={"first": 0})["contacts"]

        # then
        assert page["edges"] == []
        assert page["totalCount"] == 12
        assert page["pageInfo"]["hasNextPage"] is True
        assert page["pageInfo"]["endCursor"] is None

    def test_an_empty_organization_has_an_empty_page(self, api, reader_key):
        # when
        page = api.data(CONTACTS, key=reader_key, variables={"first": 10})["contacts"]

        # then
        assert page == {
            "totalCount": 0,
            "pageInfo": {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": None,
                "endCursor": None,
            },
            "edges": [],
        }


class TestFilters:
    @pytest.fixture
    def people(self, import_contact, set_status) -> dict[str, Contact]:
        john = import_contact(first_name="John", email="john@example.com", phone="0412 345 678")
        jane = import_contact(first_name="Jane", email="jane@example.com", phone="0400 111 222")
        gone = import_contact(first_name="Old", email="old@example.com")
        set_status(gone, status="merged", merged_into=john)
        return {"john": john, "jane": jane, "gone": gone}

    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            pytest.param({"email": "JOHN@Example.COM"}, ["john"], id="email in any case"),
            pytest.param({"phone": "+61 412 345 678"}, ["john"], id="phone international"),
            pytest.param({"phone": "(04) 1234 5678"}, ["john"], id="phone national"),
            pytest.param({"phone": "0499 999 999"}, [], id="unknown phone"),
            pytest.param({}, ["john", "jane"], id="default ACTIVE"),
            pytest.param({"status": "MERGED"}, ["gone"], id="MERGED"),
            pytest.param({"status": None}, ["john", "jane", "gone"], id="any status"),
            pytest.param({"email": "old@example.com"}, [], id="email of a merged contact"),
            pytest.param(
                {"email": "old@example.com", "status": "MERGED"}, ["gone"], id="email and status"
            ),
        ],
    )
    def test_filter(self, api, reader_key, people, filter, expected):
        # when
        page = api.data(CONTACTS, key=reader_key, variables={"filter": filter})["contacts"]

        # then
        assert ids(page) == [str(people[name].id) for name in expected]
        assert page["totalCount"] == len(expected)

    def test_updated_since(self, api, editor_key, people):
        # given
        since = datetime.now(UTC)
        jane = people["jane"]
        api.data(
            UPDATE_CONTACT,
            key=editor_key,
            variables={"input": {"id": str(jane.id), "lastName": "Doe"}},
        )

        # when
        page = api.data(
            CONTACTS,
            key=editor_key,
            variables={"filter": {"updatedSince": since.isoformat(), "status": None}},
        )["contacts"]

        # then
        assert ids(page) == [str(jane.id)]

    def test_totals_count_the_filter_across_pages(self, api, reader_key, people):
        # when
        page = api.data(
            CONTACTS, key=reader_key, variables={"first": 1, "filter": {"status": None}}
        )["contacts"]

        # then
        assert len(page["edges"]) == 1
        assert page["totalCount"] == 3
        assert page["pageInfo"]["hasNextPage"] is True


class TestSearch:
    @pytest.fixture
    def people(self, import_contact) -> None:
        import_contact(
            first_name="John", last_name="Smith", email="jsmith@example.com", phone="0412 345 678"
        )
        import_contact(first_name="Joan", last_name="Smithers", email="joan@example.org")
        import_contact(first_name="Johnny", last_name="Appleseed", email="apple@orchard.net")
        import_contact(
            first_name="Mary", last_name="Doe", email="mary.doe@clinic.com.au", phone="0400 111 222"
        )
        import_contact(first_name="Peter", last_name="Parker", email="pp@bugle.com")

    @pytest.mark.parametrize(
        ("text", "best"),
        [
            pytest.param("Jonh", "John Smith", id="typo"),
            pytest.param("smith", "John Smith", id="whole surname"),
            pytest.param("Applese", "Johnny Appleseed", id="partial name"),
            pytest.param("mary.doe@clin", "Mary Doe", id="email fragment"),
            pytest.param("0400 111 222", "Mary Doe", id="national phone"),
            pytest.param("400111222", "Mary Doe", id="phone digits"),
            pytest.param("+61 412 345", "John Smith", id="international phone prefix"),
            pytest.param("PARKER", "Peter Parker", id="any case"),
            pytest.param("parker\u0000", "Peter Parker", id="control character"),
            pytest.param("\ud83d parker", "Peter Parker", id="lone surrogate"),
        ],
    )
    def test_the_best_match_comes_first(self, api, reader_key, people, text, best):
        # when
        page = api.data(CONTACTS, key=reader_key, variables={"filter": {"search": text}})[
            "contacts"
        ]

        # then
        assert names(page)[0] == best
        assert page["totalCount"] == len(page["edges"])

    def test_an_exact_name_ranks_above_a_similar_one(self, api, reader_key, people):
        # when
        page = api.data(CONTACTS, key=reader_key, variables={"filter": {"search": "Joan"}})[
            "contacts"
        ]

        # then
        assert names(page)[0] == "Joan Smithers"

    def test_nothing_similar_finds_nothing(self, api, reader_key, people):
        # when
        page = api.data(CONTACTS, key=reader_key, variables={"filter": {"search": "Xavier"}})[
            "contacts"
        ]

        # then
        assert page["totalCount"] == 0
        assert page["edges"] == []

    def test_search_results_page_in_rank_order(self, api, reader_key, people):
        # given
        everything = api.data(
            CONTACTS, key=reader_key, variables={"first": 50, "filter": {"search": "smith"}}
        )["contacts"]
        assert len(everything["edges"]) >= 2
        seen: list[str] = []
        after = None

        # when
        while True:
            page = api.data(
                CONTACTS,
                key=reader_key,
                variables={"first": 1, "after": after, "filter": {"search": "smith"}},
            )["contacts"]
            seen += ids(page)
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]

        # then
        assert seen == ids(everything)

    def test_search_combines_with_other_filters(self, api, reader_key, people):
        # when
        page = api.data(
            CONTACTS,
            key=reader_key,
            variables={"filter": {"search": "smith", "email": "joan@example.org"}},
        )["contacts"]

        # then
        assert names(page) == ["Joan Smithers"]


class TestIdentifierLookups:
    @pytest.fixture
    def household(self, import_contact) -> dict[str, Contact]:
        # one family email and landline, two people; the father was imported first
        dad = import_contact(
            first_name="Peter",
            last_name="Nguyen",
            email="nguyens@example.com",
            phone="02 9876 5432",
        )
        kid = import_contact(
            first_name="Lily", last_name="Nguyen", email="nguyens@example.com", phone="02 9876 5432"
        )
        return {"dad": dad, "kid": kid}

    @pytest.mark.parametrize(
        ("channel", "value"),
        [
            ("EMAIL", "Nguyens@Example.com"),
            ("PHONE", "(02) 9876 5432"),
            ("SMS", "+61298765432"),
            ("WHATSAPP", "+61 2 9876 5432"),
        ],
    )
    def test_every_holder_primary_first(self, api, reader_key, household, channel, value):
        # when
        data = api.data(
            BY_IDENTIFIER, key=reader_key, variables={"channel": channel, "value": value}
        )

        # then
        dad, kid = household["dad"], household["kid"]
        assert data["contactByIdentifier"] == {"id": str(dad.id), "firstName": "Peter"}
        holders = data["contactsByIdentifier"]
        assert [h["id"] for h in holders] == [str(dad.id), str(kid.id)]
        email_flags = [
            next(i["primary"] for i in h["identifiers"] if i["channel"] == "EMAIL") for h in holders
        ]
        assert email_flags == [True, False]

    def test_the_next_holder_becomes_primary_when_the_first_lets_go(
        self, api, editor_key, household
    ):
        # given
        dad, kid = household["dad"], household["kid"]
        api.data(
            UNLINK_IDENTIFIER,
            key=editor_key,
            variables={
                "input": {
                    "contactId": str(dad.id),
                    "channel": "EMAIL",
                    "value": "nguyens@example.com",
                }
            },
        )

        # when
        data = api.data(
            BY_IDENTIFIER,
            key=editor_key,
            variables={"channel": "EMAIL", "value": "nguyens@example.com"},
        )

        # then
        assert data["contactByIdentifier"]["id"] == str(kid.id)
        assert [h["id"] for h in data["contactsByIdentifier"]] == [str(kid.id)]

    def test_first_limits_the_holders_primary_first(self, api, reader_key, household):
        # when
        data = api.data(
            """query($v: String!) { contactsByIdentifier(channel: EMAIL, value: $v, first: 1) {
                 id } }""",
            key=reader_key,
            variables={"v": "nguyens@example.com"},
        )

        # then
        assert data["contactsByIdentifier"] == [{"id": str(household["dad"].id)}]

    @pytest.mark.parametrize("first", [-1, 101])
    def test_first_out_of_range_is_a_user_error(self, api, reader_key, household, first):
        # when
        body = api.execute(
            """query($v: String!, $n: Int!) {
                 contactsByIdentifier(channel: EMAIL, value: $v, first: $n) { id } }""",
            key=reader_key,
            variables={"v": "nguyens@example.com", "n": first},
        )

        # then
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "first"}

    def test_nobody_holds_an_unknown_identifier(self, api, reader_key, household):
        # when
        data = api.data(
            BY_IDENTIFIER, key=reader_key, variables={"channel": "INSTAGRAM", "value": "@nobody"}
        )

        # then
        assert data == {"contactByIdentifier": None, "contactsByIdentifier": []}


class TestContactDetails:
    def test_identifiers_and_sources_from_every_channel(self, api, reader_key, import_contact):
        # given: a CSV row, then the same person on WhatsApp and in Cliniko
        csv = import_contact(
            source="csv",
            external_id="row-7",
            first_name="Ana",
            last_name="Silva",
            email="Ana.Silva@Example.com",
            phone="0412 000 111",
            instagram="@ana.silva",
        )
        import_contact(source="whatsapp", whatsapp="+61 412 000 111", first_name="Ana")
        import_contact(source="cliniko", external_id="555", phone="0412000111", cliniko_id="555")

        # when
        contact = api.data(CONTACT, key=reader_key, variables={"id": str(csv.id)})["contact"]

        # then
        identifiers = {(i["channel"], i["value"]): i for i in contact["identifiers"]}
        assert set(identifiers) >= {
            ("EMAIL", "ana.silva@example.com"),
            ("PHONE", "+61412000111"),
            ("INSTAGRAM", "ana.silva"),
            ("CLINIKO", "555"),
        }
        assert identifiers[("EMAIL", "ana.silva@example.com")]["source"] == "csv"
        assert identifiers[("CLINIKO", "555")]["source"] == "cliniko"
        sources = {s["system"]: s for s in contact["sources"]}
        assert set(sources) == {"csv", "whatsapp", "cliniko"}
        assert sources["csv"]["externalId"] == "row-7"
        assert sources["cliniko"]["externalId"] == "555"
        assert sources["whatsapp"]["externalId"] is None
        assert sources["csv"]["payload"]["email"] == "Ana.Silva@Example.com"  # as received
        assert sources["csv"]["normalized"]["fields"]["email"] == "ana.silva@example.com"
        assert all(s["version"] == 1 for s in contact["sources"])
        assert contact["email"] == "ana.silva@example.com"
        assert contact["phone"] == "+61412000111"

    def test_a_source_id_shaped_like_a_derived_one_is_still_the_external_id(
        self, api, reader_key, import_contact
    ):
        # given: sources whose own ids start as ours do when a source gives none, and a row
        # with no id at all
        given = {
            ("cliniko", "h:123"): import_contact(
                source="cliniko", external_id="h:123", first_name="Hana", email="hana@example.com"
            ),
            ("halaxy", "edit:7"): import_contact(
                source="halaxy", external_id="edit:7", first_name="Ivo", email="ivo@example.com"
            ),
            ("csv", None): import_contact(source="csv", first_name="Jun", email="jun@example.com"),
        }

        for (system, external_id), contact in given.items():
            # when
            data = api.data(CONTACT, key=reader_key, variables={"id": str(contact.id)})

            # then
            sources = data["contact"]["sources"]
            assert [(s["system"], s["externalId"]) for s in sources] == [(system, external_id)]

    def test_a_changed_source_record_is_a_new_version(self, api, reader_key, import_contact):
        # given
        contact = import_contact(source="cliniko", external_id="9", first_name="Ben", city="Manly")
        import_contact(source="cliniko", external_id="9", first_name="Ben", city="Bondi")

        # when
        data = api.data(CONTACT, key=reader_key, variables={"id": str(contact.id)})["contact"]

        # then
        assert [(s["system"], s["externalId"], s["version"]) for s in data["sources"]] == [
            ("cliniko", "9", 2)
        ]
        assert data["address"]["city"] == "Bondi"

    def test_a_merged_contact_points_at_its_survivor(
        self, api, reader_key, import_contact, set_status
    ):
        # given
        survivor = import_contact(first_name="Ana", email="ana@example.com")
        merged = import_contact(first_name="Anna", email="anna@example.com")
        set_status(merged, status="merged", merged_into=survivor)

        # when
        data = api.data(MERGED_INTO, key=reader_key, variables={"id": str(merged.id)})

        # then
        assert data["contact"] == {
            "status": "MERGED",
            "mergedInto": {"id": str(survivor.id), "status": "ACTIVE", "mergedInto": None},
        }

    def test_display_name_falls_back_to_email_then_phone(self, api, reader_key, import_contact):
        # given
        by_email = import_contact(email="nobody@example.com")
        by_phone = import_contact(phone="0400 000 001")

        # when
        page = api.data(CONTACTS, key=reader_key, variables={"first": 10})["contacts"]

        # then
        shown = {e["node"]["id"]: e["node"]["displayName"] for e in page["edges"]}
        assert shown == {str(by_email.id): "nobody@example.com", str(by_phone.id): "+61400000001"}


class TestHistory:
    @pytest.fixture
    def busy(self, api, editor_key, import_contact) -> Contact:
        """A contact with seven events: created, then three edits of two fields each."""
        contact = import_contact(first_name="Sam", last_name="Lee", email="sam@example.com")
        for n in range(3):
            api.data(
                UPDATE_CONTACT,
                key=editor_key,
                variables={
                    "input": {"id": str(contact.id), "firstName": f"Sam{n}", "lastName": f"Lee{n}"}
                },
            )
        return contact

    def test_pages_cover_every_event_once_newest_first(self, api, reader_key, busy):
        # given
        events: list[dict[str, Any]] = []
        pages: list[dict[str, Any]] = []
        after = None

        # when
        while True:
            history = api.data(
                HISTORY, key=reader_key, variables={"id": str(busy.id), "first": 2, "after": after}
            )["contact"]["history"]
            pages.append(history)
            events += [edge["node"] for edge in history["edges"]]
            if not history["pageInfo"]["hasNextPage"]:
                break
            after = history["pageInfo"]["endCursor"]

        # then
        assert [len(p["edges"]) for p in pages] == [2, 2, 2, 1]
        assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True, True]
        assert len({e["id"] for e in events}) == 7
        assert events[-1]["kind"] == "created"
        assert [e["kind"] for e in events[:-1]] == ["field_changed"] * 6
        times = [e["createdAt"] for e in events]
        assert times == sorted(times, reverse=True)
        newest = {e["field"]: e for e in events[:2]}
        assert newest["first_name"]["oldValue"] == "Sam1"
        assert newest["first_name"]["newValue"] == "Sam2"
        assert newest["first_name"]["source"] == "manual"
        assert newest["first_name"]["actor"].startswith("api_key:")

    def test_every_contact_of_a_page_has_its_own_history(
        self, api, reader_key, busy, import_contact
    ):
        # given
        quiet = import_contact(first_name="Quiet")
        operation = """
        query Histories {
          contacts(first: 10) {
            edges { node { id history(first: 3) { edges { node { kind } } } } }
          }
        }
        """

        # when
        edges = api.data(operation, key=reader_key)["contacts"]["edges"]

        # then
        kinds = {
            e["node"]["id"]: [h["node"]["kind"] for h in e["node"]["history"]["edges"]]
            for e in edges
        }
        assert kinds == {
            str(busy.id): ["field_changed"] * 3,
            str(quiet.id): ["created"],
        }
