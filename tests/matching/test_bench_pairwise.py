"""The peer benchmark's pairwise metrics (bench/dedup/pairwise.py: plain Python, no extras).

The benchmark's verdicts against Splink rest on these: transitive closure of merges, the
review queue's worst case, the best F1 over thresholds and pair completeness.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "dedup"))

import pairwise


def test_truth_pairs_are_every_two_records_of_one_entity():
    entity = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 3}
    truth = pairwise.pairs_of_groups(pairwise.groups_of(entity))
    assert truth == {("a", "b"), ("a", "c"), ("b", "c")}


def test_closure_joins_chains_and_keeps_separate_components_apart():
    closed = pairwise.closure([("b", "a"), ("c", "b"), ("x", "y")])
    assert closed == {("a", "b"), ("a", "c"), ("b", "c"), ("x", "y")}


def test_closure_counts_a_wrong_link_against_every_member_it_drags_in():
    truth = {("a", "b"), ("c", "d")}
    # one wrong edge b~c joins two right pairs: four wrong pairs in the closure
    got = pairwise.prf(pairwise.closure([("a", "b"), ("c", "d"), ("b", "c")]), truth)
    assert (got["true_positives"], got["false_positives"]) == (2, 4)
    assert got["precision"] == pytest.approx(2 / 6)
    assert got["recall"] == 1.0


def test_prf_of_nothing_predicted_is_precision_one_recall_zero():
    got = pairwise.prf(set(), {("a", "b")})
    assert (got["precision"], got["recall"], got["f1"]) == (1.0, 0.0, 0.0)


def test_best_f1_counts_unscored_true_pairs_as_missed():
    # 4 true pairs, 2 of them never blocked; scored: 2 true (0.9, 0.8), 1 false (0.95)
    best = pairwise.best_f1([(0.95, False), (0.9, True), (0.8, True)], n_true=4)
    # at 0.8: P 2/3, R 2/4 -> F1 4/7; nothing does better
    assert best["threshold"] == 0.8
    assert best["f1"] == pytest.approx(4 / 7)
    assert best["recall"] == pytest.approx(0.5)


def test_best_f1_takes_tied_scores_together():
    # one threshold cannot keep the true pair and drop the false one of the same score
    best = pairwise.best_f1([(0.9, True), (0.9, False)], n_true=1)
    assert best["precision"] == pytest.approx(0.5)
    assert best["f1"] == pytest.approx(2 / 3)


def test_pair_completeness_is_the_share_of_true_pairs_blocked():
    truth = {("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")}
    blocked = {("a", "b"), ("c", "d"), ("a", "z")}
    assert pairwise.pair_completeness(truth, blocked) == 0.5
