"""Estimate the Fellegi-Sunter m and u probabilities from generated ground truth.

    .venv/bin/python bench/dedup/calibrate.py [--records 40000] [--seed 11]

Blocks the generated records as the sweep does, compares every candidate pair, and counts
each field's agreement level among true duplicates (m) and among different people (u), with
add-one smoothing. Prints ``M_U`` and the prior for ``crm/matching/weights.py``. Use a seed
other than the quality benchmark's, so the figures it reports are not measured on the data
the weights were fitted to.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import generate  # noqa: E402
from quality import records_for  # noqa: E402

from crm.matching.matcher import Matcher  # noqa: E402
from crm.matching.scoring import Thresholds  # noqa: E402
from crm.matching.weights import M_U  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    records, truth = records_for(list(generate.generate(args.records, seed=args.seed)))
    matcher = Matcher(records, thresholds=Thresholds())
    codes, stats = matcher.candidate_codes()
    counts = {True: defaultdict(Counter), False: defaultdict(Counter)}
    totals = Counter()
    for code in codes.tolist():
        a, b = code >> 32, code & 0xFFFFFFFF
        match = truth[a]["entity"] == truth[b]["entity"]
        totals[match] += 1
        scored = matcher.scorer.compare(records[a], records[b])
        for reason in scored.reasons:
            level = reason.comparison.removeprefix("swapped_")
            counts[match][reason.field][level] += 1
    print(f"# {stats.pairs} pairs, {totals[True]} duplicates, seed {args.seed}")
    print("M_U = {")
    for field, levels in M_U.items():
        print(f'    "{field}": {{')
        m_total = sum(counts[True][field].values()) + len(levels)
        u_total = sum(counts[False][field].values()) + len(levels)
        for level in levels:
            m = (counts[True][field][level] + 1) / m_total
            u = (counts[False][field][level] + 1) / u_total
            print(f'        "{level}": ({m:.4g}, {u:.4g}),  # {math.log2(m / u):+.2f}')
        print("    },")
    print("}")
    prior = totals[True] / max(1, totals[True] + totals[False])
    print(f"PRIOR_LOG2_ODDS = math.log2({prior:.4g} / {1 - prior:.4g})")


if __name__ == "__main__":
    main()
