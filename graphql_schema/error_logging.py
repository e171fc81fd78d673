"""What a GraphQL error leaves in the logs: its kind, code and field path, never the query.

Strawberry's default logs every error, a client's bad input included, at ERROR with the
error's text, which quotes the query around it (``contactByIdentifier(value: "0412 ...")``)
and the exception with its stack. Here:

- a client's error (a bad argument, a validation error, FORBIDDEN, NOT_FOUND...) is the
  client's to read in the response: one DEBUG event with its code and path;
- a database that cannot serve: one WARNING with the reason;
- anything else is a bug: one ERROR with the exception's type and a traceback without locals
  or message (``crm.logging.safe_exception``).

The query text and variables are logged only when ``CRM_LOG_PERSONAL_DATA`` is on.
"""

from __future__ import annotations

import contextlib
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionContext

from crm.db_health import unavailable_reason
from crm.logging import get_logger
from crm.settings import get_settings
from graphql_schema.request_errors import is_client_error

log = get_logger("crm.graphql")


def error_code(error: GraphQLError) -> str | None:
    """The error's ``extensions.code``, also when a resolver raised it as a GraphQLError."""
    for candidate in (error, error.original_error):
        if isinstance(candidate, GraphQLError):
            code = (candidate.extensions or {}).get("code")
            if isinstance(code, str):
                return code
    return None


def is_expected(error: GraphQLError) -> bool:
    """An error about the request (bad input, validation, permissions), not a bug."""
    return error.original_error is None or is_client_error(error) or error_code(error) is not None


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """One event per error, without the query text or its variables (see the module)."""
    operation = _operation(execution_context)
    for error in errors:
        path = ".".join(str(part) for part in error.path or ()) or None
        original = error.original_error
        if is_expected(error):
            log.debug(
                "crm.graphql.request_error",
                code=error_code(error) or "GRAPHQL_VALIDATION_FAILED",
                path=path,
                **operation,
                **_details(execution_context, error),
            )
            continue
        reason = unavailable_reason(original)
        if reason is not None:
            log.warning("crm.graphql.database_unavailable", reason=reason, path=path, **operation)
            continue
        log.error(
            "crm.graphql.unexpected_error",
            error=type(original).__name__,
            path=path,
            **operation,
            **_details(execution_context, error),
            exc_info=original,
        )


def _operation(execution_context: ExecutionContext | None) -> dict[str, Any]:
    if execution_context is None:
        return {}
    fields: dict[str, Any] = {}
    # no document (a syntax error): no type to name
    with contextlib.suppress(Exception):
        fields["operation_type"] = execution_context.operation_type.value
    # a name from the document, chosen by the client's developer: an identifier, not data
    name = execution_context.operation_name
    if isinstance(name, str) and name.isidentifier() and len(name) <= 100:
        fields["operation_name"] = name
    return fields


def _details(execution_context: ExecutionContext | None, error: GraphQLError) -> dict[str, Any]:
    """The message, query text and variables: only with CRM_LOG_PERSONAL_DATA on."""
    if execution_context is None or not get_settings().log_personal_data:
        return {}
    return {
        "message": error.message,
        "query": execution_context.query,
        "variables": execution_context.variables,
    }
