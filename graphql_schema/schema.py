"""The strawberry schema with its limits; production masks unexpected errors."""

from __future__ import annotations

from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.tools import merge_types

from crm.settings import Settings
from graphql_schema.mutations import Mutation
from graphql_schema.queries import Query
from graphql_schema.types.import_job import ImportQuery

RootQuery = merge_types("Query", (Query, ImportQuery))

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def should_mask(error: GraphQLError) -> bool:
    """Mask bugs only: request errors and coded errors (bad input, FORBIDDEN) are for clients."""
    original = error.original_error
    if original is None:
        return False
    return not (isinstance(original, GraphQLError) and (original.extensions or {}).get("code"))


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with per-request limiter instances (factories, not shared instances)."""
    extensions: list = [
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
    ]
    if settings.production:
        extensions.append(DisableIntrospection)
        extensions.append(lambda: MaskErrors(should_mask_error=should_mask))
    return strawberry.Schema(query=RootQuery, mutation=Mutation, extensions=extensions)


def printed_schema() -> str:
    """The SDL that ``schema.graphql`` must equal (a test fails when it is stale)."""
    return str(build_schema(Settings())) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(printed_schema())
