"""Candidate changes to the lookup path, built here without touching the app's own code.

Each ``create_*`` is a uvicorn factory like ``graphql_schema.app:create_app``; ``run.py --app
variants:create_NAME`` benchmarks one against the same floor, and ``profile_request.py`` times
them in-process. They exist to measure proposals; the app itself is not changed by them.

- ``baseline``: the app as it is (``graphql_schema.app.create_app``).
- ``cached``: parse and validation results cached per query text (strawberry's ``ParserCache``
  and ``ValidationCache``), with the limiter rules built once so that the validation cache key
  (schema, document, rule classes) is stable across requests.
- ``noping``: the engine without ``pool_pre_ping`` (one round trip fewer per request).
- ``threaded``: each request's blocking database work off the event loop (the request runs on
  a worker thread's own event loop), so it overlaps with other requests' Python work.
- ``lean``: ``cached`` + ``noping`` + the read session in autocommit (no BEGIN/ROLLBACK round
  trips; here the whole engine is autocommit, which only suits a read-only benchmark: the real
  change belongs in ``crm.db.read_only``) + authentication with one Core select instead of
  loading two ORM entities.
- ``cached_autocommit``: ``lean`` without the Core auth select.
- ``cached_noping``, ``best`` (cached + noping + threaded), ``lean_threaded``: combinations.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import strawberry
from sqlalchemy import bindparam, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache

from crm.db import get_engine, make_engine
from crm.models import ApiKey, Organization
from crm.settings import Settings, get_settings
from crm.tenancy.service import KEY_PREFIX, Principal, Role, hash_key
from graphql_schema.app import create_app
from graphql_schema.http import CRMGraphQL
from graphql_schema.schema import build_schema


def cached_schema(settings: Settings) -> strawberry.Schema:
    """``build_schema(settings)`` plus parse/validation caches, its rule classes built once.

    Every extension of the app's schema that only adds validation rules (the depth and alias
    limiters, DisableIntrospection) is instantiated once here and its rule classes are added by
    one shared ``AddValidationRules``; the other extensions keep their per-request factories.
    """
    base = build_schema(settings)
    rules: list[Any] = []
    extensions: list[Any] = []
    for factory in base.extensions:
        instance = factory() if callable(factory) else factory
        if isinstance(instance, AddValidationRules):
            rules.extend(instance.validation_rules)
        else:
            extensions.append(factory)
    extensions += [
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    return strawberry.Schema(
        query=base.query,
        mutation=base.mutation,
        subscription=base.subscription,
        extensions=extensions,
        config=base.config,
    )


_local = threading.local()


def _on_thread_loop(fn: Any, *args: Any) -> Any:
    loop = getattr(_local, "loop", None)
    if loop is None:
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(fn(*args))


class ThreadedCRMGraphQL(CRMGraphQL):
    """The app's view with each request answered on a worker thread's own event loop."""

    async def _respond(self, request: Any) -> Any:
        await request.body()  # received on the server's loop; cached on the request
        return await run_in_threadpool(_on_thread_loop, super()._respond, request)


class CoreAuthCRMGraphQL(CRMGraphQL):
    """The app's view authenticating with one Core select (no ORM entities, no identity map)."""

    def _principal(self, session: Any, request: Any) -> Any:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        row = session.connection().execute(_AUTH, {"h": hash_key(key)}).first()
        if row is None:
            return None
        org = Organization(**{c.name: row._mapping[c] for c in _ORGS.c})
        return Principal(organization=org, role=Role[row.role.upper()], key_id=row.id)


_KEYS, _ORGS = ApiKey.__table__, Organization.__table__
_AUTH = (
    select(_KEYS.c.id, _KEYS.c.role, *_ORGS.c)
    .join(_ORGS, _ORGS.c.id == _KEYS.c.organization_id)
    .where(_KEYS.c.key_hash == bindparam("h"), _KEYS.c.revoked_at.is_(None))
)


def _app(
    schema: strawberry.Schema, engine: Any, settings: Settings, threaded: bool, cls: Any = None
) -> Starlette:
    """Like ``create_app``, with the given schema, engine and view class."""
    app = create_app(engine=engine, settings=settings)
    cls = cls or (ThreadedCRMGraphQL if threaded else CRMGraphQL)
    view = cls(
        schema,
        engine=engine,
        settings=settings,
        graphql_ide=None if settings.production else "graphiql",
        multipart_uploads_enabled=True,
    )
    for route in app.routes:
        if getattr(route, "path", None) == "/graphql":
            route.app = view  # type: ignore[attr-defined]
            route.endpoint = view  # type: ignore[attr-defined]
    return app


def create_baseline() -> Starlette:
    return create_app()


def create_cached() -> Starlette:
    settings = get_settings()
    return _app(cached_schema(settings), get_engine(), settings, threaded=False)


def create_noping() -> Starlette:
    return create_app(engine=make_engine(pool_pre_ping=False))


def create_threaded() -> Starlette:
    settings = get_settings()
    return _app(build_schema(settings), get_engine(), settings, threaded=True)


def create_cached_noping() -> Starlette:
    settings = get_settings()
    return _app(cached_schema(settings), make_engine(pool_pre_ping=False), settings, False)


def create_best() -> Starlette:
    settings = get_settings()
    return _app(cached_schema(settings), make_engine(pool_pre_ping=False), settings, True)


def create_cached_autocommit() -> Starlette:
    settings = get_settings()
    engine = make_engine(pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    return _app(cached_schema(settings), engine, settings, False)


def create_lean() -> Starlette:
    settings = get_settings()
    engine = make_engine(pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    return _app(cached_schema(settings), engine, settings, False, cls=CoreAuthCRMGraphQL)


class _LeanThreaded(ThreadedCRMGraphQL, CoreAuthCRMGraphQL):
    pass


def create_lean_threaded() -> Starlette:
    settings = get_settings()
    engine = make_engine(pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    return _app(cached_schema(settings), engine, settings, True, cls=_LeanThreaded)
