"""Job fixtures: settings from a clean environment; Redis only when CRM_TEST_REDIS_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from crm.settings import get_settings

REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL")
REDIS_SKIP = "Redis tests skipped: set CRM_TEST_REDIS_URL to run them"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch) -> Iterator[None]:
    # without CRM_REDIS_URL jobs run inline; a developer's own setting must not leak in
    monkeypatch.delenv("CRM_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def redis_url(monkeypatch) -> str:
    """CRM_REDIS_URL set to the test Redis, so ``enqueue`` queues on it."""
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    monkeypatch.setenv("CRM_REDIS_URL", REDIS_URL)
    get_settings.cache_clear()
    return REDIS_URL


@pytest.fixture
def queue_name() -> str:
    """A queue of this test's own, so parallel tests never take each other's jobs."""
    return f"crm:test:{uuid.uuid4().hex}"
