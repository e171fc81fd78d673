"""The streamed sweep's scoring CPU, in memory (no database), and every kept pair dumped.

    .venv/bin/python bench/dedup/scoring_cpu.py --records 20000 [--seed 7] [--root DIR]
        [--dump FILE] [--profile]

The generated records (``generate.py``, normalised as ``quality.py`` does) are blocked as the
PostgreSQL sweep blocks them (key hashes, blocks of two or more in key and name order, the
oversized ones windowed) and scored by ``stream.BlockScorer`` in this process with the model
trained on them; the process time of the scoring alone is printed (JSON on stderr).

``--root`` takes ``crm`` from another checkout (the code before a change, from ``git archive``
or ``git worktree add``) so that both run on the same records in one session. ``--dump``
writes the trained model, then every kept pair (indexes, score, queued score, household
verdict, decision, reasons) in index order: compare the dumps before and after a change byte
for byte (no decision may change).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--root", default=str(HERE.parent.parent), help="checkout to score with")
    parser.add_argument("--dump", help="write the model and every kept pair here")
    parser.add_argument("--profile", action="store_true", help="cProfile the scoring")
    args = parser.parse_args()
    # that checkout's own generator and normalisation too (``quality`` puts its checkout
    # first on the path)
    sys.path.insert(0, str(Path(args.root) / "bench" / "dedup"))
    sys.path.insert(0, args.root)

    import generate
    import quality

    from crm.matching import stream
    from crm.matching.blocking import DEFAULT_MAX_BLOCK, block_limits
    from crm.matching.scoring import NameFrequencies, Thresholds
    from crm.matching.sweep_streamed import _train_on

    records, _ = quality.records_for(list(generate.generate(args.records, seed=args.seed)))
    thresholds = Thresholds()
    frequencies = NameFrequencies.of(records)
    started = time.process_time()
    model = _train_on(records, frequencies)
    train_cpu = time.process_time() - started

    # what the database streams: entries of blocks of two or more, by key, in name order
    entries = [(key, r.idx) for r in records for key in stream.key_hashes(r)]
    sizes = Counter(key for key, _ in entries)
    oversized = frozenset(
        key for key, n in sizes.items() if n > block_limits(key, DEFAULT_MAX_BLOCK, 0)[0]
    )
    order = {r.idx: stream.sort_fields(r) for r in records}
    entries = sorted(
        ((key, idx) for key, idx in entries if sizes[key] > 1),
        key=lambda e: (e[0], order[e[1]], e[1]),
    )
    encoded = {r.idx: stream.encode(r) for r in records}
    batches = list(stream.iter_blocks((key, idx, encoded[idx]) for key, idx in entries))
    scorer = stream.BlockScorer(
        scorer=model.scorer(frequencies), thresholds=thresholds, oversized=oversized
    )

    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    kept: list[tuple] = []
    scored = 0
    started = time.process_time()
    for batch in batches:
        rows, n, _ = scorer.score_blocks(batch)
        kept.extend(rows)
        scored += n
    score_cpu = time.process_time() - started
    if profile is not None:
        profile.disable()

    summary = {
        "code": str(Path(sys.modules["crm"].__file__).parent.parent),
        "records": len(records),
        "train_cpu": round(train_cpu, 2),
        "score_cpu": round(score_cpu, 2),
        "pairs_scored": scored,
        "us_a_pair": round(score_cpu / max(scored, 1) * 1e6, 1),
        "kept": len(kept),
        "auto": sum(1 for row in kept if row[6] == "auto_merge"),
    }
    summary["rss_mb"] = _rss_mb()
    summary["caches"] = _caches()
    print(json.dumps(summary), file=sys.stderr)
    if args.dump:
        with open(args.dump, "w") as out:
            out.write(json.dumps(model.as_json(), sort_keys=True) + "\n")
            for row in sorted(kept, key=lambda row: (row[1], row[2])):
                # (the row's own id, a fresh uuid7, left out)
                out.write(json.dumps([*row[1:7], json.loads(row[7])]) + "\n")
    if profile is not None:
        import pstats

        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


def _rss_mb() -> int:
    """This process's peak resident size (VmHWM), MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def _caches() -> dict[str, list[int]]:
    """The matching code's caches after scoring: hits, misses, size."""
    found = {}
    for module in [m for name, m in sys.modules.items() if name.startswith("crm.")]:
        for name, value in vars(module).items():
            info = getattr(value, "cache_info", None)
            if callable(info) and getattr(value, "__module__", "") == module.__name__:
                i = info()
                short = module.__name__.rsplit(".", 1)[1]
                found[f"{short}.{name}"] = [i.hits, i.misses, i.currsize]
    return found


if __name__ == "__main__":
    main()
