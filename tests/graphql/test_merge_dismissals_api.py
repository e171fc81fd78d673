"""Through GraphQL: a dismissal outlives merges (duplicateCandidates), and mergeContacts
field choices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from crm.models import Contact, DuplicateCandidate, Organization
from tests.graphql.test_duplicates_api import (
    CANDIDATES,
    DISMISS,
    MERGE,
    UNMERGE,
    merge_input,
    payload_errors,
)

CONTACT = """
query Contact($id: ID!) {
  contact(id: $id) { id firstName lastName dateOfBirth fieldSources }
}
"""


def queue(api, key: str, status: str = "PENDING") -> set[frozenset[str]]:
    data = api.data(CANDIDATES, key=key, variables={"status": status})
    return {
        frozenset(c["id"] for c in edge["node"]["contacts"])
        for edge in data["duplicateCandidates"]["edges"]
    }


def pair(*contacts: Contact) -> frozenset[str]:
    return frozenset(str(c.id) for c in contacts)


@pytest.fixture
def candidate(session: Session, org: Organization) -> Callable[..., DuplicateCandidate]:
    """``candidate(a, b)``: a pending review-queue row, as the sweep writes it."""

    def _candidate(a: Contact, b: Contact) -> DuplicateCandidate:
        first, second = sorted([a.id, b.id])
        row = DuplicateCandidate(
            organization_id=org.id, contact_a_id=first, contact_b_id=second, score=0.8, reasons=[]
        )
        session.add(row)
        session.commit()
        return row

    return _candidate


@pytest.fixture
def people(import_contact) -> dict[str, Contact]:
    return {
        key: import_contact(external_id=key, first_name=name, last_name="Ng")
        for key, name in (("a", "Ann"), ("b", "Bea"), ("x", "Xena"))
    }


class TestDismissalThroughMerges:
    def test_dismissed_a_x_then_a_into_b_leaves_b_x_out_of_the_queue_until_unmerged(
        self, api, admin_key, people, candidate
    ):
        # given: A~X and B~X queued; a person dismisses A~X
        p = people
        a_x = candidate(p["a"], p["x"])
        candidate(p["b"], p["x"])
        api.data(DISMISS, key=admin_key, variables={"input": {"candidateId": str(a_x.id)}})
        assert queue(api, admin_key) == {pair(p["b"], p["x"])}

        # when: A merged into B
        payload = api.data(MERGE, key=admin_key, variables=merge_input(p["b"], p["a"]))

        # then: B~X is dismissed, not pending
        assert payload["mergeContacts"]["errors"] == []
        assert queue(api, admin_key) == set()
        assert pair(p["b"], p["x"]) in queue(api, admin_key, "DISMISSED")

        # when: A unmerged
        variables = {"input": {"contactId": str(p["a"].id)}}
        api.data(UNMERGE, key=admin_key, variables=variables)

        # then: B~X pending again; A~X still dismissed
        assert queue(api, admin_key) == {pair(p["b"], p["x"])}
        assert pair(p["a"], p["x"]) in queue(api, admin_key, "DISMISSED")

    def test_a_person_may_still_merge_the_dismissed_pair(self, api, admin_key, people, candidate):
        # given
        p = people
        a_x = candidate(p["a"], p["x"])
        api.data(DISMISS, key=admin_key, variables={"input": {"candidateId": str(a_x.id)}})

        # when
        payload = api.data(MERGE, key=admin_key, variables=merge_input(p["a"], p["x"]))

        # then
        assert payload["mergeContacts"]["errors"] == []
        (merge,) = payload["mergeContacts"]["merges"]
        assert merge["candidateId"] == str(a_x.id)
        assert queue(api, admin_key, "MERGED") == {pair(p["a"], p["x"])}


class TestFieldChoices:
    def test_chosen_values_kept_and_taken_back_by_unmerge(self, api, admin_key, import_contact):
        # given: survivorship would take the PMS's first name
        ann = import_contact(external_id="row-1", first_name="Ann", last_name="Lee")
        annie = import_contact(
            source="cliniko",
            external_id="p-9",
            first_name="Annabel",
            last_name="Lee",
            date_of_birth="1990-04-01",
            cliniko_id="p-9",
        )
        choices = [{"field": "firstName", "contactId": str(ann.id)}]

        # when
        variables = merge_input(ann, annie, fieldChoices=choices)
        payload = api.data(MERGE, key=admin_key, variables=variables)["mergeContacts"]

        # then
        assert payload["errors"] == []
        contact = api.data(CONTACT, key=admin_key, variables={"id": str(ann.id)})["contact"]
        assert (contact["firstName"], contact["dateOfBirth"]) == ("Ann", "1990-04-01")
        assert contact["fieldSources"]["first_name"]["source"] == "manual"

        # when
        api.data(UNMERGE, key=admin_key, variables={"input": {"contactId": str(annie.id)}})

        # then
        contact = api.data(CONTACT, key=admin_key, variables={"id": str(ann.id)})["contact"]
        assert (contact["firstName"], contact["dateOfBirth"]) == ("Ann", None)
        assert contact["fieldSources"]["first_name"]["source"] == "csv"

    @pytest.mark.parametrize(
        "choice",
        [
            pytest.param({"field": "shoeSize", "contactId": "ann"}, id="unknown field"),
            pytest.param({"field": "lastName", "contactId": "bob"}, id="not in the merge"),
        ],
    )
    def test_bad_choices_are_user_errors(self, api, admin_key, import_contact, choice):
        # given
        ids: dict[str, Any] = {
            name: str(import_contact(external_id=name, first_name=name.title(), last_name="Ng").id)
            for name in ("ann", "annie", "bob")
        }
        before = api.snapshot(key=admin_key)
        variables = {
            "input": {
                "survivorId": ids["ann"],
                "mergeIds": [ids["annie"]],
                "fieldChoices": [choice | {"contactId": ids[choice["contactId"]]}],
            }
        }

        # when
        payload = api.data(MERGE, key=admin_key, variables=variables)["mergeContacts"]

        # then
        assert payload_errors(payload) == [("INVALID_INPUT", "fieldChoices")]
        assert api.snapshot(key=admin_key) == before
