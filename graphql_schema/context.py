"""The per-request context: one database connection (and a session on it, made on first use),
the caller, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session
from strawberry.types import Info as StrawberryInfo

from crm.models import Organization
from crm.settings import Settings
from crm.tenancy.service import Principal
from graphql_schema.loaders import Loaders, build_loaders


@dataclass
class Context:
    request: Any
    response: Any
    connection: Connection
    engine: Engine
    principal: Principal
    settings: Settings
    _loaders: Loaders | None = field(default=None, repr=False)

    @cached_property
    def session(self) -> Session:
        """An ORM session on the request's connection. The hot lookups run Core statements on
        the connection itself and never need one; closed with the request (``close``)."""
        return Session(bind=self.connection, expire_on_commit=False)

    def close(self) -> None:
        if "session" in self.__dict__:
            self.session.close()

    @property
    def organization(self) -> Organization:
        return self.principal.organization

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = build_loaders(self.session, self.principal.organization_id)
        return self._loaders


Info = StrawberryInfo[Context, None]
