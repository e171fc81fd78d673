"""Benchmark: inbound CarePortals webhooks under load, the worker's drain, and a kill -9.

One command, from the repository root (PostgreSQL and Redis needed)::

    .venv/bin/python bench/webhooks/run.py [--rate 200] [--duration 60] [--customers 3000]

It (re)creates the PostgreSQL database ``crm_bench_wh_bench`` (``--database-url``), flushes
Redis db 3 (``--redis-url``), migrates, creates an organization and a CarePortals endpoint
with its secret, generates signed deliveries (``generate.py``), and serves the real app with
ONE uvicorn worker (uvloop, httptools, ``CRM_ENV=production``) on Redis, with no arq worker
running. Then:

1. load: the open-loop load tool (``load.py``, its own process) sends ``GET /healthz`` (the
   floor: the same app, HTTP and one database round trip off the loop) and then the signed
   deliveries, each at ``--rate`` requests/s for ``--duration`` s; latency from each
   request's due time to its answer. Every answer must be a 2xx and every sent event id must
   be in ``webhook_deliveries`` (nothing lost).
2. drain: an arq worker (``crm worker``) starts on the backlog; events/s from the first to the
   last delivery it finished, and wall time from its start.
3. effects: the events sent three times had one effect: contacts, orders (status and the
   length of the status history), subscriptions (status) and prescriptions against what the
   unique events must leave.
4. kill -9: with the worker stopped, ``--kill-sends`` more deliveries; a worker starts on
   them and is SIGKILLed after a third is done, a new one starts; every delivery must end
   processed and the effects of both batches be exactly those of the unique events.

Output: a table on stdout, JSON in ``bench/results/`` (gitignored), the markdown kept in
bench/README.md. Exit status 0 when every target and check holds, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import generate  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_wh_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"
TARGET_P99_MS = 50.0
TARGET_DRAIN = 500.0
SECRET_KEY = "bench-webhooks-secret-key-not-for-production-0000"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# set-up --------------------------------------------------------------------------------------


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


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def setup(url: str) -> tuple[str, str, str]:
    """Migrate; an organization and a CarePortals endpoint: (org id, endpoint path, secret)."""
    from crm.db import make_engine, session_scope
    from crm.migrate import upgrade
    from crm.tenancy.service import create_organization
    from crm.webhooks.inbox import create_endpoint, endpoint_path

    engine = make_engine(url)
    upgrade(engine=engine)
    with session_scope(engine) as session:
        org = create_organization(session, name="Bench Webhooks Pharmacy", region="AU")
        endpoint, secret = create_endpoint(
            session, organization=org, provider="careportals", display_name="bench"
        )
        out = (str(org.id), endpoint_path(endpoint), secret)
    engine.dispose()
    return out


def write_requests(path: Path, events: list[generate.Event], hook: str, secret: str) -> None:
    from crm.webhooks.signatures import sign

    with path.open("w") as f:
        for event in events:
            body = event.body()
            headers = {
                "Content-Type": "application/json",
                "X-CarePortals-Signature": sign(secret, body),
            }
            item = {"method": "POST", "path": hook, "headers": headers, "body": body.decode()}
            f.write(json.dumps(item) + "\n")


def write_floor(path: Path, count: int) -> None:
    with path.open("w") as f:
        for _ in range(count):
            f.write(json.dumps({"method": "GET", "path": "/healthz"}) + "\n")


# processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crm_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "crm"), *args]


def start_app(port: int, env: dict[str, str], logs: Path) -> subprocess.Popen:
    """``crm serve``: one uvicorn worker (uvloop and httptools when installed), the
    service's own logging (INFO, as deployed) to ``logs``."""
    with logs.open("ab") as out:
        proc = subprocess.Popen(
            crm_command("serve", "--port", str(port)), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.1)
    raise SystemExit("the app did not start in 60 s")


