"""createApiKey and revokeApiKey (admin keys)."""

from __future__ import annotations

import strawberry

from crm.tenancy.service import create_api_key, revoke_api_key
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.api_key import ApiKey, ApiKeyRole
from graphql_schema.types.common import UserError


@strawberry.input(description="The key to make.")
class CreateApiKeyInput:
    role: ApiKeyRole = strawberry.field(description="What the key may do.")
    name: str | None = strawberry.field(
        default=None, description="A label to recognise it by (at most 200 characters)."
    )
    sources: list[str] | None = strawberry.field(
        default=None,
        description="The source names it may write observations as (default `api`). Never "
        "`manual`, and none ranked above the sources of the key creating it (a PMS's key is "
        "made with `crm key create --source`).",
    )


@strawberry.type(description="Result of createApiKey.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The new key; null on errors.")
    key: str | None = strawberry.field(
        description="The key itself, to send as `Authorization: Bearer <key>`: shown only in "
        "this response (only its hash is stored). Null on errors."
    )
    errors: list[UserError] = strawberry.field(
        description="Why no key was made: SOURCE_NOT_ALLOWED, INVALID_INPUT."
    )


@strawberry.input(description="The key to revoke.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="An API key's id (see `apiKeys`).")


@strawberry.type(description="Result of revokeApiKey.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key, now revoked; null on errors.")
    errors: list[UserError] = strawberry.field(
        description="Why nothing changed: NOT_FOUND (no such key in this organization)."
    )


def resolve_create(info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
    ctx = info.context
    result, errors = run_command(
        info,
        lambda s: create_api_key(
            s,
            organization_id=ctx.organization.id,
            role=input.role.value,
            name=input.name,
            sources=input.sources,
            granted_by=ctx.principal,
        ),
    )
    if result is None:
        return CreateApiKeyPayload(api_key=None, key=None, errors=errors)
    row, plain = result
    return CreateApiKeyPayload(api_key=ApiKey.from_model(row), key=plain, errors=[])


def resolve_revoke(info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
    ctx = info.context
    row, errors = run_command(
        info,
        lambda s: revoke_api_key(s, organization_id=ctx.organization.id, key_id=input.id),
    )
    return RevokeApiKeyPayload(api_key=ApiKey.from_model(row) if row else None, errors=errors)
