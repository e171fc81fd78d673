"""The import raises the cycle collector's thresholds while it runs, and puts them back."""

import gc
import threading

from crm.importing.service import GC_THRESHOLDS, fewer_gc_passes


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
