"""The dedup sweep on the database: merges, the review queue, dismissals, locking, increments."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crm.matching import sweep as sweep_module
from crm.matching.sweep import run_sweep
from crm.models import Contact, DedupRun, DuplicateCandidate, utcnow

pytest.importorskip("crm.merging.service", reason="the sweep merges through crm.merging")

WILLIAM = {
    "first_name": "William",
    "last_name": "Papadopoulos",
    "date_of_birth": "1984-03-07",
    "address_line1": "12 Wattle Street",
    "city": "Bondi",
    "postal_code": "2026",
}
STRANGERS = [
    {"first_name": "Olivia", "last_name": "Chen", "date_of_birth": "1990-01-01"},
    {"first_name": "Hamish", "last_name": "Fraser", "date_of_birth": "1975-06-12"},
    {"first_name": "Priya", "last_name": "Sharma", "date_of_birth": "1988-11-30"},
]


def sweep(engine, org, **options):
    return run_sweep(engine, organization_id=org.id, **options)


def status_of(session, contact: Contact) -> tuple[str, object]:
    session.expire_all()
    row = session.get(Contact, contact.id)
    session.commit()
    return row.status, row.merged_into_id


class TestSweep:
    def test_a_sure_duplicate_is_merged_into_the_older_contact(self, engine, session, org, person):
        # given
        william = person(**WILLIAM, email="will@example.com")
        bill = person(**WILLIAM | {"first_name": "Bill"}, phone="0412 345 678")
        for fields in STRANGERS:
            person(**fields)

        # when
        summary = sweep(engine, org)

        # then
        assert summary.contacts == 5
        assert summary.auto_merged == 1
        assert summary.errors == 0
        assert not summary.skipped
        assert status_of(session, bill) == ("merged", william.id)
        assert status_of(session, william)[0] == "active"

    def test_a_likely_duplicate_is_queued_with_its_reasons(
        self, engine, session, org, person, candidates
    ):
        # given: the same name at the same address, but one date of birth missing
        william = person(**WILLIAM)
        other = person(**{k: v for k, v in WILLIAM.items() if k != "date_of_birth"})

        # when
        summary = sweep(engine, org)

        # then
        assert summary.auto_merged == 0
        assert summary.candidates == 1
        [candidate] = candidates()
        assert {candidate.contact_a_id, candidate.contact_b_id} == {william.id, other.id}
        assert candidate.contact_a_id < candidate.contact_b_id
        assert candidate.status == "pending"
        assert org_thresholds_review(org) <= candidate.score < 0.98
        fields = {r["field"]: r["comparison"] for r in candidate.reasons}
        assert fields["first_name"] == "exact"
        assert fields["street_name"] == "exact"
        assert fields["street_number"] == "exact"
        assert fields["household"] == "unconfirmed"
        assert status_of(session, other)[0] == "active"

    def test_a_household_is_never_merged(self, engine, session, org, person, candidates):
        # given: twins: one surname, address and phone; different first names
        home = {k: v for k, v in WILLIAM.items() if k != "first_name"}
        person(**home, first_name="Margaret", phone="0412 000 111")
        person(**home, first_name="Oliver", phone="0412 000 111")

        # when
        summary = sweep(engine, org)

        # then
        assert summary.auto_merged == 0
        assert summary.candidates == 0
        assert candidates() == []

    def test_sweeping_again_changes_nothing(self, engine, session, org, person, candidates):
        # given
        person(**WILLIAM)
        person(**{k: v for k, v in WILLIAM.items() if k != "date_of_birth"})
        sweep(engine, org)
        before = [(c.id, c.score, c.status) for c in candidates()]

        # when
        again = sweep(engine, org)

        # then: the pending candidate is refreshed, not duplicated
        assert [(c.id, c.score, c.status) for c in candidates()] == before
        assert again.auto_merged == 0

    def test_the_organization_thresholds_apply(self, engine, session, org, person, candidates):
        # given: an organization that merges nothing on its own
        org.settings = {"dedup": {"auto_merge": 1.0, "review": 0.5}}
        session.add(org)
        session.commit()
        person(**WILLIAM)
        bill = person(**WILLIAM | {"first_name": "Bill"})

        # when
        summary = sweep(engine, org)

        # then
        assert summary.auto_merged == 0
        assert summary.candidates == 1
        assert status_of(session, bill)[0] == "active"

    def test_other_organizations_are_not_touched(self, engine, session, org, other_org, person):
        person(**WILLIAM)
        person(**WILLIAM | {"first_name": "Bill"})

        summary = sweep(engine, other_org)

        assert summary.contacts == 0
        assert summary.auto_merged == 0


def org_thresholds_review(org) -> float:
    from crm.matching.scoring import Thresholds

    return Thresholds.for_settings(org.settings).review


class TestDismissed:
    def test_a_dismissed_pair_is_never_proposed_again(
        self, engine, session, org, person, candidates
    ):
        # given
        person(**WILLIAM)
        person(**{k: v for k, v in WILLIAM.items() if k != "date_of_birth"})
        sweep(engine, org)
        [candidate] = candidates()
        candidate.status = "dismissed"
        session.add(candidate)
        session.commit()

        # when
        summary = sweep(engine, org)

        # then
        assert summary.candidates == 0
        assert [(c.id, c.status) for c in candidates()] == [(candidate.id, "dismissed")]

    def test_a_dismissed_pair_is_never_auto_merged(self, engine, session, org, person):
        # given: a sure pair a person said was two people
        william = person(**WILLIAM)
        bill = person(**WILLIAM | {"first_name": "Bill"})
        a, b = sorted([william.id, bill.id])
        session.add(
            DuplicateCandidate(
                organization_id=org.id,
                contact_a_id=a,
                contact_b_id=b,
                score=0.99,
                status="dismissed",
            )
        )
        session.commit()

        # when
        summary = sweep(engine, org)

        # then
        assert summary.auto_merged == 0
        assert status_of(session, bill)[0] == "active"


class TestConcurrency:
    def test_two_sweeps_at_once_one_runs_the_other_does_nothing(
        self, engine, org, person, monkeypatch
    ):
        # given: the first sweep to take the lock waits inside until the other has returned
        person(**WILLIAM)
        person(**WILLIAM | {"first_name": "Bill"})
        proceed = threading.Event()
        load = sweep_module._Sweep.load

        def slow_load(self, since):
            proceed.wait(20)
            return load(self, since)

        monkeypatch.setattr(sweep_module._Sweep, "load", slow_load)
        results = []
        start = threading.Barrier(2)

        def go():
            start.wait()
            results.append(sweep(engine, org))
            proceed.set()

        # when
        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

        # then
        assert sorted(r.skipped for r in results) == [False, True]
        ran = next(r for r in results if not r.skipped)
        assert ran.auto_merged == 1

    def test_an_abandoned_sweep_is_taken_over(self, engine, session, org, person):
        # given: a sweep whose process died two hours ago
        person(**WILLIAM)
        long_ago = utcnow() - timedelta(hours=2)
        dead = DedupRun(
            organization_id=org.id, mode="full", started_at=long_ago, heartbeat_at=long_ago
        )
        session.add(dead)
        session.commit()

        # when
        summary = sweep(engine, org)

        # then
        assert not summary.skipped
        session.expire_all()
        assert session.get(DedupRun, dead.id).status == "failed"
        session.commit()

    def test_a_running_sweep_makes_the_next_one_skip(self, engine, session, org, person):
        session.add(DedupRun(organization_id=org.id, mode="full"))
        session.commit()

        summary = sweep(engine, org)

        assert summary.skipped
        assert summary.pairs_scored == 0


class TestIncremental:
    def test_only_contacts_changed_since_the_last_sweep_are_scored(self, engine, org, person):
        # given: a first full sweep over people who are all different
        for fields in STRANGERS:
            person(**fields)
        person(**WILLIAM)
        first = sweep(engine, org)
        assert first.auto_merged == 0
        time.sleep(0.01)

        # when: a duplicate arrives and an incremental sweep runs
        person(**WILLIAM | {"first_name": "Bill"})
        summary = sweep(engine, org, mode="incremental")

        # then: the newcomer against everyone, and nothing else
        assert summary.mode == "incremental"
        assert summary.contacts == 5
        assert summary.changed == 1
        assert summary.pairs_scored == 1
        assert summary.auto_merged == 1

    def test_without_a_previous_sweep_it_is_a_full_one(self, engine, org, person):
        person(**WILLIAM)
        person(**WILLIAM | {"first_name": "Bill"})

        summary = sweep(engine, org, mode="incremental")

        assert summary.mode == "full"
        assert summary.auto_merged == 1

    def test_the_run_is_recorded(self, engine, session, org, person):
        person(**WILLIAM)

        summary = sweep(engine, org)

        run = session.execute(select(DedupRun).where(DedupRun.organization_id == org.id))
        [row] = run.scalars().all()
        session.commit()
        assert (str(row.id), row.status, row.contacts) == (summary.run_id, "succeeded", 1)
        assert row.finished_at is not None


class TestErrors:
    def test_a_failing_merge_is_counted_and_queued_and_the_sweep_goes_on(
        self, engine, session, org, person, candidates, monkeypatch
    ):
        # given: two sure pairs; merging the first one fails
        william = person(**WILLIAM)
        person(**WILLIAM | {"first_name": "Bill"})
        person(first_name="Katherine", last_name="Ng", date_of_birth="1970-02-03", city="Manly")
        person(first_name="Kate", last_name="Ng", date_of_birth="1970-02-03", city="Manly")
        import crm.merging.service as service

        real = service.merge_contact_groups
        calls = []

        def flaky(session, **kwargs):
            calls.append(len(kwargs["groups"]))
            if any(g.survivor_id == william.id for g in kwargs["groups"]):
                raise RuntimeError("boom")
            return real(session, **kwargs)

        monkeypatch.setattr(service, "merge_contact_groups", flaky)

        # when
        summary = sweep(engine, org)

        # then: the batch of both failed, then each alone
        assert calls == [2, 1, 1]
        assert summary.errors == 1
        assert summary.auto_merged == 1
        assert summary.candidates == 1
        assert [c.status for c in candidates()] == ["pending"]


class TestMergeProcesses:
    """On PostgreSQL, batches of groups merge in forked processes (one batch a group here)."""

    @pytest.fixture
    def small_batches(self, monkeypatch):
        monkeypatch.setattr(sweep_module, "_MERGE_BATCH", 1)

    def couples(self, person) -> list[tuple[Contact, Contact]]:
        made = []
        for i, (first, nickname) in enumerate(
            [("William", "Bill"), ("Katherine", "Kate"), ("Robert", "Bob"), ("Elizabeth", "Liz")]
        ):
            fields = WILLIAM | {
                "first_name": first,
                "last_name": ["Papadopoulos", "Ng", "Okafor", "Lindqvist"][i],
                "date_of_birth": f"19{70 + i}-0{i + 1}-1{i}",
                "address_line1": f"{i + 3} Banksia Road",
            }
            made.append((person(**fields), person(**fields | {"first_name": nickname})))
        return made

    def test_every_group_merges_as_in_one_process(
        self, engine, session, org, person, small_batches
    ):
        # given: four sure pairs, four batches
        pairs = self.couples(person)

        # when
        summary = sweep(engine, org, workers=2)

        # then
        assert (summary.auto_merged, summary.errors) == (4, 0)
        for survivor, merged in pairs:
            assert status_of(session, merged) == ("merged", survivor.id)
            assert status_of(session, survivor)[0] == "active"

    def test_a_group_failing_in_a_merge_process_is_counted_and_queued(
        self, engine, session, org, person, candidates, small_batches, monkeypatch
    ):
        # given: merging the first pair fails (in whichever process merges it)
        pairs = self.couples(person)
        import crm.merging.service as service

        real = service.merge_contact_groups

        def flaky(session, **kwargs):
            if any(g.survivor_id == pairs[0][0].id for g in kwargs["groups"]):
                raise RuntimeError("boom")
            return real(session, **kwargs)

        monkeypatch.setattr(service, "merge_contact_groups", flaky)

        # when
        summary = sweep(engine, org, workers=2)

        # then
        assert (summary.auto_merged, summary.errors, summary.candidates) == (3, 1, 1)
        [candidate] = candidates()
        assert {candidate.contact_a_id, candidate.contact_b_id} == {c.id for c in pairs[0]}
        assert status_of(session, pairs[0][1]) == ("active", None)


SLICED = [
    # four sure pairs, a group of three and a likely duplicate of it to queue
    *(
        WILLIAM
        | {
            "first_name": first,
            "last_name": last,
            "date_of_birth": f"19{70 + i}-0{i + 1}-1{i}",
            "address_line1": f"{i + 3} Banksia Road",
        }
        for i, (names, last) in enumerate(
            [
                (("William", "Bill"), "Papadopoulos"),
                (("Katherine", "Kate"), "Ng"),
                (("Robert", "Bob"), "Okafor"),
                (("Elizabeth", "Liz"), "Lindqvist"),
            ]
        )
        for first in names
    ),
    *(
        WILLIAM | {"first_name": first, "last_name": "Fraser", "date_of_birth": "1966-05-04"}
        for first in ("Margaret", "Maggie", "Margaret")
    ),
    {k: v for k, v in WILLIAM.items() if k != "date_of_birth"}
    | {"first_name": "Margaret", "last_name": "Fraser"},
]


def ingest_people(session, organization, people: list[dict]) -> None:
    from crm.ingest import build_observation, ingest

    for n, fields in enumerate(people):
        observation = build_observation(
            fields,
            source=f"src{n}",
            region=organization.default_region,
            external_id=f"{organization.id}-{n}",
        )
        ingest(session, organization=organization, observations=[observation], actor="test")
        session.commit()


def end_state(session, organization) -> dict:
    """What a sweep leaves, by each contact's place in the ingest order (ids differ by org)."""
    from crm.models import ContactEvent, Merge

    session.expire_all()
    contacts = session.execute(
        select(Contact).where(Contact.organization_id == organization.id).order_by(Contact.id)
    ).scalars()
    place = {c.id: n for n, c in enumerate(contacts)}
    contacts = [session.get(Contact, contact_id) for contact_id in place]
    merges = session.execute(select(Merge).where(Merge.organization_id == organization.id))
    queued = session.execute(
        select(DuplicateCandidate).where(DuplicateCandidate.organization_id == organization.id)
    )
    events = session.execute(
        select(ContactEvent.contact_id, ContactEvent.kind).where(
            ContactEvent.organization_id == organization.id
        )
    )
    state = {
        "contacts": [(c.status, place.get(c.merged_into_id)) for c in contacts],
        "merges": sorted(
            (place[m.survivor_id], place[m.merged_id], m.score, m.reason) for m in merges.scalars()
        ),
        "queued": sorted(
            (place[c.contact_a_id], place[c.contact_b_id], c.status, c.score)
            for c in queued.scalars()
        ),
        "events": sorted((place[contact_id], kind) for contact_id, kind in events),
    }
    session.commit()
    return state


