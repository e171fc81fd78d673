"""Errors a client can act on, never an "Unexpected error.": a scalar's refusal of a literal
points at it, and a database that cannot serve is a coded DATABASE_UNAVAILABLE."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, ValueNode
from graphql.validation import ValuesOfCorrectTypeRule
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types import ExecutionResult

from crm.db_health import unavailable_reason
from crm.errors import ErrorCode


class LocatedValuesRule(ValuesOfCorrectTypeRule):
    """The spec's "values of correct type" rule, whose errors always point at the value.

    A scalar that refuses a literal with its own GraphQLError (strawberry's DateTime, Date,
    UUID...: ``updatedSince: "soon"``) is reported as that error, which names no location;
    here it gets the value's location and the INVALID_INPUT code of every bad argument.
    """

    def is_valid_value_node(self, node: ValueNode, input_type: Any) -> Any:
        report = super().report_error

        def located(error: GraphQLError) -> None:
            if not error.nodes:
                error = GraphQLError(
                    error.message,
                    node,
                    extensions={**(error.extensions or {}), "code": ErrorCode.INVALID_INPUT.value},
                )
            report(error)

        self.report_error = located  # type: ignore[method-assign]
        try:
            return super().is_valid_value_node(node, input_type)
        finally:
            del self.report_error


def with_located_values(rules: tuple[Any, ...]) -> tuple[Any, ...]:
    """``rules`` with :class:`LocatedValuesRule` in place of the spec's own."""
    return tuple(LocatedValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in rules)


def is_client_error(error: GraphQLError) -> bool:
    """An error about the request itself (a variable's value, a literal), never to be masked:
    it points at the document and at no field."""
    original = error.original_error
    return isinstance(original, StrawberryInputCoercionError) or (
        error.path is None and bool(error.locations)
    )


def code_database_errors(result: ExecutionResult | None) -> None:
    """Replace each error a database that cannot serve caused with a coded
    DATABASE_UNAVAILABLE one (same path and locations), so that it is never masked."""
    if result is None or not result.errors:
        return
    errors = []
    for error in result.errors:
        reason = unavailable_reason(error.original_error) if error.original_error else None
        if reason is not None:
            error = GraphQLError(
                f"the database is unavailable ({reason}): try again shortly",
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": ErrorCode.DATABASE_UNAVAILABLE.value, "reason": reason},
            )
        errors.append(error)
    result.errors = errors
