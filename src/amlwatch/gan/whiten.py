"""Whitening of the reconstruction residual: a Ledoit-Wolf covariance, inverted by eigenvectors.

The score's reconstruction term can be a Mahalanobis distance of the
residual ``r = (x - G(E(x))) / res_scale`` from its held-out mean:
``||(r - m) W||_2`` with ``W W^T = C^-1``. The per-column scaling alone is
the diagonal case; window counts over nested horizons leave *correlated*
residuals, and a row whose residuals break that correlation is the unusual
one. C is shrunk towards a multiple of the identity with the Ledoit-Wolf
(2004) weight, which needs no tuning (nothing chosen on labels) and keeps C
invertible when columns are linearly tied (each one-hot block's residual
sums to zero).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ledoit_wolf", "whitener"]

# Eigenvalues below this share of the largest are rounding; they are lifted to it.
_MIN_REL_EIG = 1e-9


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, Ledoit-Wolf shrunk covariance and the shrinkage weight of rows `x` (n, p).

    The estimator of Ledoit & Wolf (2004), as scikit-learn's ``LedoitWolf``
    computes it (maximum-likelihood covariance, target ``mu I`` with mu its
    mean eigenvalue).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"ledoit_wolf needs a 2-d array of >= 2 rows, got shape {x.shape}")
    n, p = x.shape
    mean = x.mean(axis=0)
    xc = x - mean
    emp = xc.T @ xc / n
    mu = float(np.trace(emp)) / p
    x2 = xc**2
    # beta: the estimated variance of the sample covariance's entries; delta: its
    # squared distance from the target. Shrinkage = beta / delta, capped at 1.
    beta_ = float(np.sum(x2.T @ x2))
    delta_ = float(np.sum(emp**2))
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * float(np.trace(emp)) + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta <= 0.0 or delta <= 0.0 else beta / delta
    cov = (1.0 - shrinkage) * emp
    cov.flat[:: p + 1] += shrinkage * mu
    return mean, cov, shrinkage


def whitener(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean m and matrix W of rows `x` such that ``||(v - m) W||^2`` is v's Mahalanobis distance².

    The covariance is `ledoit_wolf`'s; ``W = V diag(e^-1/2)`` from its
    eigendecomposition ``C = V diag(e) V^T`` (so ``W W^T = C^-1``).
    """
    mean, cov, _ = ledoit_wolf(x)
    eig, vec = np.linalg.eigh(cov)
    floor = _MIN_REL_EIG * max(float(eig.max()), 1e-300)
    return mean, vec / np.sqrt(np.maximum(eig, floor))