@pytest.fixture
def slice_finely(engine, monkeypatch) -> Callable[[], list[int]]:
    """From the call on, the merges read a group at a time (each component its own slice,
    each group its own batch); the list of the slices read, in order."""
    if engine.dialect.name != "postgresql":
        pytest.skip("only the streamed (PostgreSQL) sweep merges slice by slice")

    def apply() -> list[int]:
        parts: list[int] = []
        real = sweep_module._Sweep.streamed_jobs

        def streamed_jobs(self, tables, part):
            parts.append(part)
            return real(self, tables, part)

        monkeypatch.setattr(sweep_module._Sweep, "streamed_jobs", streamed_jobs)
        monkeypatch.setattr(sweep_module, "_GROUPING_SLICE", 1)
        monkeypatch.setattr(sweep_module, "_MERGE_BATCH", 1)
        return parts

    return apply


class TestMergeSlices:
    """On PostgreSQL the groups are written, then read back and merged a slice at a time."""

    @pytest.mark.parametrize("workers", [1, 2])
    def test_slice_by_slice_ends_as_one_slice(self, engine, session, org, slice_finely, workers):
        # given: the same people in two organizations
        from crm.tenancy.service import create_organization

        twin = create_organization(session, name="Bondi Physio Two", region="AU")
        session.commit()
        ingest_people(session, org, SLICED)
        ingest_people(session, twin, SLICED)

        # when: one swept in one slice, the other a group at a time
        whole = sweep(engine, org, workers=workers)
        parts = slice_finely()
        sliced = sweep(engine, twin, workers=workers)

        # then
        assert parts == list(range(5))
        assert (whole.auto_merged, whole.candidates, whole.errors) == (6, 3, 0)
        counts = ("auto_merged", "candidates", "errors", "pairs_scored")
        assert [getattr(sliced, k) for k in counts] == [getattr(whole, k) for k in counts]
        assert end_state(session, twin) == end_state(session, org)

    def test_a_group_failing_in_a_later_slice_is_queued(
        self, engine, session, org, candidates, slice_finely, monkeypatch
    ):
        # given: four sure pairs, each its own slice; merging the last one fails
        ingest_people(session, org, SLICED[:8])
        contacts = select(Contact).where(Contact.organization_id == org.id).order_by(Contact.id)
        last = session.execute(contacts).scalars().all()[-2:]
        session.commit()
        import crm.merging.service as service

        real = service.merge_contact_groups

        def flaky(session, **kwargs):
            if any(g.survivor_id == last[0].id for g in kwargs["groups"]):
                raise RuntimeError("boom")
            return real(session, **kwargs)

        monkeypatch.setattr(service, "merge_contact_groups", flaky)
        parts = slice_finely()

        # when
        summary = sweep(engine, org, workers=2)

        # then
        assert parts == [0, 1, 2, 3]
        assert (summary.auto_merged, summary.errors, summary.candidates) == (3, 1, 1)
        [candidate] = candidates()
        assert (candidate.contact_a_id, candidate.contact_b_id) == (last[0].id, last[1].id)
        assert [status_of(session, c) for c in last] == [("active", None)] * 2


class TestCommand:
    def test_json_summary(self, engine, org, person):
        # given
        person(**WILLIAM)
        person(**WILLIAM | {"first_name": "Bill"})
        from crm.cli import app

        # when
        result = CliRunner().invoke(app, ["dedup", "--org", org.name, "--json"])

        # then
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert {"contacts", "pairs_scored", "auto_merged", "candidates", "seconds"} <= set(body)
        assert body["contacts"] == 2
        assert body["auto_merged"] == 1
        assert body["skipped"] is False

    def test_table_and_unknown_organization(self, engine, org, person):
        from crm.cli import app

        person(**WILLIAM)
        shown = CliRunner().invoke(app, ["dedup", "--org", str(org.id), "--incremental"])
        unknown = CliRunner().invoke(app, ["dedup", "--org", "Nobody"])

        assert shown.exit_code == 0, shown.output
        assert "pairs scored" in shown.stdout
        assert unknown.exit_code == 2
