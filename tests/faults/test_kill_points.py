"""SIGKILL at named points of a run, each followed by a re-run.

Every case starts from a folder holding a complete run with configuration A,
then runs configuration B (new features, new models, new outputs) and kills
it at one point. After the kill the folder must hold A's complete outputs
(or, once the publishing rename is done, B's), never a mix; the re-run must
succeed and give a submission byte-identical to an uninterrupted B run's.
"""

from __future__ import annotations

import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults._runner import cli, leftovers, output_state

POINTS = [
    "lock:held",
    "write:config.toml",
    "cache:features:files",
    "stage:features",
    "write:item_fold0.ubj",
    "write:item_fold1.ubj",
    "cache:item:files",
    "stage:item model",
    "write:none_fold2.ubj",
    "cache:none:files",
    "write:oof.parquet",
    "write:submission.csv",
    "stage:baskets",
    "stage:evaluate",
    "write:report.html",
    "stage:report",
    "write:metrics.json",
    "publish:manifest",
    "publish:links",
    "publish:swapped",
]


@dataclass(frozen=True)
class Case:
    kill_code: int  # -9: SIGKILL
    kill_relayed: int  # what the fork server said
    kill_log: str
    after_kill: tuple[str, str | None] | str
    a_submission_intact: bool
    rerun_code: int
    rerun_log: str
    after_rerun: tuple[str, str | None] | str
    same_submission: bool
    leftovers: list[str]


def _state(folder: Path) -> tuple[str, str | None] | str:
    try:
        return output_state(folder)
    except AssertionError as exc:
        return f"mix: {exc}"


@pytest.fixture(scope="module")
def reference(fault_root: Path, data: Path, configs: dict[str, Path]) -> bytes:
    """The submission of an uninterrupted B run."""
    out = fault_root / "reference_b"
    done = cli(["run", str(data), "--out", str(out), "--config", str(configs["B"])],
               log=fault_root / "reference_b.log")  # fmt: skip
    assert done.code == 0, done.log
    return (out / "submission.csv").read_bytes()


@pytest.fixture(scope="module")
def cases(
    fault_root: Path, data: Path, configs: dict[str, Path], run_a: Path, reference: bytes
) -> dict[str, Case]:
    """Every kill point's case, two at a time (the children are separate processes)."""
    a_submission = (run_a / "submission.csv").read_bytes()

    def one(index: int, point: str) -> tuple[str, Case]:
        folder = fault_root / f"kill{index:02d}"
        shutil.copytree(run_a, folder, symlinks=True)
        args = ["run", str(data), "--out", str(folder), "--config", str(configs["B"])]
        kill = cli(args, log=fault_root / f"kill{index:02d}.log", fault=f"kill@{point}")
        after_kill = _state(folder)
        intact = (folder / "submission.csv").exists() and (
            folder / "submission.csv"
        ).read_bytes() == a_submission
        rerun = cli(args, log=fault_root / f"rerun{index:02d}.log")
        after_rerun = _state(folder)
        same = (folder / "submission.csv").exists() and (
            folder / "submission.csv"
        ).read_bytes() == reference
        return point, Case(kill.code, kill.relayed, kill.log, after_kill, intact, rerun.code, rerun.log,
                           after_rerun, same, leftovers(folder))  # fmt: skip

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(lambda item: one(*item), enumerate(POINTS)))


def test_there_are_at_least_20_points_across_the_stages() -> None:
    stages = {p.split(":")[1] for p in POINTS if p.startswith("stage:")}
    assert len(set(POINTS)) >= 20
    assert stages >= {"features", "item model", "baskets", "evaluate", "report"}


@pytest.mark.parametrize("point", POINTS)
def test_kill_then_rerun(cases: dict[str, Case], run_a: Path, point: str) -> None:
    case = cases[point]
    a_id = output_state(run_a)[1]
    assert case.kill_code == -signal.SIGKILL, (
        f"the run was not killed at {point} (exit code {case.kill_code}, relayed "
        f"{case.kill_relayed}):\n{case.kill_log}"
    )
    if point == "publish:swapped":  # killed after the publishing rename: the new run is complete
        assert isinstance(case.after_kill, tuple) and case.after_kill[0] == "complete"
        assert case.after_kill[1] != a_id
    else:
        assert case.after_kill == ("complete", a_id), case.after_kill
        assert case.a_submission_intact
    assert case.rerun_code == 0, case.rerun_log
    assert isinstance(case.after_rerun, tuple) and case.after_rerun[0] == "complete"
    assert case.after_rerun[1] not in (a_id, None)
    assert case.same_submission, "the re-run's submission differs from an uninterrupted run's"
    assert case.leftovers == [], f"left behind: {case.leftovers}"
