"""Shared fixtures: one small synthetic world (cheap) for end-to-end and detector tests."""

from __future__ import annotations

import os

for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from amlwatch.data.ledger import Ledger  # noqa: E402
from amlwatch.features import build_features  # noqa: E402
from amlwatch.synth import SynthConfig, World, generate, to_ledger  # noqa: E402

SMALL = SynthConfig(n_transactions=8_000, days=60, laundering_rate=0.01, n_banks=8, seed=3)


@pytest.fixture(scope="session")
def small_world() -> World:
    return generate(SMALL)


@pytest.fixture(scope="session")
def small_ledger(small_world: World) -> Ledger:
    return to_ledger(small_world)


@pytest.fixture(scope="session")
def small_features(small_ledger: Ledger) -> pl.DataFrame:
    return build_features(small_ledger)
