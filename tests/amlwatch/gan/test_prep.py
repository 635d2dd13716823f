"""Preprocessing: robust statistics from training rows, unseen categories, clear errors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlwatch.gan.nets import InputLayer
from amlwatch.gan.prep import Preprocessor


def test_robust_scaling_known_answer() -> None:
    frame = pl.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0],  # median 3, IQR 2
            "zeros": [0, 0, 0, 0, 10],  # IQR 0 -> SD 4
            "const": [7.0] * 5,  # no spread -> scale 1
            "c": ["x", "y", "x", None, "y"],
        }
    )
    prep = Preprocessor.fit(frame, numeric=("a", "zeros", "const"), categorical=("c",))
    assert prep.center == (3.0, 0.0, 7.0)
    assert prep.scale == pytest.approx((2.0 / 1.349, 4.0, 1.0))
    assert prep.vocab == (("x", "y"),)
    num, cat = prep.transform(
        pl.DataFrame({"a": [None, 9.0], "zeros": [1, 2], "const": [7.0, 8.0], "c": ["y", "new"]})
    )
    assert np.isnan(num[0, 0]) and num[1, 0] == 9.0
    assert cat.tolist() == [[2], [0]]  # unseen -> 0
    back = Preprocessor.from_dict(prep.to_dict())
    assert back == prep


def test_input_layer_scales_clips_fills_and_one_hot() -> None:
    layer = InputLayer(center=[3.0], scale=[2.0], vocab_sizes=[3], clip=2.0)
    x = layer(torch.tensor([[5.0], [float("nan")], [1e6]]), torch.tensor([[2], [0], [1]]))
    expected = [[1.0, 0, 0, 1], [0.0, 1, 0, 0], [2.0, 0, 1, 0]]
    assert x.tolist() == expected


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_subnormal=False), min_size=2, max_size=40))
def test_scaled_training_column_has_median_zero(values: list[float]) -> None:
    prep = Preprocessor.fit(pl.DataFrame({"v": values}), numeric=("v",), categorical=())
    scaled = (np.array(values) - prep.center[0]) / prep.scale[0]
    assert prep.scale[0] > 0
    assert np.median(scaled) == pytest.approx(0.0, abs=1e-9)


def test_missing_and_non_numeric_columns_are_named() -> None:
    frame = pl.DataFrame({"a": [1.0], "s": ["x"]})
    with pytest.raises(ValueError, match=r"1 column\(s\) missing.*'b'"):
        Preprocessor.fit(frame, numeric=("a", "b"), categorical=())
    with pytest.raises(ValueError, match=r"not numeric: s \(String\)"):
        Preprocessor.fit(frame, numeric=("s",), categorical=())
