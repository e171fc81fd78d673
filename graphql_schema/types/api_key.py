"""API keys as an admin sees them: never the secret, which is shown once by createApiKey."""

from __future__ import annotations

import datetime
import enum

import strawberry

from crm.errors import ServiceError
from crm.models import ApiKey as ApiKeyModel
from crm.tenancy.service import list_api_keys
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsAdmin
from graphql_schema.types.common import PageInfo, bad_input


@strawberry.enum(description="What an API key may do.")
class ApiKeyRole(enum.Enum):
    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"


@strawberry.type(
    description="An API key of the organization. Its secret is stored only as a hash and is "
    "never shown again after createApiKey; `prefix` is its first characters, to recognise it."
)
class ApiKey:
    id: strawberry.ID = strawberry.field(description="Key id (what revokeApiKey takes).")
    prefix: str = strawberry.field(
        description="The key's first 12 characters (`crm_` and 8 more): enough to tell keys "
        "apart, not to use one."
    )
    name: str | None = strawberry.field(description="The label it was created with.")
    role: ApiKeyRole = strawberry.field(description="READER, EDITOR or ADMIN.")
    sources: list[str] = strawberry.field(
        description="The source names it may write observations as (never `manual`)."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was created.")
    last_used_at: datetime.datetime | None = strawberry.field(
        description="When a request last authenticated with it, to the minute; null if never."
    )
    revoked_at: datetime.datetime | None = strawberry.field(
        description="When it was revoked (it has been refused since); null while active."
    )

    @classmethod
    def from_model(cls, row: ApiKeyModel) -> ApiKey:
        return cls(
            id=strawberry.ID(str(row.id)),
            prefix=row.prefix,
            name=row.name,
            role=ApiKeyRole(row.role),
            sources=list(row.sources),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="An edge of the API keys connection.")
class ApiKeyEdge:
    cursor: str = strawberry.field(description="Opaque cursor; pass it as `after`.")
    node: ApiKey = strawberry.field(description="The key.")


@strawberry.type(description="A page of API keys, oldest first (keyset).")
class ApiKeyConnection:
    edges: list[ApiKeyEdge] = strawberry.field(description="The page's keys.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="How many keys match.")


@strawberry.type
class ApiKeysQuery:
    @database_field(
        description="The organization's API keys, oldest first (admin): id, prefix, role, "
        "sources, created, last used and revoked, never the secret. `includeRevoked` (default "
        "true) lists revoked keys too; `first` is 0 to 500, default 50; `after` is an "
        "`endCursor` of this connection.",
        permission_classes=[IsAdmin],
    )
    def api_keys(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        include_revoked: bool = True,
    ) -> ApiKeyConnection:
        ctx = info.context
        try:
            page = list_api_keys(
                ctx.session,
                organization_id=ctx.organization.id,
                first=first,
                after=after,
                include_revoked=include_revoked,
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            ApiKeyEdge(cursor=cursor, node=ApiKey.from_model(row))
            for cursor, row in zip(page.cursors, page.items, strict=True)
        ]
        return ApiKeyConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )
