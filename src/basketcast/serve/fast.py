"""The request path without a query plan: the context family and the order aggregate in NumPy.

A request's rows are a few dozen candidates, and a Polars query over them
costs a fixed ~10 ms to plan and run whatever its size, which capped the
service near 60 requests/s on 2 cores. For the default families the
per-request work is small arithmetic (`features.context.with_context`) and
the None model's per-order aggregate (`features.order.order_features`), so
`FastFinish` does it on arrays, with the same dtypes and the same
non-finite → missing rule as the assembler. `ServingFeatures` uses it only
when the per-request families are exactly the context family, and the tests
check it against the Polars plan on random contexts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import polars as pl

from basketcast.features.context import CONTEXT
from basketcast.features.order import _AGGREGATES, _CONTEXT
from basketcast.features.user import DESCRIPTIONS as USER_COLUMNS
from basketcast.serve.domain import Context

__all__ = ["FastFinish"]


def _finished(values: np.ndarray) -> np.ndarray:
    # The assembler's last step: Float32, and a non-finite value is missing (NaN to XGBoost).
    out = np.asarray(values, dtype=np.float32)
    return np.where(np.isfinite(out), out, np.float32(np.nan))


class FastFinish:
    """Item and order model matrices for a batch of target orders, as `ServingFeatures.finish` gives.

    Parameters
    ----------
    dow_profile
        The context family's fitted table (product_id, order_dow, p_dow_share).
    item_names, order_names
        The models' feature columns, in their order (`order_names` None: no None model).
    """

    def __init__(
        self,
        dow_profile: pl.DataFrame,
        item_names: Sequence[str],
        order_names: Sequence[str] | None,
    ) -> None:
        self.item_names = list(item_names)
        self.order_names = None if order_names is None else list(order_names)
        self._position = {name: j for j, name in enumerate(self.item_names)}
        # (name, position, read raw by the context family): the per-user columns, decided once
        self._base = [
            (name, j, name in _NEEDS)
            for j, name in enumerate(self.item_names)
            if name not in _COMPUTED
        ]
        products = dow_profile.get_column("product_id").to_numpy().astype(np.int64)
        size = int(products.max()) + 1 if products.size else 1
        # share[product, dow]: missing pairs are 0, as the join's fill_null(0.0)
        self._share = np.zeros((size, 7), dtype=np.float64)
        dows = dow_profile.get_column("order_dow").to_numpy().astype(np.int64)
        self._share[products, dows] = dow_profile.get_column("p_dow_share").to_numpy()

    def _dow_share(self, products: np.ndarray, dows: np.ndarray) -> np.ndarray:
        inside = products < self._share.shape[0]
        out = np.zeros(products.size, dtype=np.float64)
        out[inside] = self._share[products[inside], dows[inside]]
        return out

    def matrices(
        self, rows: pl.DataFrame, lengths: np.ndarray, contexts: Sequence[Context]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(item matrix, order matrix or None) for jobs whose rows are concatenated in `rows`."""
        n = rows.height
        column = {name: rows.get_column(name).to_numpy() for name in _NEEDS if name in rows}
        dow = np.repeat(np.array([c.order_dow for c in contexts], dtype=np.int8), lengths)
        hour = np.repeat(np.array([c.order_hour_of_day for c in contexts], dtype=np.int8), lengths)
        gap = np.array(
            [np.nan if c.days_since_prior_order is None else c.days_since_prior_order
             for c in contexts],
            dtype=np.float32,
        )  # fmt: skip
        days = np.repeat(gap, lengths)
        since = column["up_days_since_last_hist"] + days
        with np.errstate(divide="ignore", invalid="ignore"):
            computed = {
                "t_dow": dow,
                "t_hour": hour,
                "t_days": days,
                "t_days_vs_user": days - column["u_days_mean"],
                "t_days_ratio": days / column["u_days_mean"],
                "t_hour_vs_user": hour - column["u_hour_mean"],
                "t_hour_vs_product": hour - column["p_hour_mean"],
                "p_dow_share_at_t": self._dow_share(
                    rows.get_column("product_id").to_numpy().astype(np.int64), dow.astype(np.int64)
                ),
                "up_days_since_last": since,
                "up_days_vs_cycle": since / column["up_cycle_days"],
            }
        assert computed.keys() == _COMPUTED
        items = np.empty((n, len(self.item_names)), dtype=np.float32)
        for name, values in computed.items():
            if name in self._position:
                items[:, self._position[name]] = _finished(values)
        # The per-user columns: finished already (Float32, missing as null, so NaN here),
        # except those the context family reads, which keep their own dtype.
        series = dict(zip(rows.columns, rows.get_columns(), strict=True))
        for name, j, read_raw in self._base:
            values = series[name].to_numpy()
            raw = read_raw or values.dtype != np.float32
            items[:, j] = _finished(values) if raw else values
        if self.order_names is None:
            return items, None
        return items, self._orders(items, lengths)

    def _orders(self, items: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """`order_features` over each job's rows: aggregates ignore missing values, as Polars'."""
        where = {name: j for j, name in enumerate(self.item_names)}
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        assert self.order_names is not None
        out = np.full((lengths.size, len(self.order_names)), np.nan, dtype=np.float32)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing groups: NaN, as null
            for k, name in enumerate(self.order_names):
                out[:, k] = self._order_column(name, items, where, starts, lengths)
        return out

    def _order_column(
        self,
        name: str,
        items: np.ndarray,
        where: dict[str, int],
        starts: np.ndarray,
        lengths: np.ndarray,
    ) -> np.ndarray:
        if name == "o_candidates":
            return lengths.astype(np.float32)
        if name in _FIRST:  # user and context columns: the same on every row of an order
            return items[starts, where[name]]
        source, how = _ORDER_SOURCE[name]
        values = items[:, where[source]]
        return np.array(
            [_REDUCE[how](values[s : s + m]) for s, m in zip(starts, lengths, strict=True)],
            dtype=np.float32,
        )


_COMPUTED = frozenset(CONTEXT.columns)
"""The columns `matrices` computes per request; every other item column is read from the rows."""
_NEEDS = CONTEXT.needs
_FIRST = frozenset({*USER_COLUMNS, *_CONTEXT})
_ORDER_SOURCE = {f"o_{c}_{a}": (c, a) for c, aggs in _AGGREGATES.items() for a in aggs}


def _sum(values: np.ndarray) -> float:
    return float(np.nansum(values.astype(np.float64)))


_REDUCE = {
    "mean": lambda v: np.nanmean(v.astype(np.float64)),
    "max": lambda v: np.nanmax(v),
    "min": lambda v: np.nanmin(v),
    "std": lambda v: np.nanstd(v.astype(np.float64), ddof=1),
    "sum": _sum,
}
