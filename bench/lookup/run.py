"""Benchmark: contactByIdentifier(channel: PHONE) over HTTP against a bare strawberry floor.

One command, from the repository root::

    .venv/bin/python bench/lookup/run.py [--contacts 100000] [--duration 20] [--connections 16]

It (re)creates a PostgreSQL database (``--database-url`` or ``BENCH_DATABASE_URL``, default
``crm_bench_lookup`` on 127.0.0.1), migrates it, loads N generated contacts through the
ingestion pipeline (``crm.ingest``, ANALYZE as autovacuum would), creates a reader key, then
serves the real app and a bare strawberry ``{ hello }`` app (``floor_app.py``) with the same
interpreter and uvicorn flags (one worker each), checks 200 random lookups return the right
contact, warms both and drives each with wrk (installed with apt-get when missing), floor then
lookup, ``--rounds`` times; the median round by ratio is the result. Every wrk response is
checked too (``post.lua``). Output: a table on stdout, JSON under ``bench/results/``
(gitignored), and the markdown kept in ``bench/README.md``. Exit status 0 when the targets
hold (lookup throughput >= 0.5x the floor, lookup p99 <= 50 ms, every response right), else 1.

``--scenario context`` measures ``contactContext`` (the messaging bots' one call: the contact,
its next and last appointment, active subscriptions, last order) instead, with an editor key,
after giving every contact activity (two appointments, two orders, a subscription; set-based
inserts); targets p99 <= 25 ms and >= 0.5x the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(HERE))

from generate import Person, human_phone, people  # noqa: E402

TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
TARGET_P99_MS_BY_SCENARIO = {"lookup": 50.0, "context": 25.0}
CONTEXT_QUERY = (
    "mutation($v: String!){ contactContext(channel: PHONE, value: $v)"
    "{ contact { id phone } created nextAppointment { startsAt status } "
    "lastAppointment { startsAt } activeSubscriptions { id status } lastOrder { id status } } }"
)
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/crm_bench_lookup"
APP = "graphql_schema.app:serve_app"
LOOKUP_QUERY = (
    "query($v: String!){ contactByIdentifier(channel: PHONE, value: $v)"
    "{ id firstName lastName email phone } }"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# database ------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"refusing to drop database {name!r}: use a plain [A-Za-z0-9_] name")
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def load(
    url: str, population: list[Person], batch: int, analyze: bool = True
) -> tuple[str, dict[str, str], float]:
    """Migrate, create the organization and a reader key, ingest ``population``.

    Returns the plain API key, {e164: contact id} and the seconds the ingestion took.
    """
    from crm.db import make_engine, session_scope
    from crm.ingest import build_observation, ingest
    from crm.migrate import upgrade
    from crm.tenancy.service import create_api_key, create_organization

    engine = make_engine(url)
    upgrade(engine=engine)
    with session_scope(engine) as session:
        org = create_organization(session, name="Bench Lookup Clinic", region="AU")
        _, key = create_api_key(session, organization_id=org.id, role="reader")
    ids: dict[str, str] = {}
    analyzed_at = 0
    started = time.perf_counter()
    last_report = started
    for start in range(0, len(population), batch):
        chunk = population[start : start + batch]
        observations = [
            build_observation(p.raw(), source="csv", region="AU", line=p.index + 2) for p in chunk
        ]
        with session_scope(engine) as session:
            outcomes = ingest(session, organization=org, observations=observations)
        if analyze and start + batch >= analyzed_at * 1.1:
            # what autovacuum's analyze would do (scale factor 0.1); this machine runs
            # PostgreSQL with autovacuum off, and without statistics the growing tables get
            # plans made for empty ones
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
            analyzed_at = start + batch
        for person, outcome in zip(chunk, outcomes, strict=True):
            if outcome.outcome != "created" or outcome.contact_id is None:
                raise SystemExit(f"row {person.index} was {outcome.outcome}: {outcome.issues}")
            ids[person.e164] = str(outcome.contact_id)
        now = time.perf_counter()
        if now - last_report > 15 or start + batch >= len(population):
            done = min(start + batch, len(population))
            log(f"  loaded {done:,}/{len(population):,} ({done / (now - started):,.0f}/s)")
            last_report = now
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return key, ids, seconds


def add_activity(url: str) -> None:
    """Every contact: an appointment 10 days ago (arrived) and one in 10 days (booked), two
    orders, an active subscription (set-based inserts, PostgreSQL)."""
    from sqlalchemy import select

    from crm.db import make_engine, session_scope
    from crm.models import Organization, PmsConnection

    engine = make_engine(url)
    with session_scope(engine) as session:
        org = session.exec(select(Organization).order_by(Organization.created_at)).scalars().first()
        pms = PmsConnection(
            organization_id=org.id, type="CLINIKO", display_name="bench", credentials_encrypted="-"
        )
        session.add(pms)
        session.flush()
        org_id, pms_id = org.id, pms.id
    with engine.begin() as conn:
        for days, status in ((-10, "arrived"), (10, "booked")):
            conn.exec_driver_sql(
                "INSERT INTO pms_appointments (id, organization_id, connection_id, pms_id, "
                "contact_id, starts_at, status, telehealth, content_hash, synced_at) "
                "SELECT gen_random_uuid(), %(org)s, %(pms)s, c.id::text || %(tag)s, c.id, "
                "now() + make_interval(days => %(days)s), %(status)s, false, '-', now() "
                "FROM contacts c WHERE c.organization_id = %(org)s",
                {"org": org_id, "pms": pms_id, "tag": status, "days": days, "status": status},
            )
        for n, status in ((1, "delivered"), (2, "shipped")):
            conn.exec_driver_sql(
                "INSERT INTO orders (id, organization_id, contact_id, source, external_id, "
                "status, status_history, line_items, created_at, updated_at) "
                "SELECT gen_random_uuid(), %(org)s, c.id, 'careportals', c.id::text || %(n)s, "
                "%(status)s, '[]', '[]', now() - make_interval(days => 10 - %(n)s), now() "
                "FROM contacts c WHERE c.organization_id = %(org)s",
                {"org": org_id, "n": n, "status": status},
            )
        conn.exec_driver_sql(
            "INSERT INTO subscriptions (id, organization_id, contact_id, source, external_id, "
            "status, created_at, updated_at) "
            "SELECT gen_random_uuid(), %(org)s, c.id, 'careportals', c.id::text, 'active', "
            "now(), now() FROM contacts c WHERE c.organization_id = %(org)s",
            {"org": org_id},
        )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def check_contexts(port: int, key: str, ids: dict[str, str], n: int, seed: int) -> None:
    """``n`` random contactContext calls: the right contact, with its activity, not created."""
    import httpx

    rng = random.Random(seed)
    sample = rng.sample(sorted(ids), min(n, len(ids)))
    url = f"http://127.0.0.1:{port}/graphql"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=10) as client:
        for i, e164 in enumerate(sample):
            value = human_phone("0" + e164[3:], i % 3)
            r = client.post(
                url, json={"query": CONTEXT_QUERY, "variables": {"v": value}}, headers=headers
            )
            found = ((r.json().get("data") or {}).get("contactContext")) or {}
            if (
                r.status_code != 200
                or (found.get("contact") or {}).get("id") != ids[e164]
                or found.get("created") is not False
                or (found.get("lastOrder") or {}).get("status") != "shipped"
                or (found.get("nextAppointment") or {}).get("status") != "booked"
                or found.get("lastAppointment") is None
                or len(found.get("activeSubscriptions") or []) != 1
            ):
                raise SystemExit(f"wrong context for {value!r}: {r.status_code} {r.text}")
    log(f"  {len(sample)} random contactContext calls returned the contact and its activity")


# servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uvicorn_flags() -> list[str]:
    flags = ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    for module, flag in (("uvloop", ["--loop", "uvloop"]), ("httptools", ["--http", "httptools"])):
        try:
            __import__(module)
        except ImportError:
            continue
        flags += flag
    return flags


@contextlib.contextmanager
def serve(app: str, port: int, env: dict[str, str], app_dir: Path | None = None) -> Iterator[int]:
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *uvicorn_flags()]
    if app_dir is not None:
        cmd += ["--app-dir", str(app_dir)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        wait_ready(port, proc)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start in {timeout:.0f}s")


# checks --------------------------------------------------------------------------------------


def check_lookups(port: int, key: str, ids: dict[str, str], n: int, seed: int) -> None:
    """``n`` random lookups in every phone format, each must return the right contact."""
    import httpx

    rng = random.Random(seed)
    sample = rng.sample(sorted(ids), min(n, len(ids)))
    url = f"http://127.0.0.1:{port}/graphql"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=10) as client:
        for i, e164 in enumerate(sample):
            value = human_phone("0" + e164[3:], i % 3)
            r = client.post(
                url, json={"query": LOOKUP_QUERY, "variables": {"v": value}}, headers=headers
            )
            body = r.json()
            found = (body.get("data") or {}).get("contactByIdentifier") or {}
            if r.status_code != 200 or found.get("id") != ids[e164] or found.get("phone") != e164:
                raise SystemExit(f"wrong answer for {value!r}: {r.status_code} {body}")
        # and a valid number nobody holds is null, not an error
        unknown = next(f"+6149157{n:04d}" for n in range(10_000) if f"+6149157{n:04d}" not in ids)
        r = client.post(
            url, json={"query": LOOKUP_QUERY, "variables": {"v": unknown}}, headers=headers
        )
        if r.status_code != 200 or r.json() != {"data": {"contactByIdentifier": None}}:
            raise SystemExit(f"unknown number gave {r.status_code} {r.text}")
    log(f"  {len(sample)} random lookups returned the right contact; an unknown number null")


def check_floor(port: int) -> None:
    import httpx

    r = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ hello }"})
    if r.status_code != 200 or r.json() != {"data": {"hello": "world"}}:
        raise SystemExit(f"floor app answered {r.status_code} {r.text}")


# wrk -----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        log("wrk not found: installing it with apt-get")
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        quiet = {"stdout": subprocess.DEVNULL}
        if subprocess.run(install, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet, check=False)
            subprocess.run(install, **quiet, check=False)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "wrk is not installed; install it (Debian: apt-get install -y wrk) and run again"
        )
    return found


def run_wrk(
    wrk: str, port: int, *, duration: int, connections: int, threads: int, env: dict[str, str]
) -> dict:
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(HERE / "post.lua"),
        f"http://127.0.0.1:{port}/graphql",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return parse_wrk(proc.stdout, proc.stderr)


def parse_wrk(out: str, err: str) -> dict:
    summary = dict(
        (k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)(?=\s|$)", _line(out, "SUMMARY"))
    )
    check = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", _line(out, "CHECK")))
    pct = {float(p): int(us) / 1000 for p, us in re.findall(r"^PCT (\S+) (\d+)$", out, re.M)}
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    seconds = summary["duration_us"] / 1e6
    errors = sum(summary[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "requests": summary["requests"],
        "seconds": seconds,
        "rps": summary["requests"] / seconds,
        "wrk_rps": float(rps.group(1)) if rps else None,
        "p50_ms": pct[50.0],
        "p75_ms": pct[75.0],
        "p90_ms": pct[90.0],
        "p99_ms": pct[99.0],
        "p999_ms": pct[99.9],
        "max_ms": summary["max_us"] / 1000,
        "socket_errors": errors,
        "checked_ok": check["ok"],
        "checked_bad": check["bad"],
        "stderr": err.strip()[:2000],
        "raw": out,
    }


def _line(out: str, tag: str) -> str:
    for line in out.splitlines():
        if line.startswith(tag + " "):
            return line
    raise SystemExit(f"wrk output has no {tag} line:\n{out}")


# machine -------------------------------------------------------------------------------------


def machine(url: str) -> dict:
    info: dict = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        cpu = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M)
        info["cpu"] = m.group(1).strip() if m else None
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text()
        m = re.search(r"^MemTotal:\s+(\d+) kB", mem, re.M)
        info["memory_gib"] = round(int(m.group(1)) / 1024**2, 1) if m else None
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(_libpq(url)) as conn:
        info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
        info["postgres_autovacuum"] = conn.execute("SHOW autovacuum").fetchone()[0]
    with contextlib.suppress(Exception):
        info["wrk"] = (
            subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
            .stdout.split("\n")[0]
            .strip()
        )
    versions = {}
    from importlib.metadata import PackageNotFoundError, version

    for pkg in (
        "strawberry-graphql",
        "graphql-core",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "sqlalchemy",
        "psycopg",
    ):
        with contextlib.suppress(PackageNotFoundError):
            versions[pkg] = version(pkg)
    info["packages"] = versions
    return info


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# report --------------------------------------------------------------------------------------


def report(result: dict) -> str:
    """The result as markdown: a line on the set-up and a table (what bench/README.md keeps)."""
    floor, lookup = result["floor"], result["lookup"]
    ratio = result["ratio"]
    ok_ratio = ratio >= TARGET_RATIO
    scenario = result["args"].get("scenario", "lookup")
    target_p99 = TARGET_P99_MS_BY_SCENARIO[scenario]
    what = "contactContext" if scenario == "context" else "lookup"
    ok_p99 = lookup["p99_ms"] <= target_p99
    rows = [
        ("floor `{ hello }` req/s", f"{floor['rps']:,.0f}", ""),
        (f"{what} req/s", f"{lookup['rps']:,.0f}", ""),
        (f"{what} / floor", f"{ratio:.2f}", f"≥ {TARGET_RATIO} {'PASS' if ok_ratio else 'FAIL'}"),
        ("floor p50 / p99 ms", f"{floor['p50_ms']:.1f} / {floor['p99_ms']:.1f}", ""),
        (f"{what} p50 / p90 ms", f"{lookup['p50_ms']:.1f} / {lookup['p90_ms']:.1f}", ""),
        (
            f"{what} p99 ms",
            f"{lookup['p99_ms']:.1f}",
            f"≤ {target_p99:g} {'PASS' if ok_p99 else 'FAIL'}",
        ),
        (
            f"server CPU ms / request: floor, {what}",
            f"{floor['server_cpu_ms_per_request']:.2f}, {lookup['server_cpu_ms_per_request']:.2f}",
            "",
        ),
        (
            f"CPU ratio: floor CPU / {what} CPU per request",
            f"{floor['server_cpu_ms_per_request'] / lookup['server_cpu_ms_per_request']:.2f}",
            "(the ratio if the worker were CPU-bound)",
        ),
        (
            f"PostgreSQL CPU ms / {what}",
            f"{lookup.get('postgres_cpu_ms_per_request', float('nan')):.2f}",
            "",
        ),
        (
            f"{what} responses checked ok / bad",
            f"{lookup['checked_ok']:,} / {lookup['checked_bad']:,}",
            "",
        ),
    ]
    if (ref := result.get("reference")) is not None:
        rows += [
            (
                "reference: contactByIdentifier req/s, / floor",
                f"{ref['rps']:,.0f}, {ref['rps'] / floor['rps']:.2f}",
                "same server, same round",
            ),
            (
                "reference: contactByIdentifier p50 / p99 ms",
                f"{ref['p50_ms']:.1f} / {ref['p99_ms']:.1f}",
                "",
            ),
            (
                "reference: contactByIdentifier server CPU ms / request",
                f"{ref['server_cpu_ms_per_request']:.2f}",
                "",
            ),
        ]
    if (cmp := result.get("compare")) is not None:
        rows += [
            (
                f"compare `{result['args']['compare_app']}`: req/s, / floor",
                f"{cmp['rps']:,.0f}, {cmp['rps'] / floor['rps']:.2f}",
                "same round",
            ),
            ("compare: p50 / p99 ms", f"{cmp['p50_ms']:.1f} / {cmp['p99_ms']:.1f}", ""),
            (
                "compare: server CPU, PostgreSQL CPU ms / request",
                f"{cmp['server_cpu_ms_per_request']:.2f}, "
                f"{cmp.get('postgres_cpu_ms_per_request', float('nan')):.2f}",
                "",
            ),
        ]
    if (w := result.get("with_import")) is not None:
        i = w["import"]
        rows += [
            ("lookup req/s, an import in progress", f"{w['rps']:,.0f}", ""),
            (
                "lookup p50 / p99 ms, an import in progress",
                f"{w['p50_ms']:.1f} / {w['p99_ms']:.1f}",
                "",
            ),
            (
                "the import: rows, ms to answer the mutation, rows done when wrk ended",
                f"{i['rows']:,}, {i['mutation_answered_ms']:.0f}, "
                f"{i['rows_done_when_wrk_ended']:,}",
                "still running at the end"
                if i["still_running_when_wrk_ended"]
                else "ended before wrk",
            ),
            (
                "lookups checked ok / bad, an import in progress",
                f"{w['checked_ok']:,} / {w['checked_bad']:,}",
                "",
            ),
        ]
    m = result["machine"]
    a = result["args"]
    loads = [x for r in result["rounds"] for t in ("floor", "lookup") for x in r[t]["loadavg_1m"]]
    app = "" if a["app"] == APP else f", app `{a['app']}`"
    rounds = f", median of {len(result['rounds'])} rounds" if len(result["rounds"]) > 1 else ""
    lines = [
        f"Run {result['date']}, scenario `{a.get('scenario', 'lookup')}`: "
        f"{a['contacts']:,} contacts, {a['connections']} connections, "
        f"{a['threads']} wrk threads, {a['duration']} s per target, one uvicorn worker"
        f"{app}{rounds}.",
        f"Machine: {m.get('cpu')}, {m['nproc']} CPUs, {m.get('memory_gib')} GiB, "
        f"PostgreSQL {m.get('postgres')}, Python {m['python']}; 1-min load average during "
        f"the runs {min(loads):.1f} to {max(loads):.1f}.",
        f"Load: {a['contacts']:,} contacts through `crm.ingest` in "
        f"{result['load_seconds']:.0f} s ({result['load_rate']:,.0f}/s).",
        "",
        "| measure | value | target |",
        "|---|---:|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
    ]
    return "\n".join(lines)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_backends(url: str) -> list[int]:
    """The server processes of the other connections to the benchmark database."""
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [r[0] for r in rows]


def measure(
    wrk: str, port: int, server_pid: int, url: str | None, *, duration: int, env: dict, opts: dict
) -> dict:
    """One wrk run, with the server's (and PostgreSQL's) CPU time per request."""
    backends_before = {p: proc_cpu_seconds(p) for p in postgres_backends(url)} if url else {}
    server_before = proc_cpu_seconds(server_pid)
    load_before = os.getloadavg()[0]
    r = run_wrk(wrk, port, duration=duration, env=env, **opts)
    server_cpu = proc_cpu_seconds(server_pid) - server_before
    r["server_cpu_ms_per_request"] = server_cpu * 1000 / max(r["requests"], 1)
    r["server_cpu_share"] = server_cpu / r["seconds"]
    if url:
        pg_cpu = sum(
            proc_cpu_seconds(p) - backends_before.get(p, 0.0) for p in postgres_backends(url)
        )
        r["postgres_cpu_ms_per_request"] = pg_cpu * 1000 / max(r["requests"], 1)
    r["loadavg_1m"] = [load_before, os.getloadavg()[0]]
    return r


# lookups while an import runs -----------------------------------------------------------------

IMPORT_MUTATION = (
    'mutation($csv: String!){ importContacts(input: {csv: $csv, source: "bench"})'
    "{ importJob { id status } errors { code message } } }"
)
JOB_QUERY = "query($id: ID!){ importJob(id: $id){ status rows processedBytes totalBytes } }"


def import_file(rows: int, seed: int) -> str:
    """A CSV of ``rows`` other generated people (another seed: new contacts, some links)."""
    import csv
    import io

    out = io.StringIO()
    writer = None
    for person in people(rows, seed=seed):
        raw = person.raw()
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(raw))
            writer.writeheader()
        writer.writerow(raw)
    return out.getvalue()


def editor_key(url: str) -> str:
    from sqlalchemy import select

    from crm.db import make_engine, session_scope
    from crm.models import Organization
    from crm.tenancy.service import create_api_key

    engine = make_engine(url)
    with session_scope(engine) as session:
        org = session.exec(select(Organization).order_by(Organization.created_at)).scalars().first()
        _, key = create_api_key(session, organization_id=org.id, role="editor")
    engine.dispose()
    return key


def graphql(port: int, key: str, query: str, variables: dict) -> dict:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def measure_with_import(
    wrk: str,
    port: int,
    server_pid: int,
    url: str,
    key: str,
    text: str,
    *,
    duration: int,
    env: dict,
    opts: dict,
) -> dict:
    """wrk on the lookup while the server imports ``text`` (``importContacts``: above
    CRM_IMPORT_BACKGROUND_BYTES, so on the app's own runner in the same process)."""
    started = time.perf_counter()
    submitted = graphql(port, key, IMPORT_MUTATION, {"csv": text})["data"]["importContacts"]
    answered = time.perf_counter() - started
    job_id = submitted["importJob"]["id"]
    r = measure(wrk, port, server_pid, url, duration=duration, env=env, opts=opts)
    during = graphql(port, key, JOB_QUERY, {"id": job_id})["data"]["importJob"]
    while True:
        job = graphql(port, key, JOB_QUERY, {"id": job_id})["data"]["importJob"]
        if job["status"] not in ("PENDING", "RUNNING"):
            break
        time.sleep(0.5)
    r["import"] = {
        "rows": job["rows"],
        "status": job["status"],
        "mutation_answered_ms": answered * 1000,
        "rows_done_when_wrk_ended": during["rows"],
        "still_running_when_wrk_ended": during["status"] in ("PENDING", "RUNNING"),
        "seconds": time.perf_counter() - started,
    }
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="floor-then-lookup rounds; the figures are the median round by ratio",
    )
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk before measuring")
    parser.add_argument("--batch", type=int, default=2000, help="observations per ingest call")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--import-rows",
        type=int,
        default=50_000,
        help="after the rounds, the lookup once more while importContacts imports this "
        "many rows in the same server (0: skip)",
    )
    parser.add_argument(
        "--scenario",
        choices=("lookup", "context"),
        default="lookup",
        help="lookup: contactByIdentifier; context: contactContext on contacts with activity",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--compare-app",
        help="a second uvicorn factory (module:factory in bench/lookup) measured in each round "
        "beside the app, same scenario (e.g. ab_context_app:create_app: the code before)",
    )
    parser.add_argument(
        "--no-reference-lookup",
        dest="reference_lookup",
        action="store_false",
        help="context scenario: do not also measure contactByIdentifier in each round",
    )
    parser.add_argument(
        "--app",
        default=APP,
        help=f"uvicorn factory to measure (default {APP}); a module:factory of your own "
        "measures a candidate change against the same floor",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="skip drop/migrate/load: reuse the database and key of the last "
        "run with the same URL and --contacts (for profiling iterations)",
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        help="after the warm-up, print the servers' pids and wait for Enter before "
        "measuring (to attach py-spy)",
    )
    args = parser.parse_args(argv)

    wrk = ensure_wrk()
    state_file = RESULTS / ".lookup-state.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    state = None
    if args.reuse_db and state_file.exists():
        state = json.loads(state_file.read_text())
        if state.get("url") != args.database_url or state.get("contacts") != args.contacts:
            state = None
    if state is None:
        log(f"generating {args.contacts:,} people (seed {args.seed})")
        population = list(people(args.contacts, seed=args.seed))
        log(f"creating database {args.database_url}")
        recreate_database(args.database_url)
        log(f"loading {args.contacts:,} contacts through crm.ingest (batches of {args.batch})")
        key, ids, load_seconds = load(args.database_url, population, args.batch)
        state = {
            "url": args.database_url,
            "contacts": args.contacts,
            "key": key,
            "ids": ids,
            "load_seconds": load_seconds,
        }
        state_file.write_text(json.dumps(state))
    else:
        log("reusing the loaded database (--reuse-db)")
    key, ids, load_seconds = state["key"], state["ids"], state["load_seconds"]
    if args.scenario == "context":
        if not state.get("activity"):
            log("adding activity: 2 appointments, 2 orders, 1 subscription per contact")
            add_activity(args.database_url)
            state["activity"] = True
            state_file.write_text(json.dumps(state))
        key = editor_key(args.database_url)  # contactContext may create: an editor key
    log(f"load: {load_seconds:.1f} s, {args.contacts / load_seconds:,.0f} contacts/s")

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    app_env = {
        **base_env,
        "CRM_ENV": "production",
        "CRM_DATABASE_URL": args.database_url,
        "CRM_SECRET_KEY": "bench-lookup-not-a-secret",
        "CRM_LOG_LEVEL": "WARNING",
    }
    floor_env = {**base_env, "CRM_ENV": "production"}

    rounds: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        phones = Path(tmp) / "phones.txt"
        phones.write_text("".join("0" + e164[3:] + "\n" for e164 in ids))
        wrk_env = {
            **base_env,
            "BENCH_PHONES": str(phones),
            "BENCH_API_KEY": key,
            "BENCH_SEED": str(args.seed),
        }
        opts = {"connections": args.connections, "threads": args.threads}
        floor_port, app_port, compare_port = free_port(), free_port(), free_port()
        app_dir = None if args.app == APP else HERE
        with contextlib.ExitStack() as servers:
            floor_pid = servers.enter_context(
                serve("floor_app:create_app", floor_port, floor_env, app_dir=HERE)
            )
            app_pid = servers.enter_context(serve(args.app, app_port, app_env, app_dir=app_dir))
            compare_pid = (
                servers.enter_context(serve(args.compare_app, compare_port, app_env, app_dir=HERE))
                if args.compare_app
                else None
            )
            check_floor(floor_port)
            if args.scenario == "context":
                check_contexts(app_port, key, ids, 200, args.seed)
                if compare_pid is not None:
                    check_contexts(compare_port, key, ids, 200, args.seed)
            else:
                check_lookups(app_port, key, ids, 200, args.seed)
            targets: tuple = (
                ("floor", floor_port, floor_pid, None),
                ("lookup", app_port, app_pid, args.database_url),
            )
            modes = {"floor": "floor", "lookup": args.scenario}
            if args.scenario == "context" and args.reference_lookup:
                # contactByIdentifier on the same server in the same round: what the request
                # path costs without the context (auth, the pool, one statement)
                targets += (("reference", app_port, app_pid, args.database_url),)
                modes["reference"] = "lookup"
            if compare_pid is not None:
                targets += (("compare", compare_port, compare_pid, args.database_url),)
                modes["compare"] = args.scenario
            for name, port, _pid, _url in targets:
                env = {**wrk_env, "BENCH_MODE": modes[name]}
                run_wrk(wrk, port, duration=args.warmup, env=env, **opts)
            if args.hold:
                print(
                    f"floor pid {floor_pid} port {floor_port}; app pid {app_pid} port "
                    f"{app_port}; press Enter to measure",
                    flush=True,
                )
                input()
            for n in range(args.rounds):
                results = {}
                for name, port, pid, url in targets:
                    log(
                        f"round {n + 1}/{args.rounds}: wrk {name}, {args.duration} s, "
                        f"{args.connections} connections"
                    )
                    env = {**wrk_env, "BENCH_MODE": modes[name]}
                    r = measure(wrk, port, pid, url, duration=args.duration, env=env, opts=opts)
                    results[name] = r
                    log(
                        f"  {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 "
                        f"{r['p99_ms']:.1f} ms, server CPU {r['server_cpu_ms_per_request']:.2f}"
                        f" ms/req, checked ok {r['checked_ok']:,} bad {r['checked_bad']:,}, "
                        f"load avg {r['loadavg_1m'][1]:.1f}"
                    )
                results["ratio"] = results["lookup"]["rps"] / results["floor"]["rps"]
                if "compare" in results:
                    results["compare_ratio"] = results["compare"]["rps"] / results["floor"]["rps"]
                if "reference" in results:
                    results["reference_ratio"] = (
                        results["reference"]["rps"] / results["floor"]["rps"]
                    )
                rounds.append(results)
            with_import = None
            if args.import_rows:
                log(f"lookup while importing {args.import_rows:,} rows, {args.duration} s")
                text = import_file(args.import_rows, args.seed + 1)
                env = {**wrk_env, "BENCH_MODE": "lookup"}
                with_import = measure_with_import(
                    wrk,
                    app_port,
                    app_pid,
                    args.database_url,
                    editor_key(args.database_url),
                    text,
                    duration=args.duration,
                    env=env,
                    opts=opts,
                )
                r = with_import
                log(
                    f"  {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms;"
                    f" import {r['import']}"
                )

    names = [name for name in ("floor", "lookup", "reference", "compare") if name in rounds[0]]
    for results in rounds:
        for name in names:
            r = results[name]
            if r["checked_bad"] or r["socket_errors"]:
                log(
                    f"WARNING {name}: {r['checked_bad']} bad responses, {r['socket_errors']} "
                    f"socket errors\n{r['stderr']}"
                )
    # the median round by ratio (the lower middle one of an even number)
    median = sorted(rounds, key=lambda r: r["ratio"])[(len(rounds) - 1) // 2]
    now = dt.datetime.now(dt.UTC)
    result = {
        "benchmark": "lookup",
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "args": {k: v for k, v in vars(args).items() if k not in ("hold",)},
        "machine": machine(args.database_url),
        "load_seconds": load_seconds,
        "load_rate": args.contacts / load_seconds,
        "floor": median["floor"],
        "lookup": median["lookup"],
        "reference": median.get("reference"),
        "compare": median.get("compare"),
        "ratio": median["ratio"],
        "rounds": rounds,
        "with_import": with_import,
    }
    result["pass"] = {
        "ratio": result["ratio"] >= TARGET_RATIO,
        "p99": result["lookup"]["p99_ms"] <= TARGET_P99_MS_BY_SCENARIO[args.scenario],
        "correct": all(
            r[name]["checked_bad"] == 0 and r[name]["socket_errors"] == 0
            for r in rounds
            for name in names
        )
        and (with_import is None or with_import["checked_bad"] == 0),
    }
    out = RESULTS / f"{args.scenario}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2))
    snippet = report(result)
    print()
    print(snippet)
    print()
    log(f"results written to {out.relative_to(ROOT)}")
    return 0 if all(result["pass"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
