"""A planted mixture: normal rows on a curved 2-d manifold in clusters, rare rows off it."""

from __future__ import annotations

import numpy as np
import polars as pl

NUMERIC = tuple(f"f{j}" for j in range(8))
CATEGORICAL = ("kind",)


def planted(
    n: int, *, anomaly_rate: float, seed: int, world_seed: int = 7
) -> tuple[pl.DataFrame, np.ndarray]:
    """Rows and labels (True = planted anomaly).

    Normal rows: a cluster id k in {0, 1, 2}, a 2-d code u around cluster k's
    centre, x = A u + B u^2 + small noise, and the category "k<k>" (5 % flipped).
    Anomalies: every numeric column drawn independently from a Gaussian with
    the normal rows' own mean and SD (so each column alone, and the row norm,
    look ordinary: only the joint structure is off), with a random category.
    The manifold (A, B, centres) is fixed by `world_seed`; `seed` draws rows.
    """
    world = np.random.default_rng(world_seed)
    a = world.normal(size=(8, 2))
    b = world.normal(size=(8, 2)) * 0.5
    centres = np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]])
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, size=n)
    u = centres[k] + rng.normal(scale=0.5, size=(n, 2))
    x = u @ a.T + (u**2) @ b.T + rng.normal(scale=0.05, size=(n, 8))
    kind = np.where(rng.random(n) < 0.05, rng.integers(0, 3, size=n), k)
    is_anom = rng.random(n) < anomaly_rate
    m = int(is_anom.sum())
    x[is_anom] = rng.normal(size=(m, 8)) * x[~is_anom].std(0) + x[~is_anom].mean(0)
    kind[is_anom] = rng.integers(0, 3, size=m)
    frame = pl.DataFrame({name: x[:, j] for j, name in enumerate(NUMERIC)}).with_columns(
        pl.Series("kind", [f"k{v}" for v in kind])
    )
    return frame, is_anom
