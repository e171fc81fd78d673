"""The GraphQL HTTP endpoint: API-key auth, one session per request, GraphQL over HTTP.

Follows the GraphQL-over-HTTP spec (https://graphql.github.io/graphql-over-http/draft/), checked
by ``bench/graphql-http/audit.mjs``: the response media type is negotiated from ``Accept``
(``application/graphql-response+json`` when the client names it, ``application/json``
otherwise, 406 when neither is acceptable); with ``application/graphql-response+json`` a request
that fails before execution (syntax, validation, variable coercion) is a 400 without ``data``,
while ``application/json`` keeps answering 200. A body that is not a GraphQL request is a 400,
one in another media type a 415, a mutation over GET a 405.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import anyio.to_thread
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import Connection, Engine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from crm.db import read_only
from crm.db_health import unavailable_reason
from crm.errors import ErrorCode
from crm.settings import Settings
from crm.tenancy.service import Principal, authenticate, authenticate_async
from graphql_schema import graphiql
from graphql_schema.context import Context

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
MULTIPART = "multipart/form-data"
# on a tie, the first wins: a wildcard (*/*, application/*) means the legacy application/json
RESPONSE_MEDIA_TYPES = (JSON, GRAPHQL_RESPONSE_JSON)


class RequestRejected(HTTPException):
    """An HTTP error answered before execution, with the headers its status calls for."""

    def __init__(self, status_code: int, reason: str, *, headers: dict[str, str] | None = None):
        super().__init__(status_code, reason)
        self.headers = headers or {}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or None when no supported one is.

    Each supported type takes the quality of the most specific range that matches it
    (RFC 9110 section 12.5.1); a type named explicitly beats a wildcard of the same quality.
    """
    if not accept or not accept.strip():
        return JSON
    matches: dict[str, tuple[int, float]] = {}  # media type -> (specificity, quality)
    for media_range in accept.split(","):
        name, *params = (part.strip().lower() for part in media_range.split(";"))
        quality = _quality(params)
        if not name or quality is None:
            continue
        for media_type in RESPONSE_MEDIA_TYPES:
            specificity = _specificity(name, media_type)
            if specificity > matches.get(media_type, (-1, 0.0))[0]:
                matches[media_type] = (specificity, quality)

    def rank(media_type: str) -> tuple[float, bool, bool]:
        specificity, quality = matches[media_type]
        named = specificity == 2
        # between two named types of one quality, the spec's own media type wins
        return quality, named, named and media_type == GRAPHQL_RESPONSE_JSON

    acceptable = [media_type for media_type in matches if matches[media_type][1] > 0]
    return max(sorted(acceptable, key=RESPONSE_MEDIA_TYPES.index), key=rank, default=None)


def _quality(params: list[str]) -> float | None:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                return None
            return quality if 0 <= quality <= 1 else None
    return 1.0


def _specificity(media_range: str, media_type: str) -> int:
    if media_range == media_type:
        return 2
    if media_range == media_type.split("/")[0] + "/*":
        return 1
    if media_range == "*/*":
        return 0
    return -1


def content_type(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"


def is_request_error(result: ExecutionResult) -> bool:
    """Whether the operation failed before execution: syntax, validation, variable coercion.

    Those errors point at the document (locations) and at no field (path); an unexpected
    exception before execution points at neither and stays a ``data: null`` response.
    """
    errors: list[GraphQLError] = result.errors or []
    return (
        result.data is None
        and bool(errors)
        and all(error.path is None and error.locations for error in errors)
    )


def error_response(
    status: int, message: str, *, media_type: str = JSON, headers: dict[str, str] | None = None
) -> Response:
    code = "UNAUTHENTICATED" if status == 401 else HTTPStatus(status).name
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={**(headers or {}), "Content-Type": content_type(media_type)},
    )


def database_unavailable_response(reason: str, *, media_type: str = JSON) -> Response:
    """503 with one coded error: the request was not run because the database cannot serve."""
    error = {
        "message": f"the database is unavailable ({reason}): try again shortly",
        "extensions": {"code": ErrorCode.DATABASE_UNAVAILABLE.value, "reason": reason},
    }
    return Response(
        json.dumps({"errors": [error]}, separators=(",", ":")),
        status_code=503,
        headers={"Retry-After": "5", "Content-Type": content_type(media_type)},
    )


