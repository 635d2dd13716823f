"""The Kaggle metric, submission/truth files, truth from history, baselines and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.data.dataset import DataError, Dataset
from basketcast.evaluate import (
    DEFAULT_THRESHOLDS,
    baseline_frequency,
    baseline_frequency_f1,
    baseline_last_basket,
    baseline_none,
    mean_f1,
    per_order_f1,
    purchase_shares,
    read_submission,
    read_truth,
    truth_from_dataset,
    tune_frequency_threshold,
)
from basketcast.evaluate.baselines import _frequency_scores
from basketcast.evaluate.metric import _per_order_f1


def _frame(rows: dict[int, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": list(rows), "products": list(rows.values())},
        schema={"order_id": pl.Int64, "products": pl.String},
    )


# --- the metric ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "true", "f1"),
    [
        ("None", "None", 1.0),
        ("1 None", "None", 2 / 3),  # precision 1/2, recall 1
        ("1 2 None", "None", 0.5),  # 2 / (k + 2) with k = 2
        ("1 2", "None", 0.0),
        ("None", "1", 0.0),
        ("1 2", "1", 2 / 3),
        ("2 1", "1 2", 1.0),
        ("1 1 2", "1 2", 1.0),  # token sets: repeats count once
        ("007 None", "7 8", 0.5),  # integer tokens compare as integers
    ],
)
def test_known_scores(predicted: str, true: str, f1: float) -> None:
    score = per_order_f1(_frame({1: predicted}), _frame({1: true}))
    assert score["f1"].to_list() == [pytest.approx(f1)]


def _kaggle_f1(predicted: set[str], true: set[str]) -> float:
    tp = len(predicted & true)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(predicted), tp / len(true)
    return 2 * precision * recall / (precision + recall)


_tokens = st.sets(st.sampled_from(["1", "2", "3", "4", "5", "None"]), min_size=1)
_truth_tokens = st.one_of(
    st.just({"None"}), st.sets(st.sampled_from(["1", "2", "3", "4", "5"]), min_size=1)
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_tokens, _truth_tokens), min_size=1, max_size=20))
def test_matches_precision_recall_definition(rows: list[tuple[set[str], set[str]]]) -> None:
    sub = _frame({i: " ".join(sorted(p)) for i, (p, _) in enumerate(rows)})
    truth = _frame({i: " ".join(sorted(t)) for i, (_, t) in enumerate(rows)})
    expected = [_kaggle_f1(p, t) for p, t in rows]
    assert per_order_f1(sub, truth)["f1"].to_list() == pytest.approx(expected)
    assert mean_f1(sub, truth) == pytest.approx(sum(expected) / len(expected))


def test_mean_over_truth_orders() -> None:
    truth = _frame({1: "1", 2: "None", 3: "4 5"})
    sub = _frame({3: "4", 1: "1", 2: "1 None"})
    assert mean_f1(sub, truth) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_order_sets_must_match() -> None:
    truth = _frame({1: "1", 2: "None"})
    with pytest.raises(DataError, match="without a prediction"):
        mean_f1(_frame({1: "1"}), truth)
    extra = _frame({1: "1", 2: "None", 3: "None"})
    with pytest.raises(DataError, match="not in truth"):
        mean_f1(extra, truth)
    # per_order_f1 scores the truth's orders and, unless strict, ignores the rest
    assert per_order_f1(extra, truth)["f1"].to_list() == [1.0, 1.0]
    with pytest.raises(DataError, match="without a prediction"):
        per_order_f1(_frame({1: "1"}), truth)


def test_internal_scoring_skips_token_checks_but_not_order_checks() -> None:
    truth = _frame({1: "1 2", 2: "None", 3: "4"})
    sub = _frame({3: "4 None", 1: "2", 2: "None"})
    assert _per_order_f1(sub, truth).equals(per_order_f1(sub, truth))
    with pytest.raises(DataError, match="without a prediction"):
        _per_order_f1(_frame({1: "1"}), truth)
    with pytest.raises(DataError, match="unknown token"):
        per_order_f1(_frame({1: "x", 2: "None", 3: "4"}), truth)


# --- files --------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_valid_files(tmp_path: Path) -> None:
    sub = read_submission(_write(tmp_path, "s.csv", "order_id,products\n2,None\n1, 3 4 None\n"))
    assert sub.schema == pl.Schema({"order_id": pl.Int64, "products": pl.String})
    assert sub.rows() == [(2, "None"), (1, "3 4 None")]
    truth = read_truth(_write(tmp_path, "t.csv", "order_id,products\n1,3\n2,None\n"))
    assert mean_f1(sub, truth) == pytest.approx((0.5 + 1) / 2)  # {3, 4, None} vs {3}: 2/4


def test_reports_every_problem_with_file_column_count_examples(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "truth.csv",
        "order_id,products\n1,1 2\nx,3\n1,4\n5,\n6,4 abc\n7,None 8\n8,9 zz\n",
    )
    with pytest.raises(DataError) as info:
        read_truth(path)
    problems = {p.message.split(" (")[0]: p for p in info.value.problems}
    assert all(p.file == str(path) for p in problems.values())
    assert problems["not an integer order id"].examples == ("line 3 (order x)",)
    assert problems["duplicate order id"].count == 2
    assert problems["empty"].column == "products"
    unknown = problems["unknown token"]
    assert unknown.count == 2 and unknown.examples[0] == "line 6 (order 6): 'abc'"
    assert problems["None mixed with products in the truth"].count == 1


def test_submission_may_mix_none(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.csv", "order_id,products\n7,None 8\n")
    assert read_submission(path).rows() == [(7, "None 8")]


@pytest.mark.parametrize("text", ["", "order,products\n1,2\n", "order_id,items\n1,2\n"])
def test_rejects_unreadable_or_wrong_columns(tmp_path: Path, text: str) -> None:
    with pytest.raises(DataError):
        read_submission(_write(tmp_path, "s.csv", text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_truth(tmp_path / "nope.csv")


def test_cli(tmp_path: Path) -> None:
    sub = _write(tmp_path, "s.csv", "order_id,products\n1,1 None\n2,None\n")
    truth = _write(tmp_path, "t.csv", "order_id,products\n1,1\n2,None\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["evaluate", str(sub), str(truth)])
    assert ok.exit_code == 0, ok.output
    assert "mean F1 0.833333 over 2 orders" in ok.output
    bad = _write(tmp_path, "b.csv", "order_id,products\n1,1 x\n")
    assert runner.invoke(app, ["evaluate", str(bad), str(truth)]).exit_code == 2
    short = _write(tmp_path, "short.csv", "order_id,products\n1,1\n")
    assert runner.invoke(app, ["evaluate", str(short), str(truth)]).exit_code == 2


# --- truth and baselines from a Dataset -----------------------------------------------------


def _rows(frame: pl.DataFrame) -> dict[int, str]:
    assert frame.columns == ["order_id", "products"]
    assert frame["order_id"].is_sorted()
    return dict(frame.rows())


def test_truth_from_history(dataset: Dataset) -> None:
    assert _rows(truth_from_dataset(dataset)) == {14: "1 4", 22: "None", 42: "None"}


def test_baseline_none(dataset: Dataset) -> None:
    assert _rows(baseline_none(dataset)) == {14: "None", 22: "None", 33: "None", 42: "None"}
    assert _rows(baseline_none(dataset, eval_set="test")) == {33: "None"}
    with pytest.raises(ValueError, match="eval_set"):
        baseline_none(dataset, eval_set="prior")


def test_baseline_last_basket(dataset: Dataset) -> None:
    assert _rows(baseline_last_basket(dataset)) == {14: "1 2 4", 22: "6", 33: "8", 42: "None"}


def test_baseline_frequency(dataset: Dataset) -> None:
    # user 1 shares: 1 -> 3/3, 2 -> 2/3, 3 -> 1/3, 4 -> 1/3; user 3: 8 -> 1, 9 -> 1/2
    assert _rows(baseline_frequency(dataset, 0.5)) == {14: "1 2", 22: "6", 33: "8 9", 42: "None"}
    assert _rows(baseline_frequency(dataset, 0.3, eval_set="train"))[14] == "1 2 3 4"
    assert _rows(baseline_frequency(dataset, 0.9))[33] == "8"
    with pytest.raises(ValueError, match="threshold"):
        baseline_frequency(dataset, 1.5)


def test_tune_frequency_threshold(dataset: Dataset) -> None:
    truth = truth_from_dataset(dataset)
    # 0.5: "1 2" (1/2), "6" (0), None (1) -> 0.5; 0.9: "1" (2/3), "6", None -> 0.556
    assert tune_frequency_threshold(dataset, truth, grid=(0.5, 0.9)) == 0.9
    assert 0.0 < tune_frequency_threshold(dataset, truth) <= 1.0


def test_baseline_frequency_f1(dataset: Dataset) -> None:
    out = _rows(baseline_frequency_f1(dataset))
    assert set(out) == {14, 22, 33, 42}
    assert out[42] == "None"  # no history: no candidates
    assert out[22] == "6"  # a product bought in every prior order (p = 1)
    assert out[14].split()[0] == "1"
    score = mean_f1(baseline_frequency_f1(dataset, eval_set="train"), truth_from_dataset(dataset))
    assert 0.0 <= score <= 1.0


# --- the one-pass threshold search against its definition -----------------------------------


def _scores_one_by_one(
    dataset: Dataset, truth: pl.DataFrame, grid: tuple[float, ...]
) -> list[float]:
    """The definition: build each threshold's baskets and score them with mean_f1."""
    return [
        mean_f1(baseline_frequency(dataset, t, eval_set="train"), truth, strict=False) for t in grid
    ]


