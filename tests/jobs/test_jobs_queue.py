"""``enqueue`` without CRM_REDIS_URL: the same job function runs inline, in this process."""

from __future__ import annotations

import asyncio

import pytest

from jobs import worker
from jobs.queue import enqueue


class TestInline:
    def test_runs_system_health_and_returns_its_result(self, engine):
        # when
        result = asyncio.run(enqueue("system.health"))

        # then
        assert result["ok"] is True
        assert result["database"] == engine.dialect.name
        assert result["redis"] is None

    def test_passes_arguments_and_a_ctx_holding_the_engine(self, engine, monkeypatch):
        # given
        seen = {}

        async def probe(ctx, *args, **kwargs):
            seen.update(ctx=ctx, args=args, kwargs=kwargs)
            return "done"

        monkeypatch.setitem(worker.JOBS, "test.probe", probe)

        # when
        result = asyncio.run(enqueue("test.probe", 1, "a", _job_id="probe-1", flag=True))

        # then
        assert result == "done"
        assert seen["args"] == (1, "a")
        assert seen["kwargs"] == {"flag": True}
        assert seen["ctx"]["engine"] is engine
        assert seen["ctx"]["job_id"] == "probe-1"

    def test_an_unknown_job_is_refused(self):
        with pytest.raises(ValueError, match="unknown job"):
            asyncio.run(enqueue("system.nope"))