def start_worker(env: dict[str, str], logs: Path) -> subprocess.Popen:
    with logs.open("ab") as out:
        return subprocess.Popen(crm_command("worker"), cwd=ROOT, env=env, stdout=out, stderr=out)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(requests: Path, port: int, rate: float, out: Path) -> dict:
    cmd = [sys.executable, str(HERE / "load.py"), str(requests), "--port", str(port)]
    subprocess.run([*cmd, "--rate", str(rate), "--out", str(out)], check=True)
    return json.loads(out.read_text())


def summarize(result: dict) -> dict:
    lat = sorted(x for x in result["latencies_ms"] if x is not None)
    statuses = result["statuses"]

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, round(p / 100 * (len(lat) - 1)))] if lat else 0.0

    return {
        "requests": result["requests"],
        "answered": len(lat),
        "errors": len(result["errors"]),
        "error_samples": result["errors"][:5],
        "non_2xx": sum(1 for s in statuses if not 200 <= s < 300),
        "ok_2xx": sum(1 for s in statuses if 200 <= s < 300),
        "achieved_rps": len(lat) / result["seconds"] if result["seconds"] else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "p999_ms": pct(99.9),
        "max_ms": lat[-1] if lat else 0.0,
        "connections": result["connections"],
        "client_max_late_ms": result["client_max_late_ms"],
    }


# database checks -----------------------------------------------------------------------------


def query(url: str, sql: str, params: dict | None = None) -> list[tuple]:
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        return conn.execute(sql, params).fetchall()