def _messy(truth: pl.DataFrame) -> pl.DataFrame:
    """Every other order, product ids written with leading zeros and padded."""
    return truth.gather_every(2).with_columns(
        pl.format(" {} ", pl.col("products").str.replace_all(r"(\d+)", "00$1"))
    )


@pytest.mark.parametrize(
    "grid",
    [
        DEFAULT_THRESHOLDS,
        (0.5, 0.2, 0.5, 1.0, 0.0),  # unsorted, repeated (ties go to the first), both ends
        (0.31, 0.32, 0.33),  # likely no share in between: exact ties
        (0.7,),
    ],
)
@pytest.mark.parametrize("messy", [False, True])
def test_threshold_search_matches_scoring_each_threshold(
    synthetic_dataset: Dataset, grid: tuple[float, ...], messy: bool
) -> None:
    truth = truth_from_dataset(synthetic_dataset)
    if messy:
        truth = _messy(truth)
    expected = _scores_one_by_one(synthetic_dataset, truth, grid)
    got = _frequency_scores(synthetic_dataset, truth, grid)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    best = float(grid[int(np.argmax(expected))])
    assert tune_frequency_threshold(synthetic_dataset, truth, grid=grid) == best
    shares = purchase_shares(synthetic_dataset)
    assert tune_frequency_threshold(synthetic_dataset, truth, grid=grid, shares=shares) == best


def test_threshold_search_rejects_what_mean_f1_rejects(dataset: Dataset) -> None:
    truth = truth_from_dataset(dataset)
    with pytest.raises(DataError, match="without a prediction"):  # 33 is a test order
        tune_frequency_threshold(dataset, pl.concat([truth, _frame({33: "8"})]))
    with pytest.raises(DataError, match="unknown token"):
        tune_frequency_threshold(dataset, _frame({14: "1 x"}))
    with pytest.raises(ValueError, match="empty"):
        tune_frequency_threshold(dataset, truth, grid=())


def test_precomputed_shares_give_the_same_baselines(synthetic_dataset: Dataset) -> None:
    shares = purchase_shares(synthetic_dataset)
    for eval_set in (None, "train", "test"):
        assert baseline_frequency(synthetic_dataset, 0.4, eval_set=eval_set).equals(
            baseline_frequency(synthetic_dataset, 0.4, eval_set=eval_set, shares=shares)
        )
        assert baseline_frequency_f1(synthetic_dataset, eval_set=eval_set).equals(
            baseline_frequency_f1(synthetic_dataset, eval_set=eval_set, shares=shares)
        )
