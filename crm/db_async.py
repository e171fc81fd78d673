"""An asyncio connection pool for the request path's hot statements (PostgreSQL only).

The API serves every request on one event loop. A statement run on a synchronous connection
holds that loop for the whole round trip, so while PostgreSQL works no other request moves.
The hot statements every lookup makes (API-key authentication, the identifier lookup) run on
this pool's asynchronous psycopg connections instead, in autocommit, and the loop serves other
requests meanwhile. Everything else keeps using the SQLAlchemy engine.

One pool per event loop: the app opens it when it starts (lifespan) and closes it on shutdown.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from crm.db import postgres_timeouts
from crm.settings import get_settings

try:
    from psycopg_pool import AsyncConnectionPool
except ImportError:  # pragma: no cover - a declared dependency; SQLite deployments may lack it
    AsyncConnectionPool = None  # type: ignore[assignment,misc]


def make_async_pool(
    engine: Engine, *, max_size: int | None = None, timeout: float | None = None
) -> AsyncConnectionPool | None:
    """A closed pool on ``engine``'s PostgreSQL database, or None for other databases.

    At most ``max_size`` connections (default: the engine's ``pool_size``); a request holds
    one while it runs and a request beyond them waits for one without holding the loop. Open
    it with ``await pool.open()``. A request waits at most ``timeout`` seconds for one
    (default: ``CRM_DB_POOL_TIMEOUT``).
    """
    if engine.dialect.name != "postgresql" or AsyncConnectionPool is None:
        return None
    url = engine.url.set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    if max_size is None:
        max_size = max(engine.pool.size(), 1)
    return AsyncConnectionPool(
        conninfo,
        min_size=min(2, max_size),
        max_size=max_size,
        # named, so that an operator can tell the API's connections apart in pg_stat_activity
        kwargs={
            "autocommit": True,
            "application_name": "crm-api",
            **postgres_timeouts(conninfo),
        },
        # a request waits this long for a connection, then hears the database is unavailable
        timeout=timeout if timeout is not None else get_settings().db_pool_timeout,
        open=False,
        name="crm-hot-path",
    )