def status_counts(url: str) -> dict[str, int]:
    rows = query(url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
    return {status: n for status, n in rows}


def wait_drained(url: str, *, timeout: float, event_ids: set[str] | None = None) -> float:
    """Seconds until no delivery is ``received`` (SystemExit after ``timeout``)."""
    started = time.monotonic()
    while True:
        left = query(url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'received'")[0][0]
        if left == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return float("inf")
        time.sleep(0.2)


def lost(url: str, events: list[generate.Event]) -> list[str]:
    stored = {r[0] for r in query(url, "SELECT event_id FROM webhook_deliveries")}
    return [e.event_id for e in events if e.event_id not in stored]


def check_effects(url: str, org_id: str, events: list[generate.Event]) -> dict:
    """What the unique events must leave, against the database: the differences."""
    exp = generate.expected(events)
    problems: list[str] = []
    contacts = query(
        url,
        "SELECT count(*) FROM contacts WHERE organization_id = %(o)s AND status = 'active'",
        {"o": org_id},
    )[0][0]
    if contacts != len(exp.customers):
        problems.append(f"{contacts} active contacts, expected {len(exp.customers)}")
    orders = {
        ext: (status, n)
        for ext, status, n in query(
            url,
            "SELECT external_id, status, jsonb_array_length(status_history::jsonb) FROM orders",
        )
    }
    if len(orders) != len(exp.orders):
        problems.append(f"{len(orders)} orders, expected {len(exp.orders)}")
    wrong = [k for k, v in exp.orders.items() if orders.get(k) != v]
    if wrong:
        problems.append(
            f"{len(wrong)} orders with a wrong status or history, e.g. "
            + ", ".join(f"{k}: {orders.get(k)} != {exp.orders[k]}" for k in wrong[:3])
        )
    subs = dict(query(url, "SELECT external_id, status FROM subscriptions"))
    if len(subs) != len(exp.subscriptions):
        problems.append(f"{len(subs)} subscriptions, expected {len(exp.subscriptions)}")
    wrong = [k for k, v in exp.subscriptions.items() if subs.get(k) != v]
    if wrong:
        problems.append(f"{len(wrong)} subscriptions with a wrong status")
    rx = {r[0] for r in query(url, "SELECT external_id FROM prescriptions")}
    if rx != exp.prescriptions:
        problems.append(f"{len(rx)} prescriptions, expected {len(exp.prescriptions)}")
    unprocessed = query(
        url,
        "SELECT count(*) FROM webhook_deliveries "
        "WHERE status <> 'processed' AND event_id NOT LIKE 'warm-%'",
    )[0][0]
    if unprocessed:
        problems.append(f"{unprocessed} deliveries not processed: {status_counts(url)}")
    return {
        "contacts": contacts,
        "orders": len(orders),
        "subscriptions": len(subs),
        "prescriptions": len(rx),
        "status_history_entries": sum(n for _, n in orders.values()),
        "unique_events": len(events),
        "problems": problems,
    }


def drain_rate(url: str, since: dt.datetime) -> tuple[int, float]:
    """(deliveries finished since ``since``, their span first to last finished, seconds)."""
    n, first, last = query(
        url,
        "SELECT count(*), min(processed_at), max(processed_at) FROM webhook_deliveries "
        "WHERE processed_at >= %(s)s AND event_id NOT LIKE 'warm-%%'",
        {"s": since},
    )[0]
    return n, (last - first).total_seconds() if n > 1 else 0.0


def machine() -> dict:
    info: dict = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        info["cpu"] = m.group(1).strip() if m else None
    return info


# the run -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--tripled", type=float, default=0.15, help="share of events sent 3x")
    parser.add_argument("--kill-sends", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-floor", action="store_true")
    args = parser.parse_args()

    url = args.database_url
    # the endpoint's secret is encrypted here and read by the app: one key for both
    os.environ["CRM_SECRET_KEY"] = SECRET_KEY
    sends = int(args.rate * args.duration)
    result: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "args": vars(args),
        "loadavg_start": loadavg(),
    }
    log(f"load average {loadavg()}; database {url}; redis {args.redis_url}")
    recreate_database(url)
    flush_redis(args.redis_url)
    org_id, hook, secret = setup(url)
    events, deliveries = generate.plan(
        args.seed, sends=sends, customers=args.customers, tripled=args.tripled
    )
    kill_events, kill_deliveries = generate.plan(
        args.seed + 100,
        sends=args.kill_sends,
        customers=args.customers,
        tripled=args.tripled,
        prefix="kill",
    )
    log(
        f"{len(events):,} unique CarePortals events in {len(deliveries):,} deliveries "
        f"({sum(e.sends == 3 for e in events):,} sent 3 times); kill -9 batch: "
        f"{len(kill_events):,} in {len(kill_deliveries):,}"
    )
    env = {
        **os.environ,
        "CRM_DATABASE_URL": url,
        "CRM_REDIS_URL": args.redis_url,
        "CRM_SECRET_KEY": SECRET_KEY,
        "CRM_ENV": "production",
        "PYTHONPATH": str(ROOT),
    }
    ok = True
    tmpdir = RESULTS / f"webhooks-{time.strftime('%Y%m%d-%H%M%S')}"
    tmpdir.mkdir(parents=True)
    log(f"requests, answers and the logs of the app and the worker: {tmpdir}/")
    if True:
        write_requests(tmpdir / "hooks.jsonl", deliveries, hook, secret)
        write_requests(tmpdir / "kill.jsonl", kill_deliveries, hook, secret)
        write_floor(tmpdir / "floor.jsonl", sends)
        write_floor(tmpdir / "warm.jsonl", 400)
        # the webhook path warmed too (connections, prepared statements): events the worker
        # ignores, left out of every check
        warm = [
            generate.Event(
                f"warm-{n}",
                "bench.warmup",
                {"event": "bench.warmup", "id": f"warm-{n}", "data": {}},
                -1,
                "",
            )
            for n in range(400)
        ]
        write_requests(tmpdir / "warm-hooks.jsonl", warm, hook, secret)
        port = free_port()
        app = start_app(port, env, tmpdir / "app.log")
        try:
            run_load(tmpdir / "warm.jsonl", port, args.rate, tmpdir / "warm.json")
            run_load(tmpdir / "warm-hooks.jsonl", port, args.rate, tmpdir / "warm-hooks.json")
            # (1) the floor, then the webhooks, same rate, same app process
            phases = ([] if args.skip_floor else ["floor"]) + ["webhooks"]
            for phase in phases:
                file = tmpdir / ("floor.jsonl" if phase == "floor" else "hooks.jsonl")
                log(f"{phase}: {sends:,} requests at {args.rate:g}/s (load {loadavg()})")
                cpu = cpu_seconds(app.pid)
                raw = run_load(file, port, args.rate, tmpdir / f"{phase}.json")
                summary = summarize(raw)
                summary["server_cpu_ms_per_request"] = (
                    (cpu_seconds(app.pid) - cpu) * 1000 / raw["requests"]
                )
                summary["loadavg"] = loadavg()
                result[phase] = summary
                log(
                    f"  {phase}: p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms,"
                    f" max {summary['max_ms']:.1f} ms, {summary['non_2xx']} non-2xx,"
                    f" {summary['errors']} errors, server CPU "
                    f"{summary['server_cpu_ms_per_request']:.2f} ms/request"
                )
                if phase == "webhooks":
                    duplicates = sum('"duplicate":true' in b for b in raw["bodies"])
                    summary["duplicate_answers"] = duplicates
            missing = lost(url, events)
            result["lost"] = len(missing)
            stored = query(
                url, "SELECT count(*) FROM webhook_deliveries WHERE event_id NOT LIKE 'warm-%'"
            )[0][0]
            result["stored"] = stored
            log(f"  stored {stored:,} deliveries ({len(events):,} events), {len(missing)} lost")

            # (2) the drain
            queued = _queued(args.redis_url)
            log(f"drain: {queued:,} jobs queued; starting the worker (load {loadavg()})")
            since = dt.datetime.now(dt.UTC)
            worker = start_worker(env, tmpdir / "worker.log")
            wall = wait_drained(url, timeout=1800)
            n, span = drain_rate(url, since)
            stop(worker)
            result["drain"] = {
                "deliveries": n,
                "span_seconds": span,
                "events_per_second": n / span if span else 0.0,
                "wall_seconds_from_start": wall,
                "wall_events_per_second": n / wall if wall else 0.0,
                "statuses": status_counts(url),
                "loadavg": loadavg(),
            }
            log(
                f"  drained {n:,} deliveries: {result['drain']['events_per_second']:.0f}/s "
                f"(first to last), {wall:.1f} s wall from the worker's start"
            )

            # (3) one effect per event
            result["effects"] = check_effects(url, org_id, events)
            log(f"  effects: {result['effects']}")

            # (4) kill -9 mid-drain
            result["kill"] = kill_phase(args, url, port, env, tmpdir, org_id, events, kill_events)
        finally:
            stop(app)
    result["loadavg_end"] = loadavg()
    hooks = result["webhooks"]
    checks = {
        "p99": hooks["p99_ms"] <= TARGET_P99_MS,
        "all 2xx": hooks["non_2xx"] == 0 and hooks["errors"] == 0,
        "none lost": result["lost"] == 0,
        "drain": result["drain"]["events_per_second"] >= TARGET_DRAIN,
        "one effect": not result["effects"]["problems"],
        "kill -9": not result["kill"]["problems"],
    }
    result["checks"] = checks
    ok = all(checks.values())
    print(report(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"webhooks-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    log(f"JSON: {out}")
    return 0 if ok else 1


def _queued(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return client.zcard("crm:queue")
    finally:
        client.close()


def kill_phase(args, url, port, env, tmpdir, org_id, events, kill_events) -> dict:
    log(f"kill -9: {args.kill_sends:,} more deliveries with no worker running")
    raw = run_load(tmpdir / "kill.jsonl", port, max(args.rate, 300), tmpdir / "kill.json")
    bad = summarize(raw)["non_2xx"] + len(raw["errors"])
    total = query(url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'received'")[0][0]
    worker = start_worker(env, tmpdir / "worker.log")
    started = time.monotonic()
    while True:
        left = query(url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'received'")[0][0]
        if left <= total * 2 // 3 or worker.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    at_kill = total - left
    log(f"  SIGKILL after {at_kill:,}/{total:,} deliveries ({time.monotonic() - started:.1f} s)")
    restarted = start_worker(env, tmpdir / "worker.log")
    recovery = wait_drained(url, timeout=900)
    stop(restarted)
    effects = check_effects(url, org_id, events + kill_events)
    problems = list(effects["problems"])
    if bad:
        problems.append(f"{bad} deliveries not acknowledged with a 2xx")
    if recovery == float("inf"):
        problems.append("deliveries still received 900 s after the restart")
    attempts = dict(query(url, "SELECT attempts, count(*) FROM webhook_deliveries GROUP BY 1"))
    out = {
        "deliveries": total,
        "done_at_kill": at_kill,
        "seconds_to_drain_after_restart": recovery,
        "attempts": attempts,
        "effects": effects,
        "problems": problems,
    }
    log(f"  restarted: drained in {recovery:.1f} s; attempts {attempts}; {problems or 'OK'}")
    return out


def report(result: dict) -> str:
    floor, hooks, drain = result.get("floor"), result["webhooks"], result["drain"]
    checks = result["checks"]

    def verdict(name: str) -> str:
        return "PASS" if checks[name] else "FAIL"

    rows = []
    if floor:
        rows.append(
            (
                "floor `GET /healthz` p50 / p99 / max ms",
                f"{floor['p50_ms']:.1f} / {floor['p99_ms']:.1f} / {floor['max_ms']:.1f}",
                f"{floor['server_cpu_ms_per_request']:.2f} ms CPU/request",
            )
        )
    rows += [
        (
            "webhooks p50 / p99 / max ms",
            f"{hooks['p50_ms']:.1f} / {hooks['p99_ms']:.1f} / {hooks['max_ms']:.1f}",
            f"p99 ≤ {TARGET_P99_MS:g} {verdict('p99')}; "
            f"{hooks['server_cpu_ms_per_request']:.2f} ms CPU/request",
        ),
        (
            "deliveries sent / 2xx / duplicates answered",
            f"{hooks['requests']:,} / {hooks['ok_2xx']:,} / {hooks.get('duplicate_answers', 0):,}",
            verdict("all 2xx"),
        ),
        ("event ids lost", str(result["lost"]), verdict("none lost")),
        (
            "drain events/s (first to last; wall from worker start)",
            f"{drain['events_per_second']:.0f} ({drain['wall_events_per_second']:.0f})",
            f"≥ {TARGET_DRAIN:g} {verdict('drain')}",
        ),
        (
            "effects of the unique events",
            ", ".join(
                f"{result['effects'][k]:,} {k}"
                for k in ("unique_events", "contacts", "orders", "subscriptions", "prescriptions")
            ),
            verdict("one effect") + "".join(f"; {p}" for p in result["effects"]["problems"]),
        ),
        (
            "kill -9 mid-drain, restart",
            f"killed after {result['kill']['done_at_kill']:,}/{result['kill']['deliveries']:,}; "
            f"rest drained in {result['kill']['seconds_to_drain_after_restart']:.1f} s",
            verdict("kill -9") + "".join(f"; {p}" for p in result["kill"]["problems"]),
        ),
    ]
    lines = [
        f"{result['date']}, {result['machine'].get('cpu')} x{result['machine']['nproc']}, "
        f"load average {result['loadavg_start']} (start) / {result['loadavg_end']} (end); "
        f"{result['args']['rate']:g} req/s for {result['args']['duration']:g} s, one uvicorn "
        "worker",
        "",
        "| measure | value | target / note |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
