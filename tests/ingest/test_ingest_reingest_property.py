"""Property: ingesting a batch a second time changes nothing, whatever the batch holds."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crm.ingest import UNCHANGED, Rejected, build_observation, ingest
from crm.models import Contact, SourceRecord
from crm.tenancy.service import create_organization

_orgs = itertools.count()

rows_strategy = st.fixed_dictionaries(
    {},
    optional={
        "external_id": st.sampled_from(["1", "2", "3"]),
        "first_name": st.sampled_from(["Ann", "Anne", "Bill", "William", "Oliver", "Zoe"]),
        "last_name": st.sampled_from(["Lee", "Ng", "Smith"]),
        "email": st.sampled_from(["a@example.com", "b@example.com", "family@example.com"]),
        "phone": st.sampled_from(["0412 345 678", "+61 412 000 001", "0400123456"]),
        "instagram": st.sampled_from(["@ann", "@bill"]),
        "cliniko_id": st.sampled_from(["100", "101"]),
        "date_of_birth": st.sampled_from(["1980-03-04", "1980-04-03", "2011-06-09"]),
        "city": st.sampled_from(["Bondi", "Manly"]),
    },
)
items_strategy = st.lists(
    st.tuples(st.sampled_from(["csv", "cliniko", "whatsapp", "instagram"]), rows_strategy),
    min_size=1,
    max_size=8,
)


def _state(session, org):
    contacts = session.execute(
        Contact.__table__.select().where(Contact.organization_id == org.id)
    ).mappings()
    records = session.execute(
        SourceRecord.__table__.select().where(SourceRecord.organization_id == org.id)
    ).mappings()
    return (
        sorted((c["id"], c["version"]) for c in contacts),
        sorted((r["id"], r["is_current"]) for r in records),
    )


class TestReingest:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(items=items_strategy)
    def test_the_same_batch_twice_is_all_unchanged(self, session, items):
        # given: a fresh organization per example (the database outlives examples)
        org = create_organization(session, name=f"Property {next(_orgs)}")
        session.commit()
        observations = []
        for source, raw in items:
            try:
                observations.append(build_observation(raw, source=source, region="AU"))
            except Rejected:
                continue
        assume(observations)
        ingest(session, organization=org, observations=observations)
        session.commit()
        before = _state(session, org)

        # when
        again = ingest(session, organization=org, observations=observations)
        session.commit()

        # then
        assert [o.outcome for o in again] == [UNCHANGED] * len(observations)
        assert _state(session, org) == before
