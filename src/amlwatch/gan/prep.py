"""Feature frame -> the GAN's two input arrays, with statistics fitted on training rows only.

The scaling itself happens inside the network (`nets.InputLayer`) so that the
ONNX scoring graph takes raw feature values; this module fits the numbers it
uses (medians, robust scales) and maps categorical values to indices.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import polars as pl

__all__ = ["Preprocessor", "residual_reasons"]

# IQR of a standard normal: dividing by IQR / 1.349 makes a Gaussian column unit-scale.
_IQR_TO_SD = 1.349
# Scales below this share of a column's magnitude are float32 rounding, not spread.
_MIN_REL_SCALE = 1e-6


@dataclasses.dataclass(frozen=True)
class Preprocessor:
    """Fitted input statistics: numeric centres and scales, categorical vocabularies.

    Index 0 of every vocabulary is "unseen or missing", so a category that
    first appears after training still scores (as the rare bucket it is).
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    vocab: tuple[tuple[str, ...], ...]

    @classmethod
    def fit(
        cls,
        frame: pl.DataFrame,
        *,
        numeric: tuple[str, ...],
        categorical: tuple[str, ...],
        log_scale: bool = False,
    ) -> Preprocessor:
        """Robust centre (median) and scale (IQR/1.349, else SD, else 1) per numeric column.

        With `log_scale`, the statistics are of ``sign(v) log(1 + |v|)``, as
        `nets.InputLayer` applies it before scaling.
        """
        _check_columns(frame, numeric, categorical)
        values = _numeric_matrix(frame, numeric)
        if log_scale:
            values = np.sign(values) * np.log1p(np.abs(values))
        center, scale = [], []
        for j in range(values.shape[1]):
            col = values[:, j]
            col = col[np.isfinite(col)]
            if col.size == 0:
                center.append(0.0)
                scale.append(1.0)
                continue
            q1, med, q3 = np.quantile(col, [0.25, 0.5, 0.75])
            # Sparse counts (mostly zero) have IQR 0: fall back to the SD, then to 1.
            # A spread below float32 resolution is rounding noise (window sums that cancel
            # to +-1e-12), not signal: scaling by it would blow the noise up to +-clip.
            floor = _MIN_REL_SCALE * max(1.0, float(np.max(np.abs(col))))
            s = (q3 - q1) / _IQR_TO_SD
            if not s > floor:
                s = float(np.std(col))
            center.append(float(med))
            scale.append(float(s) if s > floor else 1.0)
        vocab = tuple(
            tuple(sorted(frame.get_column(c).cast(pl.String).drop_nulls().unique().to_list()))
            for c in categorical
        )
        return cls(tuple(numeric), tuple(categorical), tuple(center), tuple(scale), vocab)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        """Per categorical column: known values + 1 (index 0 = unseen or missing)."""
        return tuple(len(v) + 1 for v in self.vocab)

    def transform(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Raw numeric values (float32, NaN for missing) and category indices (int64)."""
        _check_columns(frame, self.numeric, self.categorical)
        num = _numeric_matrix(frame, self.numeric).astype(np.float32)
        cat = np.zeros((frame.height, len(self.categorical)), dtype=np.int64)
        for j, (col, vocab) in enumerate(zip(self.categorical, self.vocab, strict=True)):
            mapping = pl.DataFrame(
                {"_v": list(vocab), "_i": np.arange(1, len(vocab) + 1, dtype=np.int64)},
                schema={"_v": pl.String, "_i": pl.Int64},
            )
            idx = (
                frame.select(pl.col(col).cast(pl.String).alias("_v"))
                .join(mapping, on="_v", how="left", maintain_order="left")
                .get_column("_i")
                .fill_null(0)
            )
            cat[:, j] = idx.to_numpy()
        return num, cat

    def to_dict(self) -> dict[str, Any]:
        return {k: list(map(list, v)) if k == "vocab" else list(v) for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        return cls(
            tuple(d["numeric"]),
            tuple(d["categorical"]),
            tuple(float(x) for x in d["center"]),
            tuple(float(x) for x in d["scale"]),
            tuple(tuple(v) for v in d["vocab"]),
        )


def _check_columns(
    frame: pl.DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]
) -> None:
    missing = [c for c in (*numeric, *categorical) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"GAN input: {len(missing)} column(s) missing from the feature frame: "
            f"{missing[:5]} (frame has {frame.columns[:8]}...)"
        )
    bad = [c for c in numeric if not frame.schema[c].is_numeric() and frame.schema[c] != pl.Boolean]
    if bad:
        raise ValueError(
            f"GAN input: {len(bad)} numeric column(s) are not numeric: "
            + ", ".join(f"{c} ({frame.schema[c]})" for c in bad[:5])
        )
    if not numeric and not categorical:
        raise ValueError("GAN input: no columns given")


def _numeric_matrix(frame: pl.DataFrame, numeric: tuple[str, ...]) -> np.ndarray:
    if not numeric:
        return np.zeros((frame.height, 0), dtype=np.float64)
    return (
        frame.select(pl.col(c).cast(pl.Float64) for c in numeric)
        .fill_null(float("nan"))
        .to_numpy()
        .astype(np.float64, copy=False)
    )


def residual_reasons(prep: Preprocessor, residual: np.ndarray, top: int) -> list[list[str]]:
    """Per row, the `top` columns G(E(x)) reconstructs worst, as 'name (+weight)'.

    `residual` is |x - G(E(x))| / res_scale in the network's input layout: the numeric
    columns, then one block per categorical column (its one-hot levels), which counts as
    the sum of its levels' errors over 2 (a wrong category is off in two levels).
    The detector's `reasons` and the service's answers both use this.
    """
    err = np.asarray(residual, dtype=np.float64)
    n_num = len(prep.numeric)
    cols = [err[:, :n_num]]
    start = n_num
    for size in prep.vocab_sizes:
        cols.append(err[:, start : start + size].sum(1, keepdims=True) / 2)
        start += size
    weights = np.concatenate(cols, axis=1)
    names = [*prep.numeric, *prep.categorical]
    order = np.argsort(-weights, axis=1, kind="stable")[:, :top]
    return [[f"{names[j]} (+{weights[i, j]:.2f})" for j in row] for i, row in enumerate(order)]
