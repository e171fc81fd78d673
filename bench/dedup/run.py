"""Benchmark: the dedup sweep's speed on PostgreSQL, and its quality end to end.

    .venv/bin/python bench/dedup/run.py --contacts 100000 [1000000] [--seed 7]
    .venv/bin/python bench/dedup/run.py --e2e 20000

Speed (``--contacts``): a fresh database (``DROP/CREATE DATABASE crm_bench_dedup``), migrated,
one organization, then the generator's records (``generate.py``: duplicates, households,
corruption) normalised by ``build_observation`` and bulk-loaded straight into contacts,
contact_identifiers and source_records (``crm.db_write.insert_rows``, COPY): the ingestion pipeline
would link some duplicates on the way in and take far longer to load a million rows, and the
sweep is what is measured. Then ``run_sweep`` (full) in a child process, whose wall time and
peak RSS (``VmHWM`` of the sweep process, overall and per phase, and of each process it forks
to score or merge, by the phase it was first seen in) and CPU seconds (the sweep process's by
phase, its workers' together) are reported with the sweep's own summary: contacts, pairs
scored, auto-merged, candidates.
Targets: 100,000 contacts <= 60 s, 1,000,000 <= 10 minutes.

End to end (``--e2e``): the records go through the real ingestion pipeline (``ingest``, in
batches of 1,000, each record from its own source so exact-identity linking only joins what
shares an email or phone with a compatible name), then the sweep runs, and the outcome is
scored against the ground truth: pairs in one contact after ingest and auto-merges vs. the
generator's people, plus pending candidates, as in ``quality.py``.

Results: a line per run on stdout and JSON under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import generate  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/crm_bench_dedup"
TARGETS = {100_000: 60.0, 1_000_000: 600.0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def recreate(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"refusing to drop database {name!r}")
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fresh_database(url: str):
    from crm.db import make_engine, session_scope
    from crm.migrate import upgrade
    from crm.tenancy.service import create_organization

    if url.startswith("postgresql"):
        recreate(url)
    engine = make_engine(url)
    upgrade(engine=engine)
    with session_scope(engine) as session:
        org = create_organization(session, name="Dedup Bench", region="AU")
    return engine, org


def bulk_load(engine, org, records: list[dict]) -> dict[str, int]:
    """Normalise each record (``build_observation``) and COPY it in as its own contact."""
    from crm.db import analyze, session_scope
    from crm.db_write import insert_rows as bulk_insert
    from crm.ingest import Rejected, build_observation
    from crm.models import Contact, ContactIdentifier, SourceRecord, utcnow, uuid7
    from crm.search.text import build_search_text

    now = utcnow()
    ordinals: dict[tuple[str, str], int] = defaultdict(int)
    counts = {"contacts": 0, "identifiers": 0, "rejected": 0}
    batch = 20_000
    for start in range(0, len(records), batch):
        contacts, identifiers, sources = [], [], []
        for raw in records[start : start + batch]:
            fields = {k: v for k, v in raw.items() if not k.startswith("_")}
            try:
                obs = build_observation(fields, source="bench", region="AU")
            except Rejected:
                counts["rejected"] += 1
                continue
            contact_id = uuid7()
            f = obs.fields
            contacts.append(
                {
                    "id": contact_id,
                    "organization_id": org.id,
                    **{name: f.get(name) for name in _CONTACT_COLUMNS},
                    "date_of_birth": f.get("date_of_birth"),
                    "status": "active",
                    "contact_type": "person",
                    "primary_source": "bench",
                    "source_systems": ["bench"],
                    "metadata": {},
                    "field_sources": {},
                    "search_text": build_search_text(f),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for key in obs.keys:
                ordinal = ordinals[(key.namespace, key.value)]
                ordinals[(key.namespace, key.value)] += 1
                identifiers.append(
                    {
                        "id": uuid7(),
                        "organization_id": org.id,
                        "contact_id": contact_id,
                        "namespace": key.namespace,
                        "value": key.value,
                        "channel": key.channel,
                        "ordinal": ordinal,
                        "source": "bench",
                        "created_at": now,
                    }
                )
            sources.append(
                {
                    "id": uuid7(),
                    "organization_id": org.id,
                    "contact_id": contact_id,
                    "source_system": "bench",
                    "source_id": obs.source_id,
                    "source_id_given": obs.external_id is not None,
                    "version": 1,
                    "is_current": True,
                    "content_hash": obs.content_hash,
                    "payload_hash": obs.payload_hash,
                    "payload": obs.payload,
                    "normalized": {"fields": obs.fields},
                    "observed_at": obs.observed_at,
                    "received_at": now,
                    "import_job_id": None,
                }
            )
        with session_scope(engine) as session:
            bulk_insert(session, Contact.__table__, contacts)
            bulk_insert(session, ContactIdentifier.__table__, identifiers)
            bulk_insert(session, SourceRecord.__table__, sources)
        counts["contacts"] += len(contacts)
        counts["identifiers"] += len(identifiers)
        log(f"  loaded {counts['contacts']:,} contacts")
    with session_scope(engine) as session:
        analyze(session, [Contact.__table__, ContactIdentifier.__table__, SourceRecord.__table__])
    return counts


_CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)


def set_thresholds(engine, org, **dedup: float) -> None:
    from crm.db import session_scope
    from crm.models import Organization

    with session_scope(engine) as session:
        row = session.get(Organization, org.id)
        row.settings = {**(row.settings or {}), "dedup": {"review": 0.6, **dedup}}


def sweep_child(url: str, org_id: str, workers: int) -> dict:
    """Run the sweep in a child process: its wall time and peak RSS are its own."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--sweep-child", url, org_id, str(workers)],
        stdout=subprocess.PIPE,
        text=True,
    )
    _, status, _ = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the sweep failed (exit {status})")
    summary = json.loads(out.strip().splitlines()[-1])
    summary["wall_seconds"] = round(seconds, 1)
    summary["peak_rss_mb"] = max(summary["peak_rss_mb_sweep"], summary["peak_rss_mb_scoring"])
    return summary


