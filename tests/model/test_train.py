"""Cross-validated training on frames with a planted answer."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.model import CVResult, assign_folds, feature_names, roc_auc, train, train_cv
from tests.model._synth import NOISE, STRONG, WEAK, fast_config, planted_frame

Planted = tuple[pl.DataFrame, np.ndarray]


def with_folds(frame: pl.DataFrame, *, folds: int = 5, seed: int = 0) -> pl.DataFrame:
    return frame.with_columns(assign_folds(pl.col("user_id"), folds=folds, seed=seed))


def test_finds_the_planted_signal(item_frame: Planted, item_result: CVResult) -> None:
    frame, p_true = item_frame
    truth = frame.with_columns(p_true=pl.Series(p_true)).filter(
        pl.col("label").is_not_null() & (pl.col("depth") == 0)
    )
    best_possible = roc_auc(truth["label"], truth["p_true"])
    assert abs(item_result.auc - best_possible) < 0.02
    total = item_result.importance.group_by("feature").agg(pl.col("gain").sum()).sort("gain")
    assert total["feature"][-1] == STRONG
    assert total["feature"][-2] == WEAK
    # every (feature, fold) pair is reported, unused features with gain 0
    assert item_result.importance.height == 5 * 5
    assert set(item_result.feature_names) == {STRONG, WEAK, *NOISE}


def test_every_labelled_row_gets_exactly_one_oof_prediction(
    item_frame: Planted, item_result: CVResult
) -> None:
    frame = with_folds(item_frame[0])
    key = ["order_id", "product_id"]
    labelled = frame.filter(pl.col("label").is_not_null())
    oof = item_result.oof
    assert oof.columns == ["order_id", "user_id", "product_id", "depth", "fold", "p"]
    assert oof.height == labelled.height
    assert oof.select(key).is_duplicated().sum() == 0
    joined = labelled.join(oof, on=key, how="left", suffix="_oof")
    assert joined["p"].null_count() == 0
    assert (joined["fold"] == joined["fold_oof"]).all()
    # history targets of test users are training rows too, so they get OOF predictions
    test_users = frame.filter(pl.col("label").is_null())["user_id"].unique()
    assert oof.filter(pl.col("user_id").is_in(test_users.implode()))[
        "depth"
    ].unique().to_list() == [1]
    assert oof["p"].dtype == pl.Float32 and oof["p"].is_between(0, 1).all()


def test_folds_are_grouped_by_user(item_result: CVResult) -> None:
    per_user = item_result.oof.group_by("user_id").agg(pl.col("fold").n_unique())
    assert (per_user["fold"] == 1).all()
    assert sorted(item_result.oof["fold"].unique().to_list()) == [0, 1, 2, 3, 4]


def test_test_rows_are_predicted_once(item_frame: Planted, item_result: CVResult) -> None:
    frame = item_frame[0]
    unlabelled = frame.filter(pl.col("label").is_null())
    test = item_result.test
    assert test.columns == ["order_id", "user_id", "product_id", "depth", "p"]
    assert test.height == unlabelled.height
    assert test.select("order_id", "product_id").equals(unlabelled.select("order_id", "product_id"))
    assert (test["depth"] == 0).all() and test["p"].null_count() == 0


def test_fold_metrics_cover_depth_zero_only(item_frame: Planted, item_result: CVResult) -> None:
    frame = with_folds(item_frame[0])
    metrics = item_result.fold_metrics
    assert metrics.columns == [
        "fold", "n_train", "n_valid", "best_iteration", "logloss", "auc", "seconds",
    ]  # fmt: skip
    for row in metrics.iter_rows(named=True):
        f = row["fold"]
        labelled = frame.filter(pl.col("label").is_not_null())
        assert row["n_train"] == labelled.filter(pl.col("fold") != f).height
        valid = labelled.filter((pl.col("fold") == f) & (pl.col("depth") == 0))
        assert row["n_valid"] == valid.height
        oof = item_result.oof.filter((pl.col("fold") == f) & (pl.col("depth") == 0))
        assert row["auc"] == pytest.approx(roc_auc(valid["label"], oof["p"]))
        assert 0 < row["best_iteration"] < 200
        assert item_result.boosters[f].num_boosted_rounds() == row["best_iteration"] + 1


def one_fold(frame: pl.DataFrame, **overrides: object) -> CVResult:
    return train_cv(frame, config=fast_config(train_folds=(0,), **overrides), threads=1)


def flip_labels(frame: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(where).then(1 - pl.col("label")).otherwise(pl.col("label")).alias("label")
    )


def model_bytes(result: CVResult) -> bytes:
    return bytes(result.boosters[0].save_raw(raw_format="ubj"))


def test_history_rows_never_drive_early_stopping_or_metrics(item_frame: Planted) -> None:
    frame = item_frame[0]
    fold = assign_folds(pl.col("user_id"), folds=5, seed=0)
    base = one_fold(frame)
    # Held-out history labels: not training rows of fold 0, and must not count for
    # early stopping or metrics, so nothing about fold 0 may change.
    corrupted = one_fold(flip_labels(frame, (fold == 0) & (pl.col("depth") >= 1)))
    drop = ["seconds"]
    assert corrupted.fold_metrics.drop(drop).equals(base.fold_metrics.drop(drop))
    assert corrupted.oof.equals(base.oof)
    assert model_bytes(corrupted) == model_bytes(base)
    assert corrupted.auc == base.auc and corrupted.logloss == base.logloss

    # Teeth: the held-out depth-0 labels do drive early stopping and metrics ...
    scored = one_fold(flip_labels(frame, (fold == 0) & (pl.col("depth") == 0)))
    assert scored.fold_metrics["logloss"][0] != base.fold_metrics["logloss"][0]
    # ... and other folds' history rows are training rows.
    trained_on = one_fold(flip_labels(frame, (fold == 1) & (pl.col("depth") >= 1)))
    assert model_bytes(trained_on) != model_bytes(base)


def test_one_fold_and_determinism(item_frame: Planted) -> None:
    frame = item_frame[0]
    first, second = one_fold(frame), one_fold(frame)
    assert list(first.boosters) == [0]
    assert first.fold_metrics["fold"].to_list() == [0]
    assert first.oof["fold"].unique().to_list() == [0]
    assert first.importance["fold"].unique().to_list() == [0]
    assert first.oof.equals(second.oof) and first.test.equals(second.test)
    assert model_bytes(first) == model_bytes(second)
    # Another seed holds out another set of users.
    other_seed = one_fold(frame, seed=7)
    assert set(other_seed.oof["user_id"].to_list()) != set(first.oof["user_id"].to_list())


def test_none_model_frame_without_product_id() -> None:
    frame, _ = planted_frame(users=2000, rows_per_order=1, seed=5, item=False)
    assert "product_id" not in frame.columns
    result = train_cv(frame, config=fast_config(folds=3), threads=1)
    assert result.oof.columns == ["order_id", "user_id", "depth", "fold", "p"]
    assert result.test.columns == ["order_id", "user_id", "depth", "p"]
    assert result.oof.height == frame["label"].is_not_null().sum()
    assert result.importance.sort("gain")["feature"][-1] == STRONG
    assert result.auc > 0.7


def test_progress_callback_and_no_printing(
    item_frame: Planted, capsys: pytest.CaptureFixture[str]
) -> None:
    messages: list[tuple[int, str]] = []
    train_cv(
        item_frame[0],
        config=fast_config(train_folds=(2,), eta=0.05, early_stopping_rounds=60),
        threads=1,
        progress=lambda fold, message: messages.append((fold, message)),
    )
    assert {f for f, _ in messages} == {2}
    assert messages[0][1].startswith("training on") and messages[-1][1].startswith("done in")
    assert any(m.startswith("round 50:") for _, m in messages)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_feature_names_and_input_errors(item_frame: Planted) -> None:
    frame = item_frame[0]
    assert feature_names(frame) == [STRONG, WEAK, *NOISE]
    config = fast_config(train_folds=(0,))
    with pytest.raises(ValueError, match="label"):
        train_cv(frame.drop("label"), config=config)
    with pytest.raises(ValueError, match="numeric"):
        train_cv(frame.with_columns(pl.lit("a").alias("name")), config=config)
    with pytest.raises(ValueError, match="0, 1 or null"):
        train_cv(frame.with_columns(pl.col("label") * 2), config=config)
    with pytest.raises(ValueError, match="user_id has 1 null"):
        train_cv(frame.with_columns(frame["user_id"].scatter(0, None)), config=config)
    tiny = frame.filter(pl.col("user_id") == frame["user_id"][0])
    with pytest.raises(ValueError, match="fold 0"):
        train_cv(tiny, config=config)


def test_rows_resident_on_the_device_train_the_same_model(
    item_frame: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU every row is copied to the device once and each fold is gathered there.

    NumPy stands in for CuPy here (the same array API; no GPU on this machine): the
    model must be byte-identical to the one fed from host chunks.
    """
    frame = item_frame[0]
    monkeypatch.setattr(train, "CHUNK_ROWS", 7_000)  # several chunks, an uneven last one
    streamed = one_fold(frame)
    monkeypatch.setattr(train, "device_arrays", lambda device: np)
    assert train._FeatureRows(frame, feature_names(frame), "cpu").resident
    resident = one_fold(frame)
    assert model_bytes(resident) == model_bytes(streamed)
    assert resident.oof.equals(streamed.oof) and resident.test.equals(streamed.test)
