"""The per-request context: one database connection (and a session on it, made on first use),
the caller, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session
from strawberry.types import Info as StrawberryInfo

from crm.db import read_only
from crm.models import Organization
from crm.settings import Settings
from crm.tenancy.service import Principal
from graphql_schema.loaders import Loaders, build_loaders


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

    @cached_property
    def connection(self) -> Connection:
        """The request's synchronous connection (autocommit reads), checked out on first use."""
        if self.given_connection is not None:
            return self.given_connection
        return read_only(self.engine).connect()

    @cached_property
    def session(self) -> Session:
        """An ORM session on the request's connection, made on first use. The hot lookups run
        prepared statements on a connection and never need one."""
        return Session(bind=self.connection, expire_on_commit=False)

    def close(self) -> None:
        """Close what the request opened on use (not the connection it was given)."""
        if "session" in self.__dict__:
            self.session.close()
        if "connection" in self.__dict__ and self.connection is not self.given_connection:
            self.connection.close()

    @property
    def organization(self) -> Organization:
        return self.principal.organization

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = build_loaders(self.session, self.principal.organization_id)
        return self._loaders


Info = StrawberryInfo[Context, None]
