"""Save -> load -> predict reproduces training's probabilities; clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from basketcast.model import CVResult, load_manifest, load_models, predict_frame, save_models
from tests.model._synth import STRONG

Planted = tuple[pl.DataFrame, np.ndarray]


def test_round_trip_reproduces_predictions(
    item_frame: Planted, item_result: CVResult, tmp_path: Path
) -> None:
    frame = item_frame[0]
    manifest = save_models(item_result, tmp_path, prefix="item")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "item_fold0.ubj", "item_fold1.ubj", "item_fold2.ubj", "item_fold3.ubj", "item_fold4.ubj",
        "item_models.json",
    ]  # fmt: skip
    info = json.loads(manifest.read_text())
    assert info["feature_names"] == item_result.feature_names and info["folds"] == [0, 1, 2, 3, 4]
    assert load_manifest(tmp_path)["n_folds"] == 5
    assert (tmp_path / "item_fold0.ubj").read_bytes()[:1] == b"{"  # UBJSON, not pickle

    boosters = load_models(tmp_path, "item")
    names = info["feature_names"]
    test_rows = frame.filter(pl.col("label").is_null())
    np.testing.assert_array_equal(
        predict_frame(boosters, test_rows, names), item_result.test["p"].to_numpy()
    )
    oof = item_result.oof.filter(pl.col("fold") == 3)
    rows = oof.join(frame, on=["order_id", "product_id"], how="left", maintain_order="left")
    np.testing.assert_array_equal(predict_frame({3: boosters[3]}, rows, names), oof["p"].to_numpy())


def test_prefixes_keep_model_sets_apart(item_result: CVResult, tmp_path: Path) -> None:
    save_models(item_result, tmp_path, prefix="none")
    assert list(load_models(tmp_path, "none")) == [0, 1, 2, 3, 4]
    with pytest.raises(FileNotFoundError, match="manifest missing"):
        load_models(tmp_path, "item")
    with pytest.raises(ValueError, match="prefix"):
        save_models(item_result, tmp_path, prefix="../x")


def test_clear_errors_on_feature_mismatch(item_frame: Planted, item_result: CVResult) -> None:
    frame = item_frame[0].head(100)
    names = item_result.feature_names
    with pytest.raises(ValueError, match=f"lacks 1 feature.*{STRONG}"):
        predict_frame(item_result.boosters, frame.drop(STRONG), names)
    with pytest.raises(ValueError, match="other features"):
        predict_frame(item_result.boosters, frame, [*names, "extra"])
    with pytest.raises(ValueError, match="different order"):
        predict_frame(item_result.boosters, frame, names[::-1])
    with pytest.raises(ValueError, match="no models"):
        predict_frame({}, frame, names)
