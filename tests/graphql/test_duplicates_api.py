"""The duplicates API: the review queue, merge, unmerge, dismiss and the sweep, through GraphQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session

from crm.models import Contact, DuplicateCandidate, Organization
from graphql_schema.mutations import run_dedup_sweep
from tests.graphql.conftest import top_level_error
from tests.graphql.test_sql_statements import recorded_statements

CANDIDATES = """
query Candidates($status: DuplicateStatus, $first: Int, $after: String) {
  duplicateCandidates(status: $status, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges {
      cursor
      node {
        id score status reasons decidedBy
        contacts { id firstName status identifiers { channel value } }
      }
    }
  }
}
"""

MERGE = """
mutation Merge($input: MergeContactsInput!) {
  mergeContacts(input: $input) {
    contact { id firstName phone status identifiers { channel value primary } }
    merges { id reason undoneAt candidateId survivor { id } merged { id status mergedInto { id } } }
    errors { code field message }
  }
}
"""

UNMERGE = """
mutation Unmerge($input: UnmergeContactInput!) {
  unmergeContact(input: $input) {
    contact { id status firstName mergedInto { id } identifiers { channel value } }
    survivor { id firstName }
    errors { code field message }
  }
}
"""

DISMISS = """
mutation Dismiss($input: DismissDuplicateInput!) {
  dismissDuplicate(input: $input) {
    candidate { id status decidedBy contacts { id } }
    errors { code field message }
  }
}
"""

SWEEP = """
mutation Sweep($input: RunDedupSweepInput!) {
  runDedupSweep(input: $input) {
    summary { contacts pairsScored autoMerged candidates errors seconds skipped }
    errors { code field message }
  }
}
"""

CONTACT = """
query Contact($id: ID!, $follow: Boolean! = true) {
  contact(id: $id, followMerges: $follow) { id status mergedInto { id } }
}
"""

BY_PHONE = """
query ByPhone($value: String!) { contactByIdentifier(channel: WHATSAPP, value: $value) { id } }
"""


@pytest.fixture
def candidate(session: Session, org: Organization) -> Callable[..., DuplicateCandidate]:
    """``candidate(a, b, score=, status=, organization=)``: a review-queue row, committed."""

    def _candidate(
        a: Contact | uuid.UUID,
        b: Contact | uuid.UUID,
        *,
        score: float = 0.8,
        status: str = "pending",
        organization: Organization | None = None,
    ) -> DuplicateCandidate:
        first, second = sorted(getattr(c, "id", c) for c in (a, b))
        row = DuplicateCandidate(
            organization_id=(organization or org).id,
            contact_a_id=first,
            contact_b_id=second,
            score=score,
            status=status,
            reasons=[{"field": "first_name", "kind": "nickname", "weight": 3.2}],
        )
        session.add(row)
        session.commit()
        return row

    return _candidate


@pytest.fixture
def ann(import_contact) -> Contact:
    return import_contact(
        external_id="row-1", first_name="Ann", last_name="Lee", email="ann@example.com"
    )


@pytest.fixture
def annie(import_contact) -> Contact:
    return import_contact(
        source="cliniko",
        external_id="p-9",
        first_name="Annabel",
        last_name="Lee",
        phone="0412 345 678",
        cliniko_id="p-9",
    )


@pytest.fixture
def bob(import_contact) -> Contact:
    return import_contact(external_id="row-2", first_name="Bob", email="bob@example.com")


def merge_input(survivor: Contact, *merged: Contact, **extra: Any) -> dict[str, Any]:
    return {
        "input": {"survivorId": str(survivor.id), "mergeIds": [str(m.id) for m in merged]} | extra
    }


def payload_errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    assert all(e["message"] for e in payload["errors"])
    return [(e["code"], e["field"]) for e in payload["errors"]]


class TestReviewQueue:
    def test_pending_candidates_with_their_contacts_and_reasons(
        self, api, reader_key, ann, annie, bob, candidate
    ):
        # given
        row = candidate(ann, annie, score=0.91)
        candidate(ann, bob, score=0.6, status="dismissed")

        # when
        data = api.data(CANDIDATES, key=reader_key)["duplicateCandidates"]

        # then
        assert data["totalCount"] == 1
        (edge,) = data["edges"]
        node = edge["node"]
        assert (node["id"], node["score"], node["status"]) == (str(row.id), 0.91, "PENDING")
        assert node["reasons"] == [{"field": "first_name", "kind": "nickname", "weight": 3.2}]
        assert [c["id"] for c in node["contacts"]] == [str(row.contact_a_id), str(row.contact_b_id)]
        assert {c["firstName"] for c in node["contacts"]} == {"Ann", "Annabel"}

    def test_pages_follow_the_score(self, api, reader_key, import_contact, candidate):
        # given
        people = [import_contact(external_id=f"p{n}", first_name=f"P{n}") for n in range(4)]
        rows = [
            candidate(people[0], p, score=s)
            for p, s in zip(people[1:], (0.5, 0.9, 0.7), strict=True)
        ]

        # when
        first = api.data(CANDIDATES, key=reader_key, variables={"first": 2})
        first = first["duplicateCandidates"]
        after = first["pageInfo"]["endCursor"]
        rest = api.data(CANDIDATES, key=reader_key, variables={"first": 2, "after": after})
        rest = rest["duplicateCandidates"]

        # then
        ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
        assert ids == [str(rows[1].id), str(rows[2].id), str(rows[0].id)]
        assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
        assert rest["pageInfo"]["hasPreviousPage"]
        assert first["totalCount"] == rest["totalCount"] == 3

    @pytest.mark.parametrize("status", ["MERGED", "DISMISSED"])
    def test_decided_candidates_by_status(self, api, reader_key, ann, annie, candidate, status):
        # given
        row = candidate(ann, annie, status=status.lower())

        # when
        data = api.data(CANDIDATES, key=reader_key, variables={"status": status})

        # then
        (edge,) = data["duplicateCandidates"]["edges"]
        assert (edge["node"]["id"], edge["node"]["status"]) == (str(row.id), status)

    def test_a_bad_cursor_is_a_coded_error(self, api, reader_key):
        # when
        body = api.execute(CANDIDATES, key=reader_key, variables={"after": "nonsense"})

        # then
        error = top_level_error(body)
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (
            "INVALID_INPUT",
            "after",
        )

    def test_another_organizations_queue_is_invisible(
        self, api, foreign_key, ann, annie, candidate
    ):
        # given
        candidate(ann, annie)

        # when
        data = api.data(CANDIDATES, key=foreign_key)

        # then
        assert data["duplicateCandidates"]["totalCount"] == 0
        assert data["duplicateCandidates"]["edges"] == []

    def test_the_cost_of_a_page_does_not_grow_with_it(
        self, engine, api, reader_key, import_batch, session, org, candidate
    ):
        # given: 40 pairs
        ids = import_batch(
            records=[{"first_name": f"P{n}", "email": f"p{n}@example.com"} for n in range(80)]
        )
        for n in range(0, 80, 2):
            candidate(ids[n], ids[n + 1], score=0.5 + n / 200)

        # when
        # the key's use is recorded once a minute, not per page
        api.data("{ __typename }", key=reader_key)
        with recorded_statements(engine) as small:
            api.data(CANDIDATES, key=reader_key, variables={"first": 2})
        with recorded_statements(engine) as large:
            data = api.data(CANDIDATES, key=reader_key, variables={"first": 40})

        # then: the key, the page with its total, the contacts, their identifiers
        assert len(data["duplicateCandidates"]["edges"]) == 40
        assert len(large) == len(small) <= 4, "\n\n".join(large)


class TestMergeContacts:
    def test_an_admin_merges_and_ids_and_identifiers_lead_to_the_survivor(
        self, api, admin_key, reader_key, ann, annie
    ):
        # when
        payload = api.data(MERGE, key=admin_key, variables=merge_input(ann, annie))
        payload = payload["mergeContacts"]

        # then
        assert payload["errors"] == []
        survivor = payload["contact"]
        assert (survivor["id"], survivor["firstName"], survivor["phone"]) == (
            str(ann.id),
            "Annabel",
            "+61412345678",
        )
        assert {"CLINIKO", "EMAIL"} <= {i["channel"] for i in survivor["identifiers"]}
        (merge,) = payload["merges"]
        assert (merge["reason"], merge["undoneAt"], merge["survivor"]["id"]) == (
            "MANUAL",
            None,
            str(ann.id),
        )
        assert merge["merged"] == {
            "id": str(annie.id),
            "status": "MERGED",
            "mergedInto": {"id": str(ann.id)},
        }
        lookup = api.data(CONTACT, key=reader_key, variables={"id": str(annie.id)})
        assert lookup["contact"]["id"] == str(ann.id)
        tombstone = api.data(
            CONTACT, key=reader_key, variables={"id": str(annie.id), "follow": False}
        )
        assert tombstone["contact"] == {
            "id": str(annie.id),
            "status": "MERGED",
            "mergedInto": {"id": str(ann.id)},
        }
        by_phone = api.data(BY_PHONE, key=reader_key, variables={"value": "+61 412 345 678"})
        assert by_phone["contactByIdentifier"]["id"] == str(ann.id)

    def test_merging_a_candidate_closes_it(self, api, admin_key, ann, annie, candidate):
        # given
        row = candidate(ann, annie, score=0.93)

        # when
        variables = merge_input(annie, ann, candidateId=str(row.id))
        payload = api.data(MERGE, key=admin_key, variables=variables)["mergeContacts"]

        # then
        assert payload["merges"][0]["candidateId"] == str(row.id)
        merged = api.data(CANDIDATES, key=admin_key, variables={"status": "MERGED"})
        assert [e["node"]["id"] for e in merged["duplicateCandidates"]["edges"]] == [str(row.id)]
        pending = api.data(CANDIDATES, key=admin_key)["duplicateCandidates"]
        assert pending["totalCount"] == 0

    @pytest.mark.parametrize(
        ("case", "expected"),
        [
            ("itself", [("MERGE_CONFLICT", "mergeIds")]),
            ("nothing", [("INVALID_INPUT", "mergeIds")]),
            ("not an id", [("NOT_FOUND", "mergeIds")]),
            ("foreign merged", [("NOT_FOUND", "mergeIds")]),
            ("foreign survivor", [("NOT_FOUND", "survivorId")]),
            ("merged already", [("NOT_ACTIVE", "mergeIds")]),
            ("closed candidate", [("CANDIDATE_CLOSED", "candidateId")]),
            ("other candidate", [("MERGE_CONFLICT", "candidateId")]),
            ("foreign candidate", [("NOT_FOUND", "candidateId")]),
        ],
    )
    def test_refusals_are_user_errors_and_change_nothing(
        self,
        api,
        admin_key,
        session,
        other_org,
        import_contact,
        ann,
        annie,
        bob,
        candidate,
        case,
        expected,
    ):
        # given
        foreign = import_contact(organization=other_org, first_name="Ann", email="a@example.com")
        foreign_too = import_contact(organization=other_org, first_name="An", email="b@example.com")
        gone = import_contact(external_id="gone", first_name="Gone")
        api.data(MERGE, key=admin_key, variables=merge_input(bob, gone))
        variables = {
            "itself": merge_input(ann, annie, ann),
            "nothing": merge_input(ann),
            "not an id": {"input": {"survivorId": str(ann.id), "mergeIds": ["x"]}},
            "foreign merged": merge_input(ann, foreign),
            "foreign survivor": merge_input(foreign, ann),
            "merged already": merge_input(ann, gone),
        }.get(case)
        if case == "closed candidate":
            row = candidate(ann, annie, status="dismissed")
            variables = merge_input(ann, annie, candidateId=str(row.id))
        elif case == "other candidate":
            row = candidate(ann, bob)
            variables = merge_input(ann, annie, candidateId=str(row.id))
        elif case == "foreign candidate":
            row = candidate(foreign, foreign_too, organization=other_org)
            variables = merge_input(ann, annie, candidateId=str(row.id))
        before = api.snapshot(key=admin_key)

        # when
        payload = api.data(MERGE, key=admin_key, variables=variables)["mergeContacts"]

        # then
        assert payload_errors(payload) == expected
        assert (payload["contact"], payload["merges"]) == (None, [])
        assert api.snapshot(key=admin_key) == before


class TestUnmergeContact:
    def test_an_admin_unmerges_and_everything_is_as_before(
        self, api, admin_key, ann, annie, candidate
    ):
        # given
        before = api.snapshot(key=admin_key)
        api.data(MERGE, key=admin_key, variables=merge_input(ann, annie))

        # when
        variables = {"input": {"contactId": str(annie.id)}}
        payload = api.data(UNMERGE, key=admin_key, variables=variables)["unmergeContact"]

        # then
        assert payload["errors"] == []
        restored = payload["contact"]
        assert (restored["id"], restored["status"], restored["mergedInto"]) == (
            str(annie.id),
            "ACTIVE",
            None,
        )
        assert {"CLINIKO", "PHONE"} <= {i["channel"] for i in restored["identifiers"]}
        assert payload["survivor"] == {"id": str(ann.id), "firstName": "Ann"}
        after = api.snapshot(key=admin_key)
        for snapshot in (before, after):
            for edge in snapshot["edges"]:
                edge["node"].pop("version")
        assert after == before
        dismissed = api.data(CANDIDATES, key=admin_key, variables={"status": "DISMISSED"})
        (edge,) = dismissed["duplicateCandidates"]["edges"]
        assert {c["id"] for c in edge["node"]["contacts"]} == {str(ann.id), str(annie.id)}

    @pytest.mark.parametrize(
        ("case", "code"),
        [("active", "NOT_MERGED"), ("foreign", "NOT_FOUND"), ("not an id", "NOT_FOUND")],
    )
    def test_refusals(self, api, admin_key, foreign_key, ann, annie, case, code):
        # given
        api.data(MERGE, key=admin_key, variables=merge_input(ann, annie))
        contact_id = {"active": str(ann.id), "not an id": "x"}.get(case, str(annie.id))
        key = foreign_key if case == "foreign" else admin_key

        # when
        variables = {"input": {"contactId": contact_id}}
        payload = api.data(UNMERGE, key=key, variables=variables)["unmergeContact"]

        # then
        assert payload_errors(payload) == [(code, "contactId")]
        assert (payload["contact"], payload["survivor"]) == (None, None)


class TestDismissDuplicate:
    def test_a_dismissed_pair_leaves_the_queue(self, api, admin_key, ann, annie, candidate):
        # given
        row = candidate(ann, annie)

        # when
        variables = {"input": {"candidateId": str(row.id)}}
        payload = api.data(DISMISS, key=admin_key, variables=variables)["dismissDuplicate"]

        # then
        assert payload["errors"] == []
        assert payload["candidate"]["status"] == "DISMISSED"
        assert payload["candidate"]["decidedBy"].startswith("api_key:")
        assert api.data(CANDIDATES, key=admin_key)["duplicateCandidates"]["totalCount"] == 0

    @pytest.mark.parametrize(
        ("case", "code"), [("merged", "CANDIDATE_CLOSED"), ("foreign", "NOT_FOUND")]
    )
    def test_refusals(self, api, admin_key, foreign_key, ann, annie, candidate, case, code):
        # given
        row = candidate(ann, annie, status="merged" if case == "merged" else "pending")
        key = foreign_key if case == "foreign" else admin_key

        # when
        variables = {"input": {"candidateId": str(row.id)}}
        payload = api.data(DISMISS, key=key, variables=variables)["dismissDuplicate"]

        # then
        assert payload_errors(payload) == [(code, "candidateId")]
        assert payload["candidate"] is None


@dataclass
class FakeSummary:
    contacts: int = 12
    pairs_scored: int = 30
    auto_merged: int = 2
    candidates: int = 3
    errors: int = 1
    seconds: float = 0.25
    skipped: bool = False


class TestRunDedupSweep:
    def test_the_summary_of_the_organizations_sweep(self, api, admin_key, org, monkeypatch):
        # given
        calls = []

        def fake(engine, *, organization_id, mode, actor=None):
            calls.append((organization_id, mode, actor))
            return FakeSummary()

        monkeypatch.setattr(run_dedup_sweep, "sweep_function", lambda: fake)

        # when
        full = api.data(SWEEP, key=admin_key, variables={"input": {}})["runDedupSweep"]
        api.data(SWEEP, key=admin_key, variables={"input": {"incremental": True}})

        # then
        assert full == {
            "summary": {
                "contacts": 12,
                "pairsScored": 30,
                "autoMerged": 2,
                "candidates": 3,
                "errors": 1,
                "seconds": 0.25,
                "skipped": False,
            },
            "errors": [],
        }
        assert [(o, m) for o, m, _ in calls] == [(org.id, "full"), (org.id, "incremental")]
        assert all(actor.startswith("api_key:") for _, _, actor in calls)

    def test_the_real_sweep(self, api, admin_key, import_contact):
        # given
        pytest.importorskip("crm.matching.sweep", reason="crm.matching.sweep not there yet")
        import_contact(external_id="1", first_name="Ann", last_name="Lee", email="a@example.com")
        import_contact(external_id="2", first_name="Anne", last_name="Lee", email="b@example.com")

        # when
        payload = api.data(SWEEP, key=admin_key, variables={"input": {}})["runDedupSweep"]

        # then
        assert payload["errors"] == []
        assert payload["summary"]["contacts"] == 2


def _mutations(ann: Contact, annie: Contact, row: DuplicateCandidate) -> dict[str, tuple]:
    return {
        "mergeContacts": (MERGE, merge_input(ann, annie)),
        "unmergeContact": (UNMERGE, {"input": {"contactId": str(annie.id)}}),
        "dismissDuplicate": (DISMISS, {"input": {"candidateId": str(row.id)}}),
        "runDedupSweep": (SWEEP, {"input": {}}),
    }


class TestRoles:
    @pytest.mark.parametrize("role", ["editor", "reader"])
    @pytest.mark.parametrize(
        "name", ["mergeContacts", "unmergeContact", "dismissDuplicate", "runDedupSweep"]
    )
    def test_only_an_admin_merges_unmerges_dismisses_and_sweeps(
        self,
        api,
        admin_key,
        editor_key,
        reader_key,
        ann,
        annie,
        candidate,
        monkeypatch,
        role,
        name,
    ):
        # given
        monkeypatch.setattr(run_dedup_sweep, "sweep_function", lambda: pytest.fail)
        row = candidate(ann, annie)
        operation, variables = _mutations(ann, annie, row)[name]
        before = api.snapshot(key=admin_key)

        # when
        body = api.execute(
            operation, key=editor_key if role == "editor" else reader_key, variables=variables
        )

        # then
        error = top_level_error(body)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "admin" in error["message"]
        assert body["data"] is None
        assert api.snapshot(key=admin_key) == before
        queue = api.data(CANDIDATES, key=admin_key)["duplicateCandidates"]
        assert queue["totalCount"] == 1
