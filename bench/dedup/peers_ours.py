"""Our side of the peer benchmark: the real import and the real sweep, then the outcome.

For one data set: a fresh database (a SQLite file, or a PostgreSQL database dropped and
created), migrated by ``crm db upgrade``, one organization (``crm org create``), the records
as a CSV imported by ``crm import`` (each record's id as ``external_id``), then the pair
completeness of our blocking on the contacts as the sweep reads them, then ``crm dedup`` (the
default thresholds) in a process of its own (wall time and peak RSS), then what the database
says: which source records ended in one contact (ingest links and auto-merges) and which pairs
of contacts wait for review.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import pairwise  # noqa: E402
from peers_data import Dataset, write_csv  # noqa: E402

CRM = str(Path(sys.executable).with_name("crm"))
SOURCE = "csv"


def _run(args: list[str], url: str) -> tuple[str, float]:
    """Run ``crm`` with ``args`` on ``url``: its stdout and wall seconds."""
    started = time.perf_counter()
    proc = subprocess.run([CRM, *args], capture_output=True, text=True, env=_env(url))
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"crm {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout, seconds


def _env(url: str) -> dict[str, str]:
    env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_LOG_LEVEL": "WARNING"}
    env.pop("CRM_REDIS_URL", None)  # inline: nothing waits for a worker
    return env


def _run_measured(args: list[str], url: str) -> tuple[str, float, dict]:
    """Like ``_run``, through ``peers_cli.py``: and the process's own peak RSS (MB), and the
    largest of the processes it forked."""
    rss_path = Path(f"/tmp/peers-rss-{os.getpid()}-{uuid.uuid4().hex}.json")
    env = {**_env(url), "PEERS_RSS_FILE": str(rss_path)}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / "peers_cli.py"), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"crm {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    try:
        rss = json.loads(rss_path.read_text())
    finally:
        rss_path.unlink(missing_ok=True)
    return proc.stdout, seconds, rss


def _reject_reasons(path: Path) -> dict[str, int]:
    """How many rows the import rejected, by error code (the rejects file has no values here:
    only its code column is read)."""
    import csv

    if not path.exists():
        return {}
    counts: dict[str, int] = defaultdict(int)
    with path.open(newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            column, code = row.get("reject_column") or "", row.get("reject_code") or "?"
            counts[f"{column}: {code}" if column else code] += 1
    return dict(counts)


def fresh_url(base: str, name: str, workdir: Path) -> str:
    """A fresh database for one data set: ``sqlite`` (a file in ``workdir``) or a PostgreSQL
    URL whose database name gets ``_<data set>`` appended (dropped and created)."""
    if base == "sqlite":
        path = workdir / f"peers-{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    from run import recreate
    from sqlalchemy.engine import make_url

    parsed = make_url(base)
    url = parsed.set(database=f"{parsed.database}_{re.sub(r'[^a-z0-9_]', '_', name)}")
    rendered = url.render_as_string(hide_password=False)
    recreate(rendered)
    return rendered


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"no JSON in the output: {text[-500:]!r}")


def load_records(url: str, org_id: uuid.UUID) -> tuple[list, dict]:
    """The organization's contacts as the sweep reads them (match records), and each source
    record's id -> the contact holding it."""
    from sqlalchemy import select

    from crm.db import make_engine, session_scope
    from crm.matching.records import iter_record_chunks
    from crm.models import SourceRecord

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            records = [
                r for chunk in iter_record_chunks(session, organization_id=org_id) for r in chunk
            ]
            owner = dict(
                session.execute(
                    select(SourceRecord.source_id, SourceRecord.contact_id).where(
                        SourceRecord.organization_id == org_id,
                        SourceRecord.is_current.is_(True),
                    )
                ).all()
            )
    finally:
        engine.dispose()
    return records, owner


def blocking_completeness(url: str, org_id: uuid.UUID, dataset: Dataset) -> dict:
    """Pair completeness of our blocking, on the contacts as the sweep reads them.

    ``keys``: the share of true pairs whose two records are one contact already (linked at
    import) or whose contacts share at least one blocking key (``blocking.blocking_keys``).
    ``compared``: the same with the pairs the sweep actually compares (``Matcher``'s candidate
    pairs: oversized blocks are windowed), i.e. the recall ceiling of the sweep.
    """
    from crm.matching import blocking

    records, owner = load_records(url, org_id)
    index = {r.id: r.idx for r in records}
    truth = pairwise.pairs_of_groups(pairwise.groups_of(dataset.entity))
    result: dict = {"true_pairs": len(truth), "records_swept": len(records)}
    at_import = {p for p in truth if p[0] in owner and owner[p[0]] == owner.get(p[1])}
    result["linked_at_import"] = len(at_import)
    across = [
        (index[owner[a]], index[owner[b]])
        for a, b in truth - at_import
        if owner.get(a) in index and owner.get(b) in index
    ]
    result["not_swept"] = len(truth) - len(at_import) - len(across)
    # share a key
    try:
        keys = [set(blocking.blocking_keys(r)) for r in records]
        shared = sum(1 for a, b in across if keys[a] & keys[b])
        result["keys"] = (len(at_import) + shared) / len(truth) if truth else 1.0
    except Exception as exc:  # the matcher's blocking API moved on: say so, do not crash
        result["keys"] = None
        result["keys_error"] = f"{type(exc).__name__}: {exc}"
    # compared by the sweep
    try:
        import numpy as np

        from crm.matching.matcher import Matcher
        from crm.matching.scoring import Thresholds

        codes, stats = Matcher(records, thresholds=Thresholds()).candidate_codes()
        wanted = np.asarray([(min(a, b) << 32) | max(a, b) for a, b in across], dtype=np.int64)
        hit = int(np.isin(wanted, codes).sum()) if len(wanted) else 0
        result["compared"] = (len(at_import) + hit) / len(truth) if truth else 1.0
        result["candidate_pairs"] = len(codes)
        result["largest_block"] = getattr(stats, "largest_block", None)
        result["windowed_blocks"] = getattr(stats, "windowed_blocks", None)
    except Exception as exc:
        result["compared"] = None
        result["compared_error"] = f"{type(exc).__name__}: {exc}"
    return result


