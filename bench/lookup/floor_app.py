"""The floor: a bare strawberry app answering ``{ hello }`` on starlette.

Same interpreter, same uvicorn flags as the real app; no database, no auth, no extensions.
Whatever the lookup costs beyond this is ours.
"""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


schema = strawberry.Schema(query=Query)


def create_app() -> Starlette:
    """uvicorn factory (``floor_app:create_app --factory``)."""
    view = GraphQL(schema, graphql_ide=None)
    return Starlette(routes=[Route("/graphql", view, methods=["GET", "POST"])])
