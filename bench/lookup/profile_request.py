"""Where a lookup request's time goes, measured in-process (no sockets, no load tool).

Needs the database ``run.py`` loaded (it reads ``bench/results/.lookup-state.json``)::

    .venv/bin/python bench/lookup/profile_request.py [--rounds 5] [--per-round 300]
        [--json OUT.json] [--cprofile OUT.prof] [--scenario context]

Each line is the time of one step per call, called sequentially: the whole ASGI request of the
app and of the floor, then the steps of the app's request one by one (auth, the identifier
query, GraphQL parse/validate/execute, ...). Steps run in interleaved rounds; the best round
counts (a shared machine's contention only ever adds). Wall time includes waiting for
PostgreSQL; CPU time is this process's alone. One uvicorn worker serves requests one at a
time while it runs Python, so 1000 / (CPU ms of the whole request) bounds its throughput.

``--scenario context`` profiles ``contactContext`` instead, on the app's asynchronous path as
uvicorn serves it (``profile_context.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from generate import human_phone  # noqa: E402
from run import LOOKUP_QUERY  # noqa: E402

STATE = ROOT / "bench" / "results" / ".lookup-state.json"


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop as uvicorn's (uvloop when installed)."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def asgi_caller(
    app, headers: dict[str, str], loop: asyncio.AbstractEventLoop | None = None
) -> Callable[[bytes], bytes]:
    """Call ``app`` once per body on one event loop (uvloop when installed), like uvicorn."""
    loop = loop or new_loop()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def call(body: bytes) -> bytes:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000),
            "headers": [*raw_headers, (b"content-length", str(len(body)).encode())],
        }
        sent = False
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return b"".join(chunks)

    return lambda body: loop.run_until_complete(call(body))


class Steps:
    """Named steps measured in interleaved rounds: contention from other processes hits every
    step alike, and the best round of each is the least disturbed one."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[int], object]]] = []

    def add(self, name: str, fn: Callable[[int], object]) -> None:
        self.steps.append((name, fn))

    def header(self, title: str) -> None:
        self.steps.append((title, None))  # type: ignore[arg-type]

    def run(self, rounds: int, per_round: int) -> dict:
        walls: dict[str, list[float]] = {name: [] for name, fn in self.steps if fn}
        cpus: dict[str, list[float]] = {name: [] for name, fn in self.steps if fn}
        for _name, fn in self.steps:  # warm-up: caches, pool, prepared statements
            if fn:
                for i in range(100):
                    fn(i)
        for r in range(rounds):
            for name, fn in self.steps:
                if not fn:
                    continue
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for i in range(per_round):
                    fn(r * per_round + i)
                walls[name].append((time.perf_counter() - wall0) * 1000 / per_round)
                cpus[name].append((time.process_time() - cpu0) * 1000 / per_round)
            print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
        results = {}
        print(f"{'step':60s} {'wall ms':>8s} {'cpu ms':>8s}   (best round; median cpu)")
        for name, fn in self.steps:
            if not fn:
                print(name)
                continue
            w, c = min(walls[name]), min(cpus[name])
            results[name] = {
                "wall_ms": w,
                "cpu_ms": c,
                "cpu_median_ms": statistics.median(cpus[name]),
                "wall_rounds": walls[name],
                "cpu_rounds": cpus[name],
            }
            print(f"{name:60s} {w:8.3f} {c:8.3f}   ({statistics.median(cpus[name]):.3f})")
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=300, help="calls per step per round")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--cprofile", help="also cProfile N app requests into this file")
    parser.add_argument(
        "--scenario",
        choices=("lookup", "context"),
        default="lookup",
        help="lookup: contactByIdentifier on the synchronous path; context: contactContext "
        "(and the lookup beside it) on the app's asynchronous path, as uvicorn serves it "
        "(needs run.py --scenario context to have added the activity)",
    )
    args = parser.parse_args()
    if not STATE.exists():
        raise SystemExit("run bench/lookup/run.py first (it loads the database)")
    state = json.loads(STATE.read_text())
    if args.scenario == "context":
        from profile_context import profile_context

        return profile_context(args, state)
    os.environ.update(
        {
            "CRM_ENV": "production",
            "CRM_DATABASE_URL": state["url"],
            "CRM_SECRET_KEY": "bench-lookup-not-a-secret",
        }
    )

    import floor_app
    import phonenumbers  # noqa: F401
    from graphql import parse, validate
    from sqlalchemy import text
    from sqlmodel import Session

    from crm.contacts import queries
    from crm.db import get_engine, make_engine

    try:
        from crm.db import read_only
    except ImportError:  # older tree

        def read_only(engine):
            return engine

    from crm.identity import normalize_phone
    from crm.settings import get_settings
    from crm.tenancy.service import authenticate
    from graphql_schema.app import create_app
    from graphql_schema.context import Context
    from graphql_schema.schema import build_schema

    key = state["key"]
    ids: dict[str, str] = state["ids"]
    rng = random.Random(7)
    phones = ["0" + e[3:] for e in rng.sample(sorted(ids), min(5000, len(ids)))]
    values = [human_phone(p, i % 3) for i, p in enumerate(phones)]

    def body(i: int) -> bytes:
        v = values[i % len(values)]
        return json.dumps({"query": LOOKUP_QUERY, "variables": {"v": v}}).encode()

    bodies = [body(i) for i in range(len(values))]
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    settings = get_settings()
    engine = get_engine()
    n = args.per_round * args.rounds
    steps = Steps()
    print(
        f"{args.rounds} rounds x {args.per_round} sequential calls per step; "
        f"{len(ids):,} contacts loaded",
        flush=True,
    )

    app_call = asgi_caller(create_app(), headers)
    expect = b'"id"'

    def app_request(i: int) -> None:
        out = app_call(bodies[i % len(bodies)])
        assert expect in out and b'"errors"' not in out, out

    floor_call = asgi_caller(floor_app.create_app(), {"content-type": "application/json"})
    floor_body = b'{"query":"{ hello }"}'

    steps.add("ASGI floor { hello }", lambda i: floor_call(floor_body))
    steps.add("ASGI app contactByIdentifier (whole request)", app_request)

    steps.header("-- steps of the app's request")

    def raw_roundtrip(i: int) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    steps.add("pool checkout + ping + SELECT 1 + rollback (engine)", raw_roundtrip)

    noping = make_engine(pool_pre_ping=False)

    def raw_noping(i: int) -> None:
        with noping.connect() as conn:
            conn.execute(text("SELECT 1"))

    steps.add("pool checkout + SELECT 1 + rollback (no pre-ping)", raw_noping)

    def auth(i: int) -> None:
        session = Session(read_only(engine), expire_on_commit=False)
        try:
            assert authenticate(session, key=key) is not None
            session.expunge_all()
        finally:
            session.rollback()
            session.close()

    steps.add("auth as http.py: Session(read_only(engine)) + authenticate", auth)

    def auth_plain(i: int) -> None:
        session = Session(engine, expire_on_commit=False)
        try:
            assert authenticate(session, key=key) is not None
            session.expunge_all()
        finally:
            session.rollback()
            session.close()

    steps.add("auth, Session(engine) (no per-request OptionEngine)", auth_plain)

    from sqlalchemy import bindparam, select

    from crm.models import ApiKey, Contact, ContactIdentifier, Organization
    from crm.tenancy.service import Principal, Role, hash_key

    keys_t, orgs_t = ApiKey.__table__, Organization.__table__
    auth_stmt = (
        select(keys_t.c.id, keys_t.c.role, *orgs_t.c)
        .join(orgs_t, orgs_t.c.id == keys_t.c.organization_id)
        .where(keys_t.c.key_hash == bindparam("h"), keys_t.c.revoked_at.is_(None))
    )

    def auth_core(i: int) -> None:
        session = Session(read_only(engine), expire_on_commit=False)
        try:
            row = session.connection().execute(auth_stmt, {"h": hash_key(key)}).first()
            org = Organization(**{c.name: row._mapping[c] for c in orgs_t.c})
            Principal(organization=org, role=Role[row.role.upper()], key_id=row.id)
        finally:
            session.rollback()
            session.close()

    steps.add("auth, Core select + Organization(**row)", auth_core)

    ac_engine = make_engine(pool_pre_ping=False, isolation_level="AUTOCOMMIT")

    def auth_core_autocommit(i: int) -> None:
        session = Session(ac_engine, expire_on_commit=False)
        try:
            row = session.connection().execute(auth_stmt, {"h": hash_key(key)}).first()
            org = Organization(**{c.name: row._mapping[c] for c in orgs_t.c})
            Principal(organization=org, role=Role[row.role.upper()], key_id=row.id)
        finally:
            session.rollback()
            session.close()

    steps.add("auth, Core, autocommit + no pre-ping (no BEGIN/ROLLBACK/ping)", auth_core_autocommit)

    def session_only(i: int) -> None:
        session = Session(read_only(engine), expire_on_commit=False)
        try:
            session.connection()
        finally:
            session.rollback()
            session.close()

    steps.add("  Session + checkout (+ping, BEGIN) + rollback + close, no query", session_only)

    session = Session(engine, expire_on_commit=False)
    principal = authenticate(session, key=key)
    org_id = principal.organization_id

    def lookup_sql(i: int) -> None:
        v = values[i % len(values)]
        row = queries.contact_by_identifier(
            session, organization_id=org_id, channel="PHONE", value=v, region="AU"
        )
        assert row is not None

    steps.add("identifier query: queries.contact_by_identifier (open tx)", lookup_sql)

    def normalize(i: int) -> None:
        normalize_phone(values[i % len(values)], region="AU")

    steps.add("  of which normalize_phone()", normalize)

    conn = session.connection()
    ci = ContactIdentifier
    stmt = (
        select(Contact.__table__.c.id)
        .join(ci, ci.contact_id == Contact.id)
        .where(ci.organization_id == org_id, ci.namespace == "tel", ci.value == bindparam("v"))
        .order_by(ci.ordinal)
        .limit(1)
    )

    def lookup_core(i: int) -> None:
        e164 = "+61" + phones[i % len(phones)][1:]
        assert conn.execute(stmt, {"v": e164}).first() is not None

    steps.add("  same join, Core, id only (SQL round trip floor)", lookup_core)

    contacts_t = Contact.__table__
    full_stmt = (
        select(contacts_t)
        .join(ci, ci.contact_id == contacts_t.c.id)
        .where(ci.organization_id == org_id, ci.namespace == "tel", ci.value == bindparam("v"))
        .order_by(ci.ordinal)
        .limit(1)
    )

    def lookup_core_full(i: int) -> None:
        v = values[i % len(values)]
        e164 = normalize_phone(v, region="AU")
        assert conn.execute(full_stmt, {"v": e164}).first() is not None

    steps.add("  same join, Core, every contact column, + normalize", lookup_core_full)

    schema = build_schema(settings)

    def parse_validate(i: int) -> None:
        doc = parse(LOOKUP_QUERY)
        errors = validate(schema._schema, doc)
        assert not errors

    steps.add("graphql-core parse + validate (standard rules only)", parse_validate)

    loop = asyncio.new_event_loop()
    from starlette.requests import Request

    fake_request = Request({"type": "http", "headers": [], "method": "POST"})
    context_fields = set(Context.__dataclass_fields__)

    def make_context() -> Context:
        kwargs = {
            "request": fake_request,
            "response": None,
            "session": session,
            "connection": conn,
            "principal": principal,
            "settings": settings,
            "engine": engine,
        }
        return Context(**{k: v for k, v in kwargs.items() if k in context_fields})

    def execute(i: int) -> None:
        ctx = make_context()
        r = loop.run_until_complete(
            schema.execute(
                LOOKUP_QUERY, variable_values={"v": values[i % len(values)]}, context_value=ctx
            )
        )
        assert r.errors is None and r.data["contactByIdentifier"], r

    steps.add("schema.execute (parse+validate+resolve, open session)", execute)

    results = steps.run(args.rounds, args.per_round)
    session.rollback()
    session.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.cprofile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        for i in range(args.per_round * args.rounds):
            app_request(i)
        prof.disable()
        prof.dump_stats(args.cprofile)
        print(f"cProfile of {n} app requests written to {args.cprofile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
