"""Pairwise linkage metrics over record ids: no database, no bench extras (plain Python).

A *pair* is a sorted tuple of two record ids. The truth is a partition of the records into
entities; a prediction is either a set of pairs (edges) or a partition (clusters), whose pairs
are every two records of one cluster (the transitive closure of the edges).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def pair(a: K, b: K) -> tuple[K, K]:
    return (a, b) if a <= b else (b, a)  # type: ignore[operator]


def pairs_of_groups(groups: Iterable[Iterable[K]]) -> set[tuple[K, K]]:
    """Every two members of one group, as sorted pairs."""
    out: set[tuple[K, K]] = set()
    for group in groups:
        out.update(combinations(sorted(set(group)), 2))  # type: ignore[type-var]
    return out


def groups_of(labels: Mapping[K, Hashable]) -> list[list[K]]:
    """Records by label: ``{record: entity}`` to the entities' member lists."""
    by: dict[Hashable, list[K]] = defaultdict(list)
    for record, label in labels.items():
        by[label].append(record)
    return list(by.values())


def components(edges: Iterable[tuple[K, K]]) -> list[list[K]]:
    """Connected components of the edges (records in no edge are left out)."""
    parent: dict[K, K] = {}

    def root(i: K) -> K:
        while (p := parent.get(i, i)) != i:
            parent[i] = parent.get(p, p)
            i = p
        return i

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    groups: dict[K, list[K]] = defaultdict(list)
    for node in list(parent):
        groups[root(node)].append(node)
    return list(groups.values())


def closure(edges: Iterable[tuple[K, K]]) -> set[tuple[K, K]]:
    """The pairs the edges imply transitively (A~B and B~C give A~C)."""
    return pairs_of_groups(components(edges))


def prf(predicted: set, truth: set) -> dict:
    """Pairwise precision, recall and F1 (precision 1 when nothing is predicted)."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "predicted": len(predicted),
        "true_positives": tp,
        "false_positives": len(predicted) - tp,
        "false_negatives": len(truth) - tp,
    }


def best_f1(scored: Sequence[tuple[float, bool]], n_true: int) -> dict:
    """The best F1 over every threshold of scored edges ``(score, is_true_pair)``.

    Pairs not scored at all (not blocked) count as false negatives at every threshold. Ties are
    taken together: the threshold is a score, and every edge at or above it is predicted.
    """
    best = {"f1": 0.0, "threshold": None, "precision": 1.0, "recall": 0.0}
    if n_true == 0:
        return best
    ordered = sorted(scored, key=lambda s: -s[0])
    tp = predicted = 0
    for i, (score, is_true) in enumerate(ordered):
        predicted += 1
        tp += bool(is_true)
        if i + 1 < len(ordered) and ordered[i + 1][0] == score:
            continue
        precision, recall = tp / predicted, tp / n_true
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        if f1 > best["f1"]:
            best = {"f1": f1, "threshold": score, "precision": precision, "recall": recall}
    return best


def pair_completeness(true_pairs: set, covered: set) -> float:
    """The share of true pairs that are candidate pairs (share at least one block)."""
    if not true_pairs:
        return 1.0
    return len(true_pairs & covered) / len(true_pairs)
