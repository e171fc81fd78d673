"""Why our side of the peer benchmark misses the true pairs it misses: a developer's tool.

    .venv/bin/python bench/dedup/peers_analyse.py [--datasets febrl1,...] [--cache /tmp/peers-cache]
        [--reimport] [--show 20] [--json]

Each data set is imported once through the real ``crm import`` into a SQLite file kept in
``--cache`` (reused by the next run unless ``--reimport``: the import is the slow part and the
matcher is what changes), then swept *in memory* as ``sweep_memory`` sweeps it (``Matcher``:
blocking, the organization's own model, scoring, ``merge_groups``), with no database write.
Printed per data set: pairwise P / R / F1 of the auto clusters (import links + merges) and with
the review queue, the pair completeness, households (our generator), and each missed true
pair counted by why it was missed: not blocked, blocked but below the review threshold,
queued but held back by a household or name rule, queued by score alone; and the commonest
level patterns of the missed pairs, with a few examples (record ids only: the values are in
the data set).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import pairwise  # noqa: E402
import peers_data  # noqa: E402
import peers_ours  # noqa: E402


def imported(name: str, dataset, cache: Path, reimport: bool) -> tuple[str, uuid.UUID]:
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"{name}-{len(dataset.records)}.db"
    marker = cache / f"{name}-{len(dataset.records)}.org"
    if reimport or not (db.exists() and marker.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        csv_path = cache / f"{name}.csv"
        peers_data.write_csv(dataset, csv_path)
        peers_ours._run(["db", "upgrade"], url)
        out, _ = peers_ours._run(
            ["org", "create", f"peers {name}", "--region", dataset.region], url
        )
        org = out.strip().splitlines()[-1]
        peers_ours._run(
            ["import", str(csv_path), "--org", org, "--source", "csv", "--json", "--yes"], url
        )
        marker.write_text(org)
    return f"sqlite:///{db}", uuid.UUID(marker.read_text().strip())


def pattern(scored) -> str:
    return " ".join(
        f"{r.field[:5]}={r.comparison}" for r in scored.reasons if r.field != "household"
    ) + (f" [{scored.household}]" if scored.household else "")


def analyse(name: str, args) -> dict:
    from crm.matching.matcher import Matcher
    from crm.matching.scoring import AUTO_MERGE, Thresholds, classify

    dataset = peers_data.load(name, generated_size=args.generated_records, seed=args.seed)
    url, org_id = imported(name, dataset, Path(args.cache), args.reimport)
    records, owner = peers_ours.load_records(url, org_id)
    started = time.perf_counter()
    thresholds = Thresholds()
    matcher = Matcher(records, thresholds=thresholds)
    codes, _ = matcher.candidate_codes()
    model = matcher.fit(codes)
    result = matcher.run(blocked=(codes, _))
    groups = matcher.merge_groups(result.pairs)
    seconds = time.perf_counter() - started
    group_of = {i: g[0] for g in groups for i in g}
    root = {r.idx: group_of.get(r.idx, r.idx) for r in records}
    index = {r.id: r.idx for r in records}
    by_root: dict[int, list[str]] = defaultdict(list)
    for source_id, contact_id in owner.items():
        if contact_id in index:
            by_root[root[index[contact_id]]].append(source_id)
    truth = pairwise.pairs_of_groups(pairwise.groups_of(dataset.entity))
    auto = pairwise.pairs_of_groups(by_root.values())
    first_of = {r: ids[0] for r, ids in by_root.items()}
    review_edges = [
        (first_of[root[p.a]], first_of[root[p.b]])
        for p in result.pairs
        if root[p.a] != root[p.b] and root[p.a] in first_of and root[p.b] in first_of
    ]
    edges = [(g[0], x) for g in by_root.values() for x in g[1:]] + review_edges
    with_review = pairwise.closure(edges)
    by_owner: dict = defaultdict(list)
    for source_id, contact_id in owner.items():
        by_owner[contact_id].append(source_id)
    at_import = pairwise.pairs_of_groups(by_owner.values())
    code_set = set(codes.tolist())
    kept = {(p.a, p.b): p for p in result.pairs}
    why: Counter = Counter()
    patterns: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list] = defaultdict(list)
    for a, b in sorted(truth - auto):
        ca, cb = owner.get(a), owner.get(b)
        if ca not in index or cb not in index:
            why["not imported"] += 1
            continue
        ia, ib = sorted((index[ca], index[cb]))
        scored = matcher.scorer.compare(records[ia], records[ib])
        if (ia << 32 | ib) not in code_set:
            reason = "not blocked"
        elif (ia, ib) not in kept:
            reason = "below review"
        elif classify(scored, thresholds) == AUTO_MERGE:
            reason = "auto pair, group refused"
        elif scored.household:
            reason = f"queued: {scored.household}"
        else:
            reason = "queued: score"
        why[reason] += 1
        key = pattern(scored)
        patterns[reason][key] += 1
        if len(examples[reason]) < args.show:
            examples[reason].append((a, b, round(scored.score, 4), key))
    out = {
        "dataset": name,
        "records": len(records),
        "seconds": round(seconds, 1),
        "auto": pairwise.prf(auto, truth),
        "review": pairwise.prf(with_review, truth),
        "at_import": pairwise.prf(at_import, truth),
        "pc": (
            len(truth & at_import)
            + sum(
                1
                for a, b in truth - at_import
                if owner.get(a) in index
                and owner.get(b) in index
                and (
                    min(index[owner[a]], index[owner[b]]) << 32
                    | max(index[owner[a]], index[owner[b]])
                )
                in code_set
            )
        )
        / len(truth),
        "pairs_compared": len(codes),
        "why": dict(why.most_common()),
        "patterns": {k: v.most_common(args.patterns) for k, v in patterns.items()},
        "examples": dict(examples),
        "model": {"trained": model.trained, "prior": round(model.prior, 3), "note": model.note},
    }
    if dataset.household:
        entity, household = dataset.entity, dataset.household

        def households(pairs: set) -> int:
            return sum(
                1 for a, b in pairs if entity[a] != entity[b] and household[a] == household[b]
            )

        out["households_auto"] = households(auto - at_import)
        out["households_import"] = households(at_import)
        # the sweep's own decisions: two contacts merged whose records are no one person and
        # one household (not a true duplicate merged into a contact the import had already
        # joined with a household member)
        sources_of: dict = defaultdict(list)
        for source_id, contact_id in owner.items():
            if contact_id in index:
                sources_of[index[contact_id]].append(source_id)
        own = []
        for group in groups:
            for i, x in enumerate(group):
                for y in group[i + 1 :]:
                    ex = {entity[s] for s in sources_of[x]}
                    ey = {entity[s] for s in sources_of[y]}
                    hx = {household[s] for s in sources_of[x]}
                    hy = {household[s] for s in sources_of[y]}
                    if not ex & ey and hx & hy:
                        own.append((sources_of[x][0], sources_of[y][0]))
        out["households_sweep_own"] = len(own)
        out["households_sweep_own_examples"] = own[: args.show]
        wrong = [(a, b) for a, b in auto - truth]
        out["false_auto_examples"] = []
        for a, b in wrong[: args.show]:
            ia, ib = index[owner[a]], index[owner[b]]
            scored = matcher.scorer.compare(records[ia], records[ib])
            out["false_auto_examples"].append(
                (a, b, household[a] == household[b], round(scored.score, 4), pattern(scored))
            )
    if args.weights:
        out["weights"] = {
            f: {lv: round(w, 2) for lv, w in levels.items()}
            for f, levels in matcher.scorer.weights.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(peers_data.ALL))
    parser.add_argument("--cache", default="/tmp/peers-cache")
    parser.add_argument("--reimport", action="store_true")
    parser.add_argument("--generated-records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=5)
    parser.add_argument("--patterns", type=int, default=8)
    parser.add_argument("--weights", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        out = analyse(name, args)
        if args.json:
            print(json.dumps(out, default=str))
            continue
        a, r = out["auto"], out["review"]
        print(
            f"== {name}: {out['records']:,} contacts, {out['pairs_compared']:,} pairs, "
            f"{out['seconds']}s; auto P {a['precision']:.4f} R {a['recall']:.4f} "
            f"(FP {a['false_positives']}); +review P {r['precision']:.4f} R {r['recall']:.4f} "
            f"F1 {r['f1']:.4f}; PC {out['pc']:.4f}; model {out['model']}"
        )
        if "households_auto" in out:
            print(
                f"   households auto {out['households_auto']}, import "
                f"{out['households_import']}, merged by the sweep's own decisions "
                f"{out['households_sweep_own']} {out['households_sweep_own_examples']}"
            )
            for ex in out["false_auto_examples"]:
                print("   FP", ex)
        for reason, count in out["why"].items():
            print(f"   {reason}: {count}")
            for key, n in out["patterns"].get(reason, []):
                print(f"      {n:5d}  {key}")
            for ex in out["examples"].get(reason, []):
                print(f"         e.g. {ex}")
        if "weights" in out:
            for f, levels in out["weights"].items():
                print(f"   w {f}: {levels}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