def outcome(url: str, org_id: uuid.UUID) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """After the sweep: the source records of each contact (the auto clusters) and the pending
    review pairs, both in record ids."""
    from sqlalchemy import select

    from crm.db import make_engine, session_scope
    from crm.models import Contact, DuplicateCandidate, SourceRecord

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            merged_into = dict(
                session.execute(
                    select(Contact.id, Contact.merged_into_id).where(
                        Contact.organization_id == org_id
                    )
                ).all()
            )
            records = session.execute(
                select(SourceRecord.source_id, SourceRecord.contact_id).where(
                    SourceRecord.organization_id == org_id, SourceRecord.is_current.is_(True)
                )
            ).all()
            pending = session.execute(
                select(DuplicateCandidate.contact_a_id, DuplicateCandidate.contact_b_id).where(
                    DuplicateCandidate.organization_id == org_id,
                    DuplicateCandidate.status == "pending",
                )
            ).all()
    finally:
        engine.dispose()

    def root(contact_id):
        seen = 0
        while merged_into.get(contact_id) and seen < 1000:
            contact_id = merged_into[contact_id]
            seen += 1
        return contact_id

    by_contact: dict = defaultdict(list)
    for source_id, contact_id in records:
        by_contact[root(contact_id)].append(source_id)
    review = []
    for a, b in pending:
        ga, gb = by_contact.get(root(a)), by_contact.get(root(b))
        if ga and gb:
            review.append((ga[0], gb[0]))
    return list(by_contact.values()), review


def run(dataset: Dataset, *, base_url: str, workdir: Path) -> dict:
    url = fresh_url(base_url, dataset.name, workdir)
    csv_path = workdir / f"peers-{dataset.name}.csv"
    write_csv(dataset, csv_path)
    _run(["db", "upgrade"], url)
    out, _ = _run(["org", "create", f"peers {dataset.name}", "--region", dataset.region], url)
    org_id = uuid.UUID(out.strip().splitlines()[-1])
    rejects_path = workdir / f"peers-{dataset.name}-rejects.csv"
    out, import_seconds = _run(
        [
            "import",
            str(csv_path),
            "--org",
            str(org_id),
            "--source",
            SOURCE,
            "--rejects",
            str(rejects_path),
            "--json",
            # Febrl has no contact channel column: the column plan is accepted as shown
            "--yes",
        ],
        url,
    )
    imported = _last_json(out)
    imported["rejected_reasons"] = _reject_reasons(rejects_path)
    completeness = blocking_completeness(url, org_id, dataset)
    import_clusters, _ = outcome(url, org_id)
    out, sweep_seconds, sweep_rss = _run_measured(["dedup", "--org", str(org_id), "--json"], url)
    sweep = _last_json(out)
    clusters, review = outcome(url, org_id)
    return {
        "import": imported,
        "import_seconds": import_seconds,
        "sweep": sweep,
        "sweep_seconds": sweep_seconds,
        "sweep_peak_rss_mb": sweep_rss["self_mb"],
        "sweep_forked_peak_rss_mb": sweep_rss["children_mb"],
        "import_clusters": import_clusters,
        "blocking": completeness,
        "clusters": clusters,
        "review": review,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
    }


def metrics(dataset: Dataset, result: dict) -> dict:
    """Pairwise precision, recall and F1 of the auto clusters and of auto + review."""
    truth = pairwise.pairs_of_groups(pairwise.groups_of(dataset.entity))
    auto = pairwise.pairs_of_groups(result["clusters"])
    edges = [(g[0], x) for g in result["clusters"] for x in g[1:]] + list(result["review"])
    with_review = pairwise.closure(edges)
    at_import = pairwise.pairs_of_groups(result["import_clusters"])
    out = {
        "auto": pairwise.prf(auto, truth),
        "review": pairwise.prf(with_review, truth),
        "review_pairs": len(result["review"]),
        "linked_at_import": pairwise.prf(at_import, truth),
    }
    if dataset.household:
        entity, household = dataset.entity, dataset.household

        def households(pairs: set) -> int:
            return sum(
                1 for a, b in pairs if entity[a] != entity[b] and household[a] == household[b]
            )

        # in one contact: by the import's exact keys, and by the sweep's auto-merges
        out["households_linked_at_import"] = households(at_import)
        out["households_auto_merged"] = households(auto - at_import)
        out["households_queued"] = households({pairwise.pair(a, b) for a, b in result["review"]})
    return out
