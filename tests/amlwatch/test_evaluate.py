"""Evaluation: the split, thresholds against brute force, metrics against definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from amlwatch.evaluate import (
    Period,
    average_precision,
    budget_threshold,
    confusion,
    evaluate_alerts,
    evaluate_scores,
    evaluation_table,
    f_beta_threshold,
    recall_at_budget,
    temporal_split,
)
from amlwatch.evaluate.metrics import f_beta

cases = st.integers(5, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.7, 0.9, 1.0]), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


def test_split_shares_and_order() -> None:
    s = temporal_split(1000)
    assert (s.train, s.valid, s.test) == (slice(0, 600), slice(600, 800), slice(800, 1000))
    with pytest.raises(ValueError):
        temporal_split(10, fractions=(0.5, 0.5, 0.5))


@settings(max_examples=80, deadline=None)
@given(cases, st.sampled_from([0.5, 1.0, 2.0]))
def test_f_beta_threshold_is_the_best_cut(case, beta) -> None:
    scores, labels = (np.asarray(x) for x in case)
    if labels.sum() == 0:
        return
    threshold = f_beta_threshold(scores, labels, beta=beta)

    def fb(t: float) -> float:
        c = confusion(scores > t, labels)
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        return f_beta(p, c["tp"] / labels.sum(), beta)

    best = max(fb(t - 1e-9) for t in np.unique(scores))
    assert fb(threshold) == pytest.approx(best)


def test_budget_threshold_raises_the_budget() -> None:
    scores = np.arange(20_000, dtype=float)
    t = budget_threshold(scores, per_10k=10)
    assert int((scores > t).sum()) == 20


@settings(max_examples=60, deadline=None)
@given(cases)
def test_average_precision_matches_scikit_learn(case) -> None:
    scores, labels = (np.asarray(x) for x in case)
    if labels.sum() == 0:
        return
    assert average_precision(scores, labels) == pytest.approx(
        average_precision_score(labels, scores)
    )


def test_recall_at_budget_and_confusion() -> None:
    labels = np.zeros(10_000, dtype=int)
    labels[:4] = 1
    scores = -np.arange(10_000, dtype=float)  # rows 0..9 are the top 10
    scores[3] = -50_000.0  # one positive ranked last
    assert recall_at_budget(scores, labels, 10) == pytest.approx(0.75)
    assert confusion(scores > -10, labels) == {"tp": 3, "fp": 6, "fn": 1, "tn": 9990}


def test_evaluate_scores_chooses_on_valid_and_reports_test() -> None:
    valid = Period(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0]))
    typ = np.array(["cycle", "fan_in", None, None], dtype=object)
    test = Period(np.array([0.95, 0.3, 0.6, 0.1]), np.array([1, 1, 0, 0]), typ)
    row = evaluate_scores("d", valid=valid, test=test, budgets=(5000.0,))
    assert 0.2 < row["threshold"] < 0.8
    assert (row["tp"], row["fp"], row["fn"]) == (1, 1, 1)
    assert row["recall_cycle"] == 1.0 and row["recall_fan_in"] == 0.0
    assert row["recall_at_5000_per_10k"] == 0.5
    both = evaluate_alerts("d OR e", alerts=np.array([True, True, False, False]), test=test)
    assert both["recall"] == 1.0 and np.isnan(both["pr_auc"])
    table = evaluation_table([row, both])
    assert table.get_column("detector").to_list() == ["d", "d OR e"]


def test_alert_budget_threshold_comes_from_validation() -> None:
    rng = np.random.default_rng(0)
    valid = Period(rng.random(20_000), np.zeros(20_000, dtype=int))
    valid.labels[:5] = 1
    test = Period(rng.random(10_000), np.r_[np.ones(3, dtype=int), np.zeros(9_997, dtype=int)])
    row = evaluate_scores("d", valid=valid, test=test, budget=10.0)
    assert int((valid.scores > row["threshold"]).sum()) == 20  # 10 per 10k of validation
    assert 5 <= row["alerts_per_10k"] <= 20  # about the same share of the test period


def test_period_warnings_name_the_counts() -> None:
    from amlwatch.evaluate.health import MIN_POSITIVES, period_warnings

    enough = np.r_[np.ones(MIN_POSITIVES), np.zeros(500)]
    assert period_warnings(enough, enough) == []
    none_valid = period_warnings(np.zeros(400), enough)
    assert (
        len(none_valid) == 1
        and "validation period (400 transactions) holds no laundering" in (none_valid[0])
    )
    few = period_warnings(np.r_[np.ones(5), np.zeros(100)], np.zeros(300))
    assert "only 5 laundering transactions (of 105)" in few[0]
    assert "test period (300 transactions) holds no laundering" in few[1]
    assert "only 19" in period_warnings(enough, enough[1:])[0]


def test_threshold_warning_when_the_best_cut_alerts_on_everything() -> None:
    from amlwatch.evaluate.health import threshold_warnings

    rng = np.random.default_rng(0)
    scores = rng.random(1000)
    # Planted: the laundering rows score lowest, so the best F2 alerts on (nearly) all rows.
    labels = np.zeros(1000, dtype=np.int8)
    labels[np.argsort(scores)[:10]] = 1
    t = f_beta_threshold(scores, labels, beta=2.0)
    (warning,) = threshold_warnings("rules", scores, t, beta=2.0)
    assert warning.startswith("rules: its best-F2 threshold alerts on 100% of the validation")
    # Planted the other way round: the laundering rows score highest; the cut alerts on 1 %.
    labels = np.zeros(1000, dtype=np.int8)
    labels[np.argsort(scores)[-10:]] = 1
    t = f_beta_threshold(scores, labels, beta=2.0)
    assert np.mean(scores > t) == pytest.approx(0.01)
    assert threshold_warnings("xgboost", scores, t, beta=2.0) == []


def test_summary_columns_follow_the_runs_beta() -> None:
    from amlwatch.evaluate import summary_columns

    head = ["detector", "alerts_per_10k", "precision", "recall", "f1"]
    for beta, extra in ((2.0, ["f2"]), (0.5, ["f0.5"]), (1.0, [])):
        row = evaluate_scores(
            "d",
            valid=Period(np.array([0.1, 0.9]), np.array([0, 1])),
            test=Period(np.array([0.2, 0.8]), np.array([0, 1])),
            beta=beta,
        )
        assert summary_columns(list(row)) == [*head, *extra, "pr_auc"]
