"""Role checks: a too-weak key is a top-level FORBIDDEN error, not a UserError."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from crm.tenancy.service import Role


class _RoleAtLeast(BasePermission):
    role: Role = Role.READER

    @property
    def message(self) -> str:  # type: ignore[override]
        return f"this operation needs an API key with the {self.role.name.lower()} role"

    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return info.context.principal.can(self.role)


class IsReader(_RoleAtLeast):
    role = Role.READER


class IsEditor(_RoleAtLeast):
    role = Role.EDITOR


class IsAdmin(_RoleAtLeast):
    role = Role.ADMIN
