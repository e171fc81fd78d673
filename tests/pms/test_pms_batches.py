"""A sync stores a batch of pages at a time, read ahead in a thread: the cursor still moves
only with a committed batch, a bad record in a batch is counted and the rest stored."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from crm.models import Contact, PmsConnection
from crm.pms import pages
from crm.pms.adapters.base import Page
from crm.pms.adapters.cliniko import ClinikoAdapter
from crm.pms.http import PmsError
from crm.pms.patients import observation_for, store_patients
from crm.pms.run_state import RunState
from crm.pms.sync import start_run, sync_connection
from tests.pms.conftest import API_KEY


def page(n: int, stream: str = "patients", size: int = 10) -> Page:
    return Page(stream, list(range(n * size, (n + 1) * size)), [], f"cursor-{n}")


class TestPrefetch:
    def test_pages_come_in_order_and_never_more_than_the_bound_ahead(self):
        taken = 0
        leads: list[int] = []

        def source():
            for n in range(50):
                leads.append(n - taken)  # pages pulled beyond those taken
                yield page(n)

        got = []
        with pages.Prefetch(source(), ahead=2) as prefetched:
            for item in prefetched:
                got.append(item.cursor)
                taken += 1
        assert got == [f"cursor-{n}" for n in range(50)]
        # the page in hand, the ``ahead`` read beyond it, and the one being handed over
        assert max(leads) <= 3

    def test_an_error_comes_after_the_pages_read_before_it(self):
        def source():
            yield page(0)
            yield page(1)
            raise PmsError("PMS_UNAVAILABLE", "down")

        got = []
        with pytest.raises(PmsError), pages.Prefetch(source()) as prefetched:
            for batch in pages.batches(prefetched, size=1000):
                got.append([p.cursor for p in batch])
        # the pages read before the failure still make a batch (stored with their cursor)
        assert got == [["cursor-0", "cursor-1"]]

    def test_leaving_early_stops_the_thread(self):
        def source():
            for n in range(1000):
                yield page(n)

        before = threading.active_count()
        with pages.Prefetch(source(), ahead=1) as prefetched:
            next(iter(prefetched))
        assert threading.active_count() == before

    def test_batches_hold_one_stream_up_to_the_size(self):
        given = [
            page(0),
            page(1),
            page(2),
            page(3, "archived_patients"),
            page(4, "archived_patients"),
        ]
        got = [[(p.stream, p.cursor) for p in b] for b in pages.batches(given, size=20)]
        assert got == [
            [("patients", "cursor-0"), ("patients", "cursor-1")],
            [("patients", "cursor-2")],
            [("archived_patients", "cursor-3"), ("archived_patients", "cursor-4")],
        ]


class TestBatchedSync:
    @pytest.fixture(autouse=True)
    def small_batches(self, monkeypatch, fake):
        # pages of 10, batches of 30: a sync of 95 patients is four batches
        fake.max_per_page = 10
        monkeypatch.setattr(pages, "BATCH_RECORDS", 30)

    def test_a_failure_mid_batch_keeps_what_was_read_and_the_next_run_catches_up(
        self, engine, session, org, fake, connect, settings
    ):
        for i in range(95):
            fake.add_patient(first_name=f"P{i}", last_name="Batch")
        connection = connect()
        settings.pms_sync_overlap_seconds = 0
        # the PMS goes down at the fifth page: in the middle of the second batch
        fake.fail_from_request = len(fake.requests) + 5
        session.commit()
        session.close()
        first = sync_connection(
            engine, organization_id=org.id, connection_id=connection.id, settings=settings
        )
        assert first.status == "failed"
        # the pages read before the failure are stored, with the cursor of the last of them
        assert first.patients_created == 40
        session.expire_all()
        cursor = session.get(PmsConnection, connection.id).cursors["patients"]
        fortieth = sorted(fake.patients.values(), key=lambda p: (p["updated_at"], p["id"]))[39]
        assert cursor == fortieth["updated_at"]
        # back up: the next run stores the rest, nothing twice
        fake.fail_from_request = None
        session.commit()
        session.close()
        second = sync_connection(
            engine, organization_id=org.id, connection_id=connection.id, settings=settings
        )
        assert second.status == "success"
        assert second.patients_created == 55
        count = session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar()
        assert count == 95

    def test_a_record_that_spoils_its_batch_is_counted_and_the_others_are_stored(
        self, engine, session, org, fake, connect, settings
    ):
        for i in range(7):
            fake.add_patient(first_name=f"P{i}", last_name="Spoil")
        connection = connect()
        run = start_run(session, organization_id=org.id, connection_id=connection.id)
        adapter = ClinikoAdapter(
            connection_id=str(connection.id),
            credentials={"apiKey": API_KEY},
            base_url=fake.base_url,
            settings=settings,
        )
        try:
            batch = next(pages.batches(adapter.patient_pages({}, full=True), size=100))
        finally:
            adapter.close()
        records = batch[0].records
        prepared = [
            observation_for(r, source="cliniko", channel=adapter.channel, region="AU")
            for r in records
        ]
        # one observation the pipeline cannot store (its time is not a time)
        prepared[3].observed_at = "not a time"
        state = RunState(run)
        store_patients(
            session,
            adapter=adapter,
            organization=org,
            connection=connection,
            state=state,
            stream="patients",
            records=records,
            prepared=prepared,
        )
        session.commit()
        assert (run.patients_created, run.patients_failed) == (6, 1)
        [failure] = state.failures
        assert (failure["pmsId"], failure["code"]) == (records[3].pms_id, "STORE_FAILED")
        count = session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar()
        assert count == 6


class TestSpoiledBatchOnTheWay:
    @pytest.fixture(autouse=True)
    def small_batches(self, monkeypatch, fake):
        fake.max_per_page = 10
        monkeypatch.setattr(pages, "BATCH_RECORDS", 20)

    def test_a_patient_the_database_refuses_never_stops_the_others(
        self, engine, session, org, fake, connect, settings
    ):
        # given 60 patients (three batches), one with a NUL in its preferred name, which
        # PostgreSQL refuses in JSON (its batch's writes fail on the way); SQLite stores it
        for i in range(60):
            extra = {"preferred_first_name": "Nul\x00l"} if i == 25 else {}
            fake.add_patient(first_name=f"P{i}", last_name="Spoiled", **extra)
        connection = connect()
        session.commit()
        session.close()
        run = sync_connection(
            engine, organization_id=org.id, connection_id=connection.id, settings=settings
        )
        # then every other patient is stored once; that one is stored or counted failed
        assert run.patients_fetched == 60
        assert run.patients_created + run.patients_failed == 60
        assert run.patients_created >= 59
        assert run.status == ("success" if run.patients_failed == 0 else "partial")
        count = session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar()
        assert count == run.patients_created
        session.expire_all()
        stored = session.get(PmsConnection, connection.id)
        last = max(p["updated_at"] for p in fake.patients.values())
        assert stored.cursors["patients"] == last
