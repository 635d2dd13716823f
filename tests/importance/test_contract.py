"""Every evaluator honours the same contract (as optuna's importance evaluators share one test)."""

from __future__ import annotations

import polars as pl
import pytest

from basketcast.importance import (
    BaseImportanceEvaluator,
    GainImportanceEvaluator,
    LofoImportanceEvaluator,
    RunArtifacts,
    ShapImportanceEvaluator,
    get_importances,
    mean_gain,
    read_importances,
    write_importance,
)
from basketcast.importance._base import TABLE_COLUMNS
from basketcast.importance._lofo import plan

EVALUATORS = {
    "gain": GainImportanceEvaluator,
    "shap": lambda: ShapImportanceEvaluator(rows=1000),
    # One fold on half the users: the contract, not the answer (test_known_answer has that).
    "lofo": lambda: LofoImportanceEvaluator(folds=[0], user_share=0.5, threads=1),
}


@pytest.fixture(scope="module", params=sorted(EVALUATORS))
def evaluator(request) -> BaseImportanceEvaluator:
    return EVALUATORS[request.param]()


@pytest.mark.parametrize("by", ["feature", "family"])
def test_one_sorted_row_per_feature_or_family(
    planted: RunArtifacts, evaluator: BaseImportanceEvaluator, by: str
) -> None:
    result = get_importances(planted, evaluator=evaluator, by=by)  # type: ignore[arg-type]
    table = result.table
    assert result.method == evaluator.method and result.by == by
    assert tuple(table.columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    expected = planted.feature_names if by == "feature" else list(planted.families)
    assert sorted(table.get_column("name")) == sorted(expected)
    values = table.get_column("importance").to_list()
    assert values == sorted(values, reverse=True)
    assert table.get_column("importance").null_count() == 0
    assert result.settings and result.notes and result.meaning
    intervals = table.filter(pl.col("low").is_not_null())
    assert (intervals["low"] <= intervals["importance"]).all()
    assert (intervals["importance"] <= intervals["high"]).all()


def test_files_round_trip(planted: RunArtifacts, evaluator: BaseImportanceEvaluator, tmp_path):
    result = get_importances(planted, evaluator=evaluator)
    # A temp file that a killed writer left (its PID, beyond pid_max, is not alive) is swept.
    (tmp_path / ".importance-gain.json.99999999.abc123.tmp").write_text("{")
    written = write_importance(result, tmp_path, run_id="abc")
    assert all(p.exists() for p in written)
    assert {p.name for p in written} >= {
        f"importance-{result.method}.parquet",
        f"importance-{result.method}.json",
        f"importance-{result.method}.png",
    }
    (saved,) = read_importances(tmp_path)
    assert saved.method == result.method and saved.info["run_id"] == "abc"
    assert saved.table.equals(result.table)
    assert [p.read_bytes()[:8] for p in saved.figures] == [b"\x89PNG\r\n\x1a\n"] * len(
        saved.figures
    )
    assert not list(tmp_path.glob(".*.tmp"))


def test_gain_is_the_runs_own_mean_over_folds(planted: RunArtifacts) -> None:
    features = get_importances(planted, evaluator=GainImportanceEvaluator()).table
    expected = mean_gain(planted.gain)
    joined = features.join(expected, left_on="name", right_on="feature")
    assert joined.height == len(planted.feature_names)
    assert (joined["importance"] - joined["gain"]).abs().max() < 1e-9
    families = get_importances(planted, evaluator=GainImportanceEvaluator(), by="family").table
    noise = families.filter(pl.col("name") == "noise").get_column("importance").item()
    in_noise = features.filter(pl.col("name").is_in(planted.families["noise"]))
    assert noise == pytest.approx(in_noise.get_column("importance").sum())


def test_lofo_rejects_unknown_names_and_folds(planted: RunArtifacts) -> None:
    with pytest.raises(ValueError, match="neither a feature nor a family"):
        get_importances(planted, evaluator=LofoImportanceEvaluator(together=[("driver", "nope")]))
    with pytest.raises(ValueError, match="do not exist"):
        get_importances(planted, evaluator=LofoImportanceEvaluator(folds=[7]))
    with pytest.raises(ValueError, match="user_share"):
        LofoImportanceEvaluator(user_share=0)


@pytest.mark.parametrize(
    ("models", "trained", "folds", "share", "budget", "expected"),
    [
        # 6 models on a 3-fold run within 3x: one fold (2x), every user.
        (6, (0, 1, 2), (), None, 3.0, ((0,), 1.0, 2.0)),
        # 6 models on a 5-fold run: two folds (2.4x).
        (6, (0, 1, 2, 3, 4), (), None, 3.0, ((0, 1), 1.0, 2.4)),
        # 30 models, 3 folds: one fold is already 10x, so a share of the users (0.3 -> 3x).
        (30, (0, 1, 2), (), None, 3.0, ((0,), 0.3, 3.0)),
        # No bound; or the caller's own choice wins.
        (6, (0, 1, 2), (), None, 0.0, ((0, 1, 2), 1.0, 6.0)),
        (6, (0, 1, 2), (2,), 0.5, 3.0, ((2,), 0.5, 1.0)),
    ],
)
def test_lofo_cost_plan(models, trained, folds, share, budget, expected) -> None:
    chosen, user_share, cost = plan(
        models=models, trained=trained, folds=folds, user_share=share, budget=budget
    )
    assert chosen == expected[0]
    assert user_share == pytest.approx(expected[1])
    assert cost == pytest.approx(expected[2])
