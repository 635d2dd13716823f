"""Shared fixtures of the fault suite: a tiny synthetic data set, run configurations, a finished run."""

from __future__ import annotations

from pathlib import Path

import pytest

from basketcast.data.sources.synthetic import synthetic, write_synthetic
from tests.faults._runner import CHILD_CPU_SECONDS, FAST_A, FAST_B, cli


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CHILD_CPU_SECONDS:
        terminalreporter.write_line(
            f"fault suite: {len(CHILD_CPU_SECONDS)} child runs, "
            f"{sum(CHILD_CPU_SECONDS):.1f} CPU seconds in them"
        )


@pytest.fixture(scope="package")
def fault_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="package")
def data(fault_root: Path) -> Path:
    """60 synthetic users (Parquet): a run takes a few CPU seconds."""
    folder = fault_root / "data"
    write_synthetic(synthetic(60, seed=1), folder, format="parquet")
    return folder


@pytest.fixture(scope="package")
def configs(fault_root: Path) -> dict[str, Path]:
    paths = {"A": fault_root / "a.toml", "B": fault_root / "b.toml"}
    paths["A"].write_text(FAST_A)
    paths["B"].write_text(FAST_B)
    return paths


@pytest.fixture(scope="package")
def run_a(fault_root: Path, data: Path, configs: dict[str, Path]) -> Path:
    """A finished run with configuration A: the "previous complete outputs" of the kill cases."""
    out = fault_root / "run_a"
    done = cli(["run", str(data), "--out", str(out), "--config", str(configs["A"])],
               log=fault_root / "run_a.log")  # fmt: skip
    assert done.code == 0, done.log
    return out
