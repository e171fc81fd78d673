"""``crm serve`` and ``crm worker`` hand over to uvicorn and arq; those are replaced here."""

from __future__ import annotations

import arq.worker
import uvicorn

from jobs.worker import WorkerSettings


class TestServe:
    def test_runs_uvicorn_on_the_app_factory(self, engine, monkeypatch, cli):
        # given
        calls = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))

        # when
        result = cli("serve", "--host", "0.0.0.0", "--port", "9000", "--workers", "3")

        # then
        assert result.exit_code == 0, result.output
        [(target, kwargs)] = calls
        assert target == "graphql_schema.app:serve_app"
        assert kwargs["factory"] is True
        assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("0.0.0.0", 9000, 3)

    def test_defaults_to_one_local_process_on_port_8000(self, engine, monkeypatch, cli):
        # given
        calls = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))

        # when
        cli("serve")

        # then
        [kwargs] = calls
        assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 8000, 1)

    def test_an_impossible_port_is_bad_usage(self, monkeypatch, cli):
        # given
        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)

        # when
        result = cli("serve", "--port", "0")

        # then
        assert result.exit_code == 2


class TestWorker:
    def test_without_redis_is_bad_usage(self, cli):
        # when
        result = cli("worker")

        # then
        assert result.exit_code == 2
        assert "CRM_REDIS_URL" in result.stderr

    def test_runs_arq_with_the_worker_settings_and_the_configured_redis(self, monkeypatch, cli):
        # given
        calls = []
        monkeypatch.setenv("CRM_REDIS_URL", "redis://queue.internal:6380/2")
        monkeypatch.setattr(arq.worker, "run_worker", lambda cls, **kw: calls.append((cls, kw)))

        # when
        result = cli("worker")

        # then
        assert result.exit_code == 0, result.output
        [(settings_cls, kwargs)] = calls
        assert settings_cls is WorkerSettings
        redis = kwargs["redis_settings"]
        assert (redis.host, redis.port, redis.database) == ("queue.internal", 6380, 2)

    def test_a_non_redis_url_is_bad_usage(self, monkeypatch, cli):
        # given
        monkeypatch.setenv("CRM_REDIS_URL", "http://queue.internal")

        # when
        result = cli("worker")

        # then
        assert result.exit_code == 2
        assert "CRM_REDIS_URL" in result.stderr
