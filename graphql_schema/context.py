"""The per-request context: one database session, the caller, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
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
    session: Session
    engine: Engine
    principal: Principal
    settings: Settings
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def organization(self) -> Organization:
        return self.principal.organization

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = build_loaders(self.session, self.principal.organization_id)
        return self._loaders


Info = StrawberryInfo[Context, None]
