"""What a job finds in its ``ctx``: the database engine, set up once per worker process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from crm.db import get_engine, session_scope
from crm.logging import configure_logging


def base_context() -> dict[str, Any]:
    """The part of ``ctx`` every job relies on, for the worker and for inline runs alike."""
    return {"engine": get_engine()}


async def startup(ctx: dict[str, Any]) -> None:
    """arq ``on_startup``: logging, and the process-wide engine into ``ctx``."""
    configure_logging()
    ctx.update(base_context())


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq ``on_shutdown``: close the engine's pooled connections."""
    engine = ctx.pop("engine", None)
    if engine is not None:
        engine.dispose()


@contextmanager
def job_session(ctx: dict[str, Any]) -> Iterator[Session]:
    """One unit of work on the job's engine: commits on success, rolls back on error.

    Sessions are synchronous: open them in a worker thread (``asyncio.to_thread``) so a job
    never blocks the worker's event loop.
    """
    with session_scope(ctx["engine"]) as session:
        yield session