class CRMGraphQL(GraphQL):
    """Strawberry's ASGI view with API-key auth, a session per request and spec status codes."""

    def __init__(
        self,
        schema: Any,
        *,
        engine: Engine,
        settings: Settings,
        async_pool: AsyncConnectionPool | None = None,
        **kwargs: Any,
    ):
        super().__init__(schema, **kwargs)
        self.engine = engine
        self.settings = settings
        # opened and closed by the app's lifespan; used only while open
        self.async_pool = async_pool

    def _wants_ide(self, request: Request) -> bool:
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        # this app's own GraphiQL page: its assets served locally, the API key asked for
        return graphiql.page(request)

    @staticmethod
    def _bearer_key(request: Request) -> str | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        return key if scheme.lower() == "bearer" and key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._respond(request)
        except ClientDisconnect:
            return  # the client went away before its request was read: no one to answer
        response.headers.add_vary_header("Accept")
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        if self._wants_ide(request):
            return await self.render_graphql_ide(request)
        if request.method not in ("GET", "POST"):
            return error_response(
                405, "GraphQL is served over GET and POST", headers={"Allow": "GET, POST"}
            )
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None:
            supported = f"{GRAPHQL_RESPONSE_JSON} or {JSON}"
            return error_response(406, f"no acceptable media type: accept {supported}")
        request.state.media_type = media_type
        key = self._bearer_key(request)
        if request.method == "POST" and request.headers.get("content-type", "").startswith(JSON):
            # read a JSON body before taking a database connection: a slow client holds none
            await request.body()
        try:
            return await self._connected(request, key)
        except Exception as exc:
            # the database cannot serve (refused, hung, out of connections): a coded answer
            # within the pool's and connect timeouts, never a plain-text 500
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            return database_unavailable_response(reason, media_type=media_type)

    async def _connected(self, request: Request, key: str | None) -> Response:
        pool = self.async_pool
        if pool is not None and not pool.closed:
            # PostgreSQL: the hot statements on an asynchronous connection, so the loop serves
            # other requests while this one waits for the database
            async with pool.connection() as aconnection:
                principal = None
                if key is not None:
                    principal = await authenticate_async(aconnection, self.engine.dialect, key=key)
                return await self._serve(request, principal, aconnection=aconnection)
        # one pooled synchronous connection: autocommit reads (no BEGIN/ROLLBACK round trips),
        # made and used for authentication off the event loop (a hung database holds a thread)
        connection, principal = await anyio.to_thread.run_sync(self._connect, key)
        try:
            return await self._serve(request, principal, connection=connection)
        finally:
            connection.close()

    def _connect(self, key: str | None) -> tuple[Connection, Principal | None]:
        connection = read_only(self.engine).connect()
        try:
            principal = authenticate(connection, key=key) if key is not None else None
        except BaseException:
            connection.close()
            raise
        return connection, principal

    async def _serve(
        self,
        request: Request,
        principal: Principal | None,
        *,
        aconnection: AsyncConnection | None = None,
        connection: Connection | None = None,
    ) -> Response:
        media_type = request.state.media_type
        if principal is None:
            return error_response(
                401,
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                media_type=media_type,
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.principal = principal
        request.state.aconnection = aconnection
        request.state.connection = connection
        try:
            return await self.run(request)
        except HTTPException as exc:
            headers = exc.headers if isinstance(exc, RequestRejected) else None
            return error_response(
                exc.status_code, exc.reason, media_type=media_type, headers=headers
            )
        finally:
            context = getattr(request.state, "context", None)
            if context is not None:
                context.close()

    async def get_context(self, request: Any, response: Any) -> Context:
        context = Context(
            request=request,
            response=response,
            engine=self.engine,
            principal=request.state.principal,
            settings=self.settings,
            aconnection=request.state.aconnection,
            given_connection=request.state.connection,
        )
        request.state.context = context
        return context

    async def get_sub_response(self, request: Any) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = request.state.media_type
        return sub_response

    def should_render_graphql_ide(self, request: Any) -> bool:
        # the IDE is served before authentication (see _wants_ide), never to an API client
        return False

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            await self._check_post_body(request)
        request_data = await super().parse_http_body(request)
        items = request_data if isinstance(request_data, list) else [request_data]
        if any(not isinstance(item.operation_name, str | None) for item in items):
            raise HTTPException(
                400, "The GraphQL operation's `operationName` must be a string or null."
            )
        return request_data

    async def _check_post_body(self, request: AsyncHTTPRequestAdapter) -> None:
        media_type, params = parse_content_type(request.content_type or "")
        media_type = media_type.lower()
        if media_type == MULTIPART and self.multipart_uploads_enabled:
            return
        if media_type != JSON:
            supported = f"{JSON} or {MULTIPART}" if self.multipart_uploads_enabled else JSON
            raise RequestRejected(415, f"Unsupported Content-Type: send {supported}")
        if params.get("charset", "utf-8").lower() != "utf-8":
            raise RequestRejected(415, "Unsupported charset: send the body in utf-8")
        # a JSON object (or a batch's array) is the only JSON text that starts this way
        if (await request.get_body()).lstrip(b" \t\r\n")[:1] not in (b"{", b"["):
            raise HTTPException(400, "The request body must be a JSON object")

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.MUTATION
            ):
                raise RequestRejected(
                    405, "mutations are not allowed over GET: use POST", headers={"Allow": "POST"}
                ) from exc
            raise

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        response_data = await super().process_result(request, result)
        if request.state.media_type == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            # the spec's signal that execution never started; create_response makes it a 400
            del response_data["data"]
        return response_data

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or JSON
        response.headers["Content-Type"] = content_type(media_type)
        if (
            media_type == GRAPHQL_RESPONSE_JSON
            and not isinstance(response_data, list)
            and "data" not in response_data
            and not sub_response.status_code
        ):
            response.status_code = 400
        return response
