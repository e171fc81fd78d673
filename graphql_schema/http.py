"""The GraphQL HTTP endpoint: API-key auth, one session per request, GraphQL over HTTP."""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from crm.settings import Settings
from crm.tenancy.service import Principal, authenticate
from graphql_schema.context import Context


def _error_response(status: int, message: str, code: str, **headers: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


class CRMGraphQL(GraphQL):
    def __init__(self, schema: Any, *, engine: Engine, settings: Settings, **kwargs: Any):
        super().__init__(schema, **kwargs)
        self.engine = engine
        self.settings = settings

    def _wants_ide(self, request: Request) -> bool:
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
        )

    def _principal(self, session: Session, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return authenticate(session, key=key.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        if self._wants_ide(request):
            response = await self.render_graphql_ide(request)
            await response(scope, receive, send)
            return
        session = Session(self.engine, expire_on_commit=False)
        try:
            principal = self._principal(session, request)
            if principal is None:
                response = _error_response(
                    401,
                    "missing or invalid API key: send 'Authorization: Bearer <key>'",
                    "UNAUTHENTICATED",
                    **{"WWW-Authenticate": "Bearer"},
                )
            else:
                context = Context(
                    request=request,
                    response=None,
                    session=session,
                    principal=principal,
                    settings=self.settings,
                )
                try:
                    response = await self.run(request, context=context)
                except HTTPException as exc:
                    response = _error_response(exc.status_code, exc.reason, "BAD_REQUEST")
        finally:
            session.rollback()
            session.close()
        await response(scope, receive, send)
