"""The strawberry schema with its limits; production masks unexpected errors."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from crm.settings import Settings
from graphql_schema.error_logging import log_errors
from graphql_schema.mutations import Mutation
from graphql_schema.mutations.webhook_endpoints import WebhookEndpointsQuery
from graphql_schema.mutations.webhook_subscriptions import WebhookSubscriptionsQuery
from graphql_schema.queries import Query
from graphql_schema.request_errors import (
    code_database_errors,
    is_client_error,
    with_located_values,
)
from graphql_schema.types.api_key import ApiKeysQuery
from graphql_schema.types.dedup_model import DedupModelQuery
from graphql_schema.types.duplicates import DuplicatesQuery
from graphql_schema.types.import_job import ImportQuery
from graphql_schema.types.pms import ActivityQuery, PmsQuery
from graphql_schema.types.webhooks import WebhooksQuery


# merge_types would drop the description of the root type
@strawberry.type(name="Query", description=Query.__strawberry_definition__.description)
class RootQuery(
    Query,
    ImportQuery,
    DuplicatesQuery,
    ApiKeysQuery,
    PmsQuery,
    ActivityQuery,
    WebhooksQuery,
    DedupModelQuery,
    WebhookSubscriptionsQuery,
    WebhookEndpointsQuery,
):
    pass


SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
# parsed and validated documents kept per process: clients send the same few operations
CACHED_DOCUMENTS = 256


def should_mask(error: GraphQLError) -> bool:
    """Mask bugs only: request errors and coded errors (bad input, FORBIDDEN) are for clients."""
    original = error.original_error
    if original is None or is_client_error(error):
        return False
    return not (isinstance(original, GraphQLError) and (original.extensions or {}).get("code"))


class RequestPolicy(SchemaExtension):
    """The request limits in one extension: the token limit, the validation rules (depth,
    aliases, introspection), the parse and validation caches and, in production, masking.

    Strawberry's own extensions for these (``MaxTokensLimiter``, ``AddValidationRules``,
    ``ParserCache``, ``ValidationCache``, ``MaskErrors``) do the same one at a time, but every
    extension costs a context and a hook lookup per stage per request: five of them were a tenth
    of a lookup's CPU. The caches are strawberry's (shared by every instance of one size).
    """

    def __init__(
        self,
        *,
        max_tokens: int,
        rules: Sequence[type[ASTValidationRule]],
        mask: bool,
    ) -> None:
        self.max_tokens = max_tokens
        self.rules = tuple(rules)
        self.parse = ParserCache(maxsize=CACHED_DOCUMENTS).cached_parse_document
        self.validate = ValidationCache(maxsize=CACHED_DOCUMENTS).cached_validate_document
        self.masking = MaskErrors(should_mask_error=should_mask) if mask else None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = with_located_values(context.validation_rules) + self.rules
        if self.masking is None:
            yield
            code_database_errors(context.result)
            return
        self.masking.execution_context = context
        masking = self.masking.on_operation()
        next(masking)
        yield
        # before masking: a database outage is a coded error, not an "Unexpected error."
        code_database_errors(context.result)
        next(masking, None)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.graphql_document = self.parse(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = self.validate(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield


class CRMSchema(strawberry.Schema):
    """The schema, whose errors are logged without the query text (``error_logging``)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with per-request limiter instances (factories, not shared instances)."""
    return _schema(
        production=settings.production,
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
    )


# Building takes tens of milliseconds; a schema holds no request state, so apps with the same
# settings (many in tests) share one.
@functools.cache
def _schema(
    *, production: bool, max_depth: int, max_aliases: int, max_tokens: int
) -> strawberry.Schema:
    # The depth, alias and introspection limits are validation rules. Their rule classes are
    # built once, so that a repeated document's validation result can be cached (the cache key
    # includes the rules); each request still gets its own extension instances (factories).
    limiters = [
        QueryDepthLimiter(max_depth=max_depth),
        MaxAliasesLimiter(max_alias_count=max_aliases),
    ]
    if production:
        limiters.append(DisableIntrospection())
    rules = [rule for limiter in limiters for rule in limiter.validation_rules]
    return CRMSchema(
        query=RootQuery,
        mutation=Mutation,
        extensions=[lambda: RequestPolicy(max_tokens=max_tokens, rules=rules, mask=production)],
    )


def printed_schema() -> str:
    """The SDL that ``schema.graphql`` must equal (a test fails when it is stale)."""
    return str(build_schema(Settings())) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(printed_schema())