def _high_water_mb(pid: int | str) -> int:
    """A process's own peak RSS (``VmHWM``: its memory since exec or fork, not inherited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _descendants(pid: int | str) -> set[str]:
    """The processes under ``pid`` (children, and theirs: the scoring and merge processes
    are forked from a server process the sweep starts)."""
    found: set[str] = set()
    todo = [str(pid)]
    while todo:
        parent = todo.pop()
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as listed:
                    children = set(listed.read().split()) - found
                    found |= children
                    todo.extend(children)
        except OSError:
            continue
    return found


def _watch_children(peaks: dict[int, int], stop: threading.Event, phase: dict) -> None:
    """Sample the peak RSS of this process's descendants (the scoring and merge processes,
    and the server they are forked from) until stopped; ``phase["seen"]`` gets each one's
    phase when it was first seen (``phase["now"]``).

    The processes are read from ``/proc/<pid>/task/<tid>/children`` (a few small files), not
    by scanning every process's ``stat``: on a busy machine that scan cost the sweep process
    a noticeable share of a CPU five times a second."""
    me = os.getpid()
    while not stop.wait(0.2):
        for entry in _descendants(me):
            phase["seen"].setdefault(int(entry), phase["now"])
            peaks[int(entry)] = max(peaks.get(int(entry), 0), _high_water_mb(entry))
            phase["cpu"][int(entry)] = max(phase["cpu"].get(int(entry), 0.0), _cpu_seconds(entry))


def _cpu_seconds(pid: int | str) -> float:
    """A process's CPU time so far (user + system), as last sampled before it ends."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _reset_high_water() -> bool:
    """Start this process's ``VmHWM`` again from its current RSS (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _run_sweep_here(url: str, org_id: str, workers: int) -> None:
    from crm.db import make_engine
    from crm.matching.sweep import _Sweep, run_sweep

    # the sweep's peak RSS per phase: its high-water mark read at the end of each phase, then
    # reset (where the kernel cannot reset it, each figure is the peak so far)
    phase_peaks: dict[str, int] = {}
    lap = _Sweep.lap

    phases = ["load", "train", "match", "queue", "merge"]
    phase = {"now": phases[0], "seen": {}, "cpu": {}}
    phase_cpu: dict[str, float] = {}
    cpu_at = [sum(os.times()[:2])]

    def lap_and_measure(self, name: str) -> None:
        lap(self, name)
        now = sum(os.times()[:2])
        phase_cpu[name] = round(now - cpu_at[0], 1)
        cpu_at[0] = now
        phase_peaks[name] = _high_water_mb("self")
        _reset_high_water()
        if name in phases[:-1]:
            phase["now"] = phases[phases.index(name) + 1]

    _Sweep.lap = lap_and_measure
    # ru_maxrss would count the benchmark process this one was forked from (exec keeps the
    # high-water mark): the sweep's own peaks come from /proc instead
    peaks: dict[int, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_children, args=(peaks, stop, phase), daemon=True)
    watcher.start()
    engine = make_engine(url)
    summary = run_sweep(engine, organization_id=uuid.UUID(org_id), actor="bench", workers=workers)
    stop.set()
    watcher.join()
    result = summary.as_dict()
    result["peak_rss_mb_phases"] = phase_peaks
    result["peak_rss_mb_sweep"] = max([_high_water_mb("self"), *phase_peaks.values()])
    result["peak_rss_mb_scoring"] = max(peaks.values(), default=0)
    # each descendant process's peak by the phase it started in (the match phase's: the
    # scoring processes, the merge phase's: the merge processes)
    by_phase: dict[str, list[int]] = {}
    for pid, peak in peaks.items():
        by_phase.setdefault(phase["seen"][pid], []).append(peak)
    result["peak_rss_mb_forked"] = {name: sorted(mb) for name, mb in by_phase.items()}
    # CPU seconds by phase: the sweep process's own, and its worker processes' (sampled
    # every 0.2 s: a process's last moments may be missed)
    workers_cpu: dict[str, float] = {}
    for pid, seconds in phase["cpu"].items():
        name = phase["seen"][pid]
        workers_cpu[name] = round(workers_cpu.get(name, 0.0) + seconds, 1)
    result["cpu_seconds"] = {"sweep": phase_cpu, "workers": workers_cpu}
    print(json.dumps(result))


def speed(
    sizes: list[int], *, url: str, seed: int, workers: int, no_merge: bool = False
) -> list[dict]:
    results = []
    for size in sizes:
        log(f"speed: {size:,} contacts")
        engine, org = fresh_database(url)
        if no_merge:
            set_thresholds(engine, org, auto_merge=1.0)
        started = time.perf_counter()
        records = list(generate.generate(size, seed=seed))
        counts = bulk_load(engine, org, records)
        del records
        log(f"  generated and loaded in {time.perf_counter() - started:.0f}s: {counts}")
        engine.dispose()
        summary = sweep_child(url, str(org.id), workers)
        summary.update(size=size, load=counts, target_seconds=TARGETS.get(size), no_merge=no_merge)
        log(
            f"  sweep: {summary['seconds']:.1f}s, {summary['pairs_scored']:,} pairs, "
            f"{summary['auto_merged']:,} merged, {summary['candidates']:,} queued, "
            f"peak RSS {summary['peak_rss_mb_sweep']} MB (sweep), "
            f"{summary['peak_rss_mb_scoring']} MB (each forked process)"
        )
        log(f"  forked processes' peaks by phase (MB): {summary['peak_rss_mb_forked']}")
        log(f"  CPU seconds by phase: {summary['cpu_seconds']}")
        log(
            "  phases: "
            + ", ".join(
                f"{phase} {seconds:.1f}s {summary['peak_rss_mb_phases'].get(phase, '?')} MB"
                for phase, seconds in summary["timings"].items()
            )
        )
        results.append(summary)
    return results


def e2e(size: int, *, url: str, seed: int) -> dict:
    """Load through the real pipeline, sweep, and score the result against ground truth."""
    from quality import _components, _pairs_of_groups, _prf
    from sqlalchemy import select

    from crm.db import session_scope
    from crm.ingest import Rejected, build_observation, ingest
    from crm.matching.sweep import run_sweep
    from crm.models import Contact, DuplicateCandidate, SourceRecord

    engine, org = fresh_database(url)
    raw = list(generate.generate(size, seed=seed))
    truth = {r["external_id"]: r for r in raw}
    started = time.perf_counter()
    for start in range(0, len(raw), 1000):
        observations = []
        for r in raw[start : start + 1000]:
            fields = {k: v for k, v in r.items() if not k.startswith("_")}
            try:
                # a few sources, each record with its own id: only a shared email or phone links
                source = f"s{len(observations) % 5}"
                observations.append(build_observation(fields, source=source, region="AU"))
            except Rejected:
                continue
        with session_scope(engine) as session:
            ingest(session, organization=org, observations=observations, actor="bench")
    load_seconds = time.perf_counter() - started
    with session_scope(engine) as session:
        at_ingest = dict(
            session.execute(select(SourceRecord.source_id, SourceRecord.contact_id)).all()
        )
    summary = run_sweep(engine, organization_id=org.id, actor="bench")
    with session_scope(engine) as session:
        owner = dict(session.execute(select(Contact.id, Contact.merged_into_id)).all())
        records = session.execute(select(SourceRecord.source_id, SourceRecord.contact_id)).all()
        pending = session.execute(
            select(DuplicateCandidate.contact_a_id, DuplicateCandidate.contact_b_id).where(
                DuplicateCandidate.status == "pending"
            )
        ).all()

    def root(contact_id):
        while owner.get(contact_id):
            contact_id = owner[contact_id]
        return contact_id

    index = {source_id: i for i, (source_id, _) in enumerate(records)}
    entity = [truth[source_id]["_entity"] for source_id, _ in records]
    household = [truth[source_id]["_household"] for source_id, _ in records]
    by_contact: dict = defaultdict(list)
    for source_id, contact_id in records:
        by_contact[root(contact_id)].append(index[source_id])
    by_entity: dict = defaultdict(list)
    for i, e in enumerate(entity):
        by_entity[e].append(i)
    true_pairs = _pairs_of_groups(list(by_entity.values()))
    merged = _pairs_of_groups(list(by_contact.values()))
    edges = [(g[0], i) for g in by_contact.values() for i in g[1:]]
    for a, b in pending:
        ga, gb = by_contact.get(root(a)), by_contact.get(root(b))
        if ga and gb:
            edges.append((ga[0], gb[0]))
    everything = _pairs_of_groups(_components(edges))

    def households(pairs: set) -> int:
        return sum(1 for a, b in pairs if entity[a] != entity[b] and household[a] == household[b])

    by_ingest: dict = defaultdict(list)
    for source_id, contact_id in at_ingest.items():
        by_ingest[contact_id].append(index[source_id])
    linked = _pairs_of_groups(list(by_ingest.values()))
    return {
        "records": len(records),
        "load_seconds": round(load_seconds, 1),
        "sweep": summary.as_dict(),
        "merged_after_ingest_and_sweep": _prf(merged, true_pairs),
        "plus_review": _prf(everything, true_pairs),
        "linked_at_ingest": _prf(linked, true_pairs),
        "households_linked_at_ingest": households(linked),
        "households_auto_merged_by_sweep": households(merged - linked),
    }


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--sweep-child":
        _run_sweep_here(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="*", default=[])
    parser.add_argument("--e2e", type=int, default=0)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument(
        "--database",
        help="the PostgreSQL database to (re)create at --url's server, e.g. crm_bench_<name>",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="scoring processes")
    parser.add_argument(
        "--no-merge",
        action="store_true",
        help="set the organization's auto-merge threshold to 1.0: everything is queued",
    )
    args = parser.parse_args(argv)
    if args.database:
        from sqlalchemy.engine import make_url

        url = make_url(args.url).set(database=args.database)
        args.url = url.render_as_string(hide_password=False)
    report: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "seed": args.seed,
    }
    if args.contacts:
        report["speed"] = speed(
            args.contacts,
            url=args.url,
            seed=args.seed,
            workers=args.workers,
            no_merge=args.no_merge,
        )
    if args.e2e:
        report["e2e"] = e2e(args.e2e, url=args.url, seed=args.seed)
        log(json.dumps(report["e2e"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"dedup-{stamp}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
