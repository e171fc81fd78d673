"""Checks of the importer's and the server's internals: how they use the cycle collector and
what a planned batch keeps. They assert private state, not what a user relies on, so they are
kept here beside the benchmarks they explain, not in tests/. Run them with
``.venv/bin/python -m pytest bench/internals -q`` (CRM_TEST_DATABASE_URL for PostgreSQL).
"""

from __future__ import annotations

import gc
import threading

from crm.importing import importer
from crm.importing.rows import GC_THRESHOLDS, fewer_gc_passes
from crm.ingest import pipeline
from graphql_schema import app as app_module
from tests.importing.conftest import csv_text, import_text
from tests.importing.test_import_overlap import HEADER, overlap, people


class TestFewerGcPasses:
    def test_the_thresholds_are_raised_inside_and_restored_after(self):
        # given the process's own thresholds
        before = gc.get_threshold()
        # when an import runs
        with fewer_gc_passes():
            inside = gc.get_threshold()
        # then they were raised while it ran and are back afterwards
        assert inside == GC_THRESHOLDS
        assert gc.get_threshold() == before

    def test_overlapping_imports_restore_the_thresholds_once_both_are_done(self):
        # given two imports in two threads, the first finishing before the second
        before = gc.get_threshold()
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
        seen: list[tuple[int, int, int]] = []

        def first() -> None:
            with fewer_gc_passes():
                first_in.set()
                second_in.wait(5)
            first_out.set()

        def second() -> None:
            first_in.wait(5)
            with fewer_gc_passes():
                second_in.set()
                first_out.wait(5)
                seen.append(gc.get_threshold())

        # when both run
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        # then the second still ran with the raised thresholds, and the last one out restored
        assert seen == [GC_THRESHOLDS]
        assert gc.get_threshold() == before


def test_the_serving_factory_collects_young_objects_less_often(engine, monkeypatch):
    # given: the process default, restored after the test
    before = gc.get_threshold()
    monkeypatch.setattr(app_module, "create_app", lambda: "the app")
    try:
        # when
        served = app_module.serve_app()

        # then
        assert served == "the app"
        assert gc.get_threshold() == (app_module.SERVING_GC_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)


def test_a_planned_batch_does_not_keep_the_one_before(pg, org, monkeypatch, small_batches):
    # each batch is planned against the one before; holding on to it would chain every
    # batch of the file in memory
    overlap(monkeypatch, True)
    planned: list[pipeline.PlannedWrites] = []
    plan_batch = pipeline.plan_batch

    def keep(*args, **kwargs):
        outcomes, writes = plan_batch(*args, **kwargs)
        planned.append(writes)
        return outcomes, writes

    monkeypatch.setattr(importer, "plan_batch", keep)
    import_text(pg, org, csv_text(HEADER, people(0, 200)))
    assert len(planned) >= 5
    assert all(writes.batch.previous is None for writes in planned)
