"""The per-connection request budget: a sliding window, shared through Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from crm.pms.ratelimit import LocalLimiter, RedisLimiter, acquire
from tests.pms.conftest import REDIS_SKIP, REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TestLocalLimiter:
    def test_the_window_holds_at_most_the_limit(self):
        clock = Clock()
        limiter = LocalLimiter(limit=3, window=60, clock=clock)
        assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
        assert limiter.try_acquire() == pytest.approx(60)
        clock.now += 61
        assert limiter.try_acquire() == 0.0

    def test_a_reset_time_pauses_every_caller(self):
        clock = Clock()
        limiter = LocalLimiter(limit=100, window=60, clock=clock)
        limiter.block_until(clock.now + 7)
        assert limiter.try_acquire() == pytest.approx(7)

    def test_acquire_sleeps_until_a_slot_frees(self):
        clock = Clock()
        limiter = LocalLimiter(limit=1, window=10, clock=clock)
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock.now += seconds

        acquire(limiter, sleep=sleep)
        acquire(limiter, sleep=sleep)
        assert sum(slept) >= 10


@pytest.mark.redis
class TestRedisLimiter:
    @pytest.fixture
    def client(self):
        if not REDIS_URL:
            pytest.skip(REDIS_SKIP)
        client = redis.Redis.from_url(REDIS_URL)
        yield client
        client.close()

    def test_two_processes_share_one_budget(self, client):
        # given two limiters of one connection, as two worker processes would hold
        key = f"test:{uuid.uuid4().hex}"
        first = RedisLimiter(client, key=key, limit=3, window=60)
        second = RedisLimiter(redis.Redis.from_url(REDIS_URL), key=key, limit=3, window=60)
        # when they take slots in turn
        taken = [first.try_acquire(), second.try_acquire(), first.try_acquire()]
        # then the fourth, from either, waits
        assert taken == [0.0, 0.0, 0.0]
        assert second.try_acquire() > 0
        assert first.try_acquire() > 0

    def test_a_429_seen_by_one_pauses_the_other(self, client):
        key = f"test:{uuid.uuid4().hex}"
        first = RedisLimiter(client, key=key, limit=100, window=60)
        second = RedisLimiter(client, key=key, limit=100, window=60)
        server_now = float(client.time()[0])
        first.block_until(server_now + 30)
        assert second.try_acquire() > 20


@pytest.mark.redis
def test_a_connection_s_clients_share_the_redis_budget(monkeypatch):
    # given CRM_REDIS_URL, as every API process and worker of an install has it
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    from crm.pms.ratelimit import limiter_for

    key = f"test:{uuid.uuid4().hex}"
    first = limiter_for(key, limit=2, redis_url=REDIS_URL)
    second = limiter_for(key, limit=2, redis_url=REDIS_URL)
    # then
    assert isinstance(first, RedisLimiter)
    assert [first.try_acquire(), second.try_acquire()] == [0.0, 0.0]
    assert first.try_acquire() > 0
    first.close()
    second.close()
