"""``profile_request.py --scenario context``: where a contactContext request's time goes.

The app runs as uvicorn serves it: its lifespan opened (the asynchronous pool, so the hot path
is the one production takes on PostgreSQL), one event loop. Steps, each called sequentially in
interleaved rounds (the best round counts): the whole ASGI request of the floor, of the lookup
and of contactContext; then contactContext's parts: authentication, the SQL (one round trip),
the payload's objects, and ``schema.execute`` without HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from generate import human_phone
from profile_request import Steps, asgi_caller, new_loop
from run import CONTEXT_QUERY, LOOKUP_QUERY, editor_key


def profile_context(args, state: dict) -> int:
    os.environ.update(
        {
            "CRM_ENV": "production",
            "CRM_DATABASE_URL": state["url"],
            "CRM_SECRET_KEY": "bench-lookup-not-a-secret",
            "CRM_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("CRM_REDIS_URL", None)
    if not state.get("activity"):
        raise SystemExit("run bench/lookup/run.py --scenario context first (it adds activity)")

    import floor_app
    import psycopg
    from starlette.requests import Request

    from crm.db import get_engine
    from crm.settings import get_settings
    from crm.tenancy.service import authenticate_async
    from graphql_schema.app import create_app
    from graphql_schema.context import Context
    from graphql_schema.mutations import contact_context as mutation
    from graphql_schema.schema import build_schema

    reader_key = state["key"]
    key = editor_key(state["url"])
    ids: dict[str, str] = state["ids"]
    rng = random.Random(7)
    phones = ["0" + e[3:] for e in rng.sample(sorted(ids), min(5000, len(ids)))]
    values = [human_phone(p, i % 3) for i, p in enumerate(phones)]

    def bodies(query: str) -> list[bytes]:
        return [json.dumps({"query": query, "variables": {"v": v}}).encode() for v in values]

    lookup_bodies, context_bodies = bodies(LOOKUP_QUERY), bodies(CONTEXT_QUERY)
    loop = new_loop()
    asyncio.set_event_loop(loop)
    app = create_app()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())  # opens the asynchronous pool

    json_headers = {"content-type": "application/json"}
    lookup_call = asgi_caller(app, {**json_headers, "authorization": f"Bearer {reader_key}"}, loop)
    context_call = asgi_caller(app, {**json_headers, "authorization": f"Bearer {key}"}, loop)
    floor_call = asgi_caller(floor_app.create_app(), json_headers, loop)
    floor_body = b'{"query":"{ hello }"}'

    def lookup_request(i: int) -> None:
        out = lookup_call(lookup_bodies[i % len(lookup_bodies)])
        assert b'"id"' in out and b'"errors"' not in out, out

    def context_request(i: int) -> None:
        out = context_call(context_bodies[i % len(context_bodies)])
        assert b'"lastOrder":{' in out and b'"created":false' in out, out

    steps = Steps()
    print(
        f"{args.rounds} rounds x {args.per_round} sequential calls per step; "
        f"{len(ids):,} contacts loaded; asynchronous path (lifespan open)",
        flush=True,
    )
    steps.add("ASGI floor { hello }", lambda i: floor_call(floor_body))
    steps.add("ASGI app contactByIdentifier (whole request)", lookup_request)
    steps.add("ASGI app contactContext (whole request)", context_request)

    steps.header("-- parts of contactContext")
    settings = get_settings()
    engine = get_engine()
    aconn = loop.run_until_complete(
        psycopg.AsyncConnection.connect(
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        )
    )
    dialect = engine.dialect

    def auth(i: int) -> None:
        assert loop.run_until_complete(authenticate_async(aconn, dialect, key=key)) is not None

    steps.add("authenticate_async (one prepared statement)", auth)

    async def one_trip() -> None:
        async with aconn.cursor() as cursor:
            await cursor.execute("SELECT 1", prepare=True)
            await cursor.fetchone()

    steps.add("one prepared round trip, SELECT 1", lambda i: loop.run_until_complete(one_trip()))

    principal = loop.run_until_complete(authenticate_async(aconn, dialect, key=key))
    org = principal.organization
    read = getattr(mutation, "read_context", None)

    async def sql(i: int):
        v = values[i % len(values)]
        if read is not None:
            return await read(aconn, dialect, organization=org, channel="PHONE", value=v)
        from crm.contacts.bot_context import contact_and_context_async

        return await contact_and_context_async(
            aconn,
            dialect,
            organization_id=org.id,
            channel="PHONE",
            value=v,
            region=org.default_region,
        )

    def sql_step(i: int) -> None:
        assert loop.run_until_complete(sql(i)) is not None

    steps.add("the contact and its context: SQL, decoded (one round trip)", sql_step)

    found = [loop.run_until_complete(sql(i)) for i in range(50)]
    build = getattr(mutation, "payload_of", None)

    def payload(i: int) -> None:
        got = found[i % len(found)]
        if build is not None:
            build(got, False)
        else:
            mutation._payload(got[0], False, got[1])

    steps.add("the payload's strawberry objects", payload)

    schema = build_schema(settings)
    fake_request = Request({"type": "http", "headers": [], "method": "POST"})

    def execute(query: str, i: int) -> dict:
        ctx = Context(
            request=fake_request,
            response=None,
            engine=engine,
            principal=principal,
            settings=settings,
            aconnection=aconn,
        )
        r = loop.run_until_complete(
            schema.execute(query, variable_values={"v": values[i % len(values)]}, context_value=ctx)
        )
        assert r.errors is None, r.errors
        return r.data

    steps.add(
        "schema.execute contactContext (no HTTP, no auth)", lambda i: execute(CONTEXT_QUERY, i)
    )
    steps.add(
        "schema.execute contactByIdentifier (no HTTP, no auth)", lambda i: execute(LOOKUP_QUERY, i)
    )

    results = steps.run(args.rounds, args.per_round)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.cprofile:
        import cProfile
        import pstats

        # CPU time, not wall time: on a shared machine the waits for a CPU and for PostgreSQL
        # would otherwise land on whichever call was running (a socket send, the loop)
        prof = cProfile.Profile(time.process_time)
        n = args.per_round * args.rounds
        prof.enable()
        for i in range(n):
            context_request(i)
        prof.disable()
        prof.dump_stats(args.cprofile)
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(60)
        print(f"cProfile of {n} contactContext requests written to {args.cprofile}")
    loop.run_until_complete(aconn.close())
    loop.run_until_complete(lifespan.__aexit__(None, None, None))
    return 0
