"""Choosing the score weight: PR-AUC (plain, weighted), its bootstrap SE, the two rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from amlwatch.gan.config import GANConfig
from amlwatch.gan.weight import (
    WeightRule,
    average_precision,
    bootstrap_se,
    choose_weight,
    weighted_average_precision,
)


def test_average_precision_known_answer() -> None:
    # Ranked 1, 0, 1, 0: precision 1 at the first hit, 2/3 at the second.
    assert average_precision(np.array([1, 0, 1, 0]), np.array([4.0, 3, 2, 1])) == pytest.approx(
        (1 + 2 / 3) / 2
    )
    # A tie of one positive and one negative is one threshold: precision 1/2 there.
    assert average_precision(np.array([0, 1]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.zeros(3), np.arange(3.0)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 3)), min_size=1, max_size=40
    )
)
def test_weighted_pr_auc_is_that_of_repeated_rows(rows: list[tuple[bool, int, int]]) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([float(r[1]) for r in rows])  # few values: many ties
    c = np.array([r[2] for r in rows])
    rep_y, rep_s = np.repeat(y, c), np.repeat(s, c)
    got = weighted_average_precision(y, s, c)
    if not rep_y.any():
        assert np.isnan(got)
        return
    assert got == pytest.approx(average_precision(rep_y, rep_s), abs=1e-12)
    assert got == pytest.approx(average_precision_score(rep_y, rep_s), abs=1e-12)


def test_bootstrap_se_zero_for_a_perfect_ranking_and_shrinks_with_rows() -> None:
    y = np.r_[np.ones(20), np.zeros(2000)].astype(bool)
    perfect = np.r_[np.linspace(10, 11, 20), np.linspace(0, 1, 2000)]
    assert bootstrap_se(y, perfect, n_boot=50, seed=0) == pytest.approx(0.0, abs=1e-12)

    rng = np.random.default_rng(0)

    def noisy(n_pos: int) -> float:
        y = np.r_[np.ones(n_pos), np.zeros(100 * n_pos)].astype(bool)
        s = rng.normal(size=y.size) + 1.5 * y
        return bootstrap_se(y, s, n_boot=300, seed=1)

    small, large = noisy(25), noisy(400)
    # The SE of a mean-like statistic falls as 1/sqrt(n): 16x the rows, about 1/4.
    assert 2.5 < small / large < 6.5, (small, large)
    # Seeded: the same resamples for the same seed, others for another.
    s = rng.normal(size=y.size) + y
    a, b, c = (bootstrap_se(y, s, n_boot=50, seed=k) for k in (3, 3, 4))
    assert a == b != c


def _terms(seed: int, *, feat_signal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(30), np.zeros(6000)].astype(bool)
    rec = rng.normal(size=y.size) + 2.0 * y
    feat = rng.normal(size=y.size) + feat_signal * y
    return rec, feat, y


def test_best_rule_maximises_validation_pr_auc() -> None:
    rec, feat, y = _terms(0, feat_signal=2.0)
    choice = choose_weight(rec, feat, y, rule="best")
    grid = np.linspace(0, 1, 21)
    aps = [average_precision(y, w * rec + (1 - w) * feat) for w in grid]
    assert choice.best_pr_auc == pytest.approx(max(aps))
    assert choice.weight == choice.best_weight and choice.pr_auc == choice.best_pr_auc


@pytest.mark.parametrize("seed", range(4))
def test_one_se_rule_is_the_largest_weight_within_one_se(seed: int) -> None:
    rec, feat, y = _terms(seed, feat_signal=2.0)
    best = choose_weight(rec, feat, y, rule="best")
    one = choose_weight(rec, feat, y, rule=WeightRule.ONE_SE, n_boot=100, seed=seed)
    grid = np.linspace(0, 1, 21)
    aps = np.array([average_precision(y, w * rec + (1 - w) * feat) for w in grid])
    se = bootstrap_se(y, best.weight * rec + (1 - best.weight) * feat, n_boot=100, seed=seed)
    assert one.se == pytest.approx(se)
    assert one.weight == grid[np.flatnonzero(aps >= aps.max() - se - 1e-12).max()]
    assert one.weight >= best.weight and one.best_weight == best.weight


def test_one_se_rule_keeps_a_clearly_needed_feature_term() -> None:
    # The feature term separates almost perfectly, the reconstruction term is noise:
    # the mix's gain is far outside one SE, so the weight stays near 0.
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(40), np.zeros(4000)].astype(bool)
    rec = rng.normal(size=y.size)
    feat = rng.normal(size=y.size) + 6.0 * y
    one = choose_weight(rec, feat, y, rule="one_se", n_boot=100)
    assert one.weight <= 0.3
    assert one.pr_auc > 0.8


def test_one_se_rule_drops_a_noise_gain_for_the_stable_term() -> None:
    # Equal, independent signals: the best mix beats the reconstruction term alone
    # on this sample, but with 30 positives the gain sits inside one SE.
    rec, feat, y = _terms(11, feat_signal=0.3)
    best = choose_weight(rec, feat, y, rule="best")
    one = choose_weight(rec, feat, y, rule="one_se", n_boot=100)
    assert best.weight < 1.0 and best.best_pr_auc > average_precision(y, rec)
    assert one.weight == 1.0


def test_bad_input_and_config() -> None:
    with pytest.raises(ValueError, match="positive"):
        choose_weight(np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="differ"):
        choose_weight(np.zeros(3), np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match="weight_rule"):
        GANConfig(weight_rule="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight_boot"):
        GANConfig(weight_boot=1)
    cfg = GANConfig(weight_rule="one_se")  # type: ignore[arg-type]
    assert cfg.weight_rule is WeightRule.ONE_SE
    assert GANConfig.from_dict(cfg.to_dict()) == cfg
