"""Session fixtures: one planted frame and one cross-validated run, reused by many tests."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.model import CVResult, train_cv
from tests.model._synth import fast_config, planted_frame


@pytest.fixture(scope="session")
def item_frame() -> tuple[pl.DataFrame, np.ndarray]:
    # 3,000 users x 2 orders x 10 candidates = 60,000 rows.
    return planted_frame(users=3000, rows_per_order=10, seed=1)


@pytest.fixture(scope="session")
def item_result(item_frame: tuple[pl.DataFrame, np.ndarray]) -> CVResult:
    return train_cv(item_frame[0], config=fast_config(), threads=1)
