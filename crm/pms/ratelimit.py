"""Per-connection request budgets (sliding window), shared by every process through Redis.

Cliniko allows 200 requests a minute per user, Halaxy 500 a minute. Every worker and API
process syncing or testing one connection draws on one budget: with ``CRM_REDIS_URL`` the
window is a sorted set in Redis (one Lua script takes a slot atomically, on the server's
clock); without it, a window in this process. A 429 (or ``x-ratelimit-remaining: 0``) that
says when the limit resets pauses every process until then.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import redis

from crm.settings import get_settings

# take a slot if the window has one: "0"; else how many seconds until the oldest leaves
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then
  return tostring(blocked - now)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""
# pause until an epoch second: keep the later of the stored and the given time
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untilts = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilts > current and untilts > now then
  redis.call('SET', KEYS[1], tostring(untilts), 'PX', math.ceil((untilts - now) * 1000) + 1000)
end
return 1
"""


class RateLimiter(Protocol):
    def try_acquire(self) -> float:
        """Take a slot: 0.0, or the seconds to wait before trying again."""
        ...

    def block_until(self, epoch_seconds: float) -> None:
        """No slot for anyone before ``epoch_seconds`` (the PMS said its limit resets then)."""
        ...


class LocalLimiter:
    """A sliding window in this process (no Redis)."""

    def __init__(
        self, *, limit: int, window: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: collections.deque[float] = collections.deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        with self._lock:
            now = self._clock()
            if self._blocked_until > now:
                return self._blocked_until - now
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return 0.0
            return self._times[0] + self.window - now

    def block_until(self, epoch_seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, epoch_seconds)


class RedisLimiter:
    """A sliding window in Redis, shared by every process that names the same key."""

    def __init__(self, client: redis.Redis, *, key: str, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._client = client
        self._key = f"crm:pms:rate:{key}"
        self._blocked_key = f"crm:pms:rate:{key}:blocked"
        self._take = client.register_script(_TAKE)
        self._block = client.register_script(_BLOCK)

    def try_acquire(self) -> float:
        wait = self._take(
            keys=[self._key, self._blocked_key],
            args=[self.window, self.limit, uuid.uuid4().hex],
        )
        return max(0.0, float(wait))

    def block_until(self, epoch_seconds: float) -> None:
        self._block(keys=[self._blocked_key], args=[epoch_seconds])

    def close(self) -> None:
        self._client.close()


_local: dict[str, LocalLimiter] = {}
_local_lock = threading.Lock()


def limiter_for(
    key: str, *, limit: int, window: float = 60.0, redis_url: str | None = None
) -> RateLimiter:
    """The budget named ``key`` (a connection): in Redis when configured, else this
    process's one (every client of the connection in this process shares it)."""
    url = redis_url if redis_url is not None else get_settings().redis_url
    if url:
        return RedisLimiter(redis.Redis.from_url(url), key=key, limit=limit, window=window)
    with _local_lock:
        found = _local.get(key)
        if found is None or (found.limit, found.window) != (limit, window):
            found = _local[key] = LocalLimiter(limit=limit, window=window)
        return found


def acquire(
    limiter: RateLimiter,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = 120.0,
) -> None:
    """Wait for a slot (in steps, so a pause set by another process is seen)."""
    waited = 0.0
    while (wait := limiter.try_acquire()) > 0:
        if waited >= max_wait:
            raise TimeoutError("no request slot within the wait limit")
        step = min(wait, 5.0, max_wait - waited) + 0.01
        sleep(step)
        waited += step
