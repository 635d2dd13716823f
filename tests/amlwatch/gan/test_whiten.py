"""Residual whitening: Ledoit-Wolf as scikit-learn computes it, and the score's Mahalanobis term."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amlwatch.gan import GANConfig, GANDetector
from amlwatch.gan.detector import _residual, _to_x
from amlwatch.gan.whiten import ledoit_wolf, whitener

from ._planted import CATEGORICAL, NUMERIC, planted


def _correlated(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(5, 5))
    return rng.standard_t(5, size=(n, 5)) @ mix + np.array([3.0, -1.0, 0.0, 2.0, 10.0])


@pytest.mark.parametrize(("n", "seed"), [(40, 0), (500, 1), (3, 2)])
def test_ledoit_wolf_equals_scikit_learn(n: int, seed: int) -> None:
    covariance = pytest.importorskip("sklearn.covariance")
    x = _correlated(n, seed)
    mean, cov, shrinkage = ledoit_wolf(x)
    ref = covariance.LedoitWolf().fit(x)
    np.testing.assert_allclose(mean, ref.location_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov, ref.covariance_, rtol=1e-10, atol=1e-12)
    assert shrinkage == pytest.approx(ref.shrinkage_, rel=1e-10, abs=1e-12)


def test_whitener_gives_the_mahalanobis_distance() -> None:
    x = _correlated(300, 3)
    mean, w = whitener(x)
    _, cov, _ = ledoit_wolf(x)
    v = _correlated(20, 4)
    brute = np.einsum("ij,jk,ik->i", v - mean, np.linalg.inv(cov), v - mean)
    np.testing.assert_allclose(np.sum(((v - mean) @ w) ** 2, axis=1), brute, rtol=1e-9)
    # Whitened training rows have the identity as covariance, up to the shrinkage.
    white = (x - mean) @ w
    assert np.abs(white.mean(0)).max() < 1e-9


def test_tied_columns_stay_invertible_and_breaking_the_tie_scores_high() -> None:
    # Column 1 equals column 0 up to tiny noise: singular without shrinkage. A row
    # with each column ordinary but the tie broken is far in Mahalanobis distance.
    rng = np.random.default_rng(5)
    a = rng.normal(size=2000)
    x = np.c_[a, a + rng.normal(scale=0.01, size=a.size), rng.normal(size=a.size)]
    mean, w = whitener(x)
    assert np.isfinite(w).all()
    d = np.linalg.norm((np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]) - mean) @ w, axis=1)
    assert d[1] > 10 * d[0]


def test_rejects_fewer_than_two_rows() -> None:
    with pytest.raises(ValueError, match="2-d array of >= 2 rows"):
        ledoit_wolf(np.zeros((1, 3)))


@pytest.fixture(scope="module")
def pair() -> tuple[GANDetector, GANDetector]:
    """The same networks (same seed and data) scored without and with whitening."""
    train, _ = planted(1500, anomaly_rate=0.01, seed=31)
    out = []
    for whiten in (False, True):
        cfg = GANConfig(max_epochs=2, batch_size=256, hidden=16, seed=3, rec_whiten=whiten)
        det = GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=cfg)
        out.append(det.fit(train))
    return out[0], out[1]


def test_without_whitening_rec_is_the_per_column_scaled_norm(
    pair: tuple[GANDetector, GANDetector],
) -> None:
    plain, _ = pair
    graph, prep = plain.graph_, plain.prep_
    assert graph is not None and prep is not None
    torch.testing.assert_close(graph.res_mean, torch.zeros_like(graph.res_mean))
    torch.testing.assert_close(graph.res_whiten, torch.eye(graph.res_whiten.shape[0]))
    test, _ = planted(500, anomaly_rate=0.05, seed=32)
    x = _to_x(graph.inputs, *prep.transform(test))
    brute = (_residual(graph, x) / graph.res_scale).double().norm(dim=1).numpy()
    np.testing.assert_allclose(plain.components(test)[0], brute, rtol=1e-5)
    # Weight 1 scores the reconstruction term alone (over its held-out median).
    plain.set_weight(1.0)
    np.testing.assert_allclose(
        plain.decision_function(test), brute / float(graph.rec_scale), rtol=1e-5
    )


def test_whitened_rec_is_the_held_out_mahalanobis_distance(
    pair: tuple[GANDetector, GANDetector],
) -> None:
    plain, white = pair
    g0, g1, prep = plain.graph_, white.graph_, white.prep_
    assert g0 is not None and g1 is not None and prep is not None
    # Whitening happens after training: the networks are the same.
    for (k, a), b in zip(g0.state_dict().items(), g1.state_dict().values(), strict=True):
        if not k.startswith("res_") and k not in ("weight", "rec_scale", "feat_scale"):
            torch.testing.assert_close(a, b, msg=k)
    train, _ = planted(1500, anomaly_rate=0.01, seed=31)
    x = _to_x(g1.inputs, *prep.transform(train))
    held_out = x[-round(1500 * white.config.val_fraction) :]
    r_ho = (_residual(g1, held_out) / g1.res_scale).double().numpy()
    _, cov, _ = ledoit_wolf(r_ho)
    test, _ = planted(500, anomaly_rate=0.05, seed=32)
    xt = _to_x(g1.inputs, *prep.transform(test))
    r = (_residual(g1, xt) / g1.res_scale).double().numpy() - r_ho.mean(0)
    brute = np.sqrt(np.einsum("ij,jk,ik->i", r, np.linalg.inv(cov), r))
    np.testing.assert_allclose(white.components(test)[0], brute, rtol=1e-3)
    # The feature term does not change.
    np.testing.assert_allclose(white.components(test)[1], plain.components(test)[1], rtol=1e-6)
