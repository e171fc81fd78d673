"""The per-request context: one database connection (and a session on it, made on first use),
the caller, the loaders, and the one way a request runs its blocking database work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from psycopg import AsyncConnection
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info as StrawberryInfo

from crm.db import read_only
from crm.models import Organization
from crm.settings import Settings
from crm.tenancy.service import Principal
from graphql_schema.loaders import Loaders, build_loaders

T = TypeVar("T")


@dataclass
class Context:
    request: Any
    response: Any
    engine: Engine
    principal: Principal
    settings: Settings
    # the request's asynchronous connection (PostgreSQL, from the app's pool) for the hot
    # statements; None on SQLite or before the app's pool is open
    aconnection: AsyncConnection | None = None
    # the synchronous connection the request authenticated on, if it did (else made on use)
    given_connection: Connection | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)
    # held while one of the request's calls runs on a worker thread (see run_sync)
    _database_turn: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def run_sync(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)``, blocking database work, on a worker thread: the event
        loop serves other requests meanwhile. One call at a time per request.

        Strawberry resolves sibling fields concurrently (it gathers their awaitables), so two
        resolvers or loaders of one request may want the request's session and connection at
        the same moment. Both may pass from one thread to another but must never be used by
        two at once, so each call waits for its turn on a per-request lock. A lock rather
        than a single-thread executor per request: no thread is started per request, every
        request shares the app's bounded thread pool, and a resolver waiting for its turn
        holds no thread. Calls never nest (``function`` is synchronous: it cannot ask for a
        turn), so the lock cannot deadlock; a cancelled request keeps its turn until its
        thread has finished.
        """
        async with self._database_turn:
            return await run_in_threadpool(function, *args, **kwargs)

    async def read(self, query: Callable[[Session], T]) -> T:
        """``query(session)`` on the request's session, off the event loop (``run_sync``)."""
        return await self.run_sync(lambda: query(self.session))

    @cached_property
    def connection(self) -> Connection:
        """The request's synchronous connection (autocommit reads), checked out on first use:
        blocking, so only ever first used on a worker thread (``run_sync``)."""
        if self.given_connection is not None:
            return self.given_connection
        return read_only(self.engine).connect()

    @cached_property
    def session(self) -> Session:
        """An ORM session on the request's connection, made on first use (``run_sync``). The
        hot lookups run prepared statements on a connection and never need one."""
        return Session(bind=self.connection, expire_on_commit=False)

    def close(self) -> None:
        """Close what the request opened on use (not the connection it was given).

        Called on the event loop: it sends nothing to the database. The session and the
        connection only ever read in autocommit, so there is no transaction to roll back
        (the drivers skip a rollback outside one) and the connection goes back to the pool.
        """
        if "session" in self.__dict__:
            self.session.close()
        if "connection" in self.__dict__ and self.connection is not self.given_connection:
            self.connection.close()

    def forget_reads(self) -> None:
        """After a write committed in another session: what the request reads next sees it
        (the read session's snapshot ends, the loaders forget what they cached). Database
        work: call it through ``run_sync``."""
        if "session" in self.__dict__:
            self.session.rollback()
        if self._loaders is not None:
            self._loaders.clear()

    @property
    def organization(self) -> Organization:
        return self.principal.organization

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = build_loaders(self.read, self.principal.organization_id)
        return self._loaders


Info = StrawberryInfo[Context, None]
