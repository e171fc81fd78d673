"""Matching quality on generated people with known ground truth (in memory, no database).

    .venv/bin/python bench/dedup/quality.py [--records 20000] [--seed 7] [--auto 0.99]
        [--review 0.6] [--json]

The records go through the ingestion pipeline's normalisation (``build_observation``), become
match records and run through the same ``Matcher`` the sweep uses. Pairwise precision, recall
and F1 over record pairs, against the generator's ``_entity``:

* auto: the pairs inside the auto-merge groups (what the sweep would merge on its own);
* auto + review: the pairs inside the groups the auto-merges and every queued candidate would
  make if a reviewer accepted every candidate (the queue's worst case for precision);
* households auto-merged: auto pairs whose two records are different people of one household
  (must be 0), and the count of household pairs queued for review.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import defaultdict
from itertools import combinations
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import generate  # noqa: E402

from crm.ingest import Rejected, build_observation  # noqa: E402
from crm.matching.matcher import Matcher  # noqa: E402
from crm.matching.records import MatchRecord, build_record  # noqa: E402
from crm.matching.scoring import AUTO_MERGE, Thresholds  # noqa: E402


def records_for(raw_records: list[dict]) -> tuple[list[MatchRecord], list[dict]]:
    """Match records (normalised as the pipeline does) and the ground truth kept beside them."""
    records: list[MatchRecord] = []
    truth: list[dict] = []
    for raw in raw_records:
        fields = {k: v for k, v in raw.items() if not k.startswith("_") and k != "external_id"}
        try:
            obs = build_observation(fields, source="bench", region="AU")
        except Rejected:
            continue
        row = dict(obs.fields, id=uuid.UUID(int=len(records) + 1))
        keys = [(key.namespace, key.value) for key in obs.keys]
        records.append(build_record(len(records), row, keys))
        truth.append({"entity": raw["_entity"], "household": raw["_household"]})
    return records, truth


def _pairs_of_groups(groups: list[list[int]]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for group in groups:
        for a, b in combinations(sorted(group), 2):
            pairs.add((a, b))
    return pairs


def _components(edges: list[tuple[int, int]]) -> list[list[int]]:
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.get(i, i) != i:
            parent[i] = parent.get(parent[i], parent[i])
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    groups: dict[int, list[int]] = defaultdict(list)
    for node in {n for edge in edges for n in edge}:
        groups[root(node)].append(node)
    return list(groups.values())


def _prf(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true_positives": tp,
        "false_positives": len(predicted) - tp,
        "false_negatives": len(truth) - tp,
    }


def evaluate(
    records: list[MatchRecord], truth: list[dict], thresholds: Thresholds, **matcher_args
) -> dict:
    started = time.perf_counter()
    matcher = Matcher(records, thresholds=thresholds, **matcher_args)
    result = matcher.run()
    groups = matcher.merge_groups(result.pairs)
    seconds = time.perf_counter() - started
    by_entity: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(truth):
        by_entity[t["entity"]].append(i)
    true_pairs = _pairs_of_groups(list(by_entity.values()))
    auto = _pairs_of_groups(groups)
    queued = [(p.a, p.b) for p in result.pairs if p.decision != AUTO_MERGE]
    everything = _pairs_of_groups(_components([*auto, *queued]))

    def household_pairs(pairs: set[tuple[int, int]] | list[tuple[int, int]]) -> int:
        return sum(
            1
            for a, b in pairs
            if truth[a]["entity"] != truth[b]["entity"]
            and truth[a]["household"] == truth[b]["household"]
        )

    return {
        "records": len(records),
        "entities": len(by_entity),
        "true_pairs": len(true_pairs),
        "pairs_scored": result.pairs_scored,
        "blocks": result.blocks.blocks,
        "windowed_blocks": result.blocks.windowed_blocks,
        "largest_block": result.blocks.largest_block,
        "auto_pairs": len(auto),
        "review_candidates": len(queued),
        "auto": _prf(auto, true_pairs),
        "auto_plus_review": _prf(everything, true_pairs),
        "households_auto_merged": household_pairs(auto),
        "households_queued": household_pairs(queued),
        "thresholds": {"auto_merge": thresholds.auto_merge, "review": thresholds.review},
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--auto", type=float, default=None)
    parser.add_argument("--review", type=float, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    default = Thresholds()
    thresholds = Thresholds(
        auto_merge=args.auto if args.auto is not None else default.auto_merge,
        review=args.review if args.review is not None else default.review,
    )
    raw = list(generate.generate(args.records, seed=args.seed))
    records, truth = records_for(raw)
    report = evaluate(records, truth, thresholds)
    report["seed"] = args.seed
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>22}: {value}")
    return report


if __name__ == "__main__":
    main()
