"""The service's order history: the loaded data's orders plus the orders posted since.

A user's history is every order of theirs that has lines (prior and train
orders of the data, then posted orders, in that order). The *target* of a user
is the order after the last of those: their pending test order while they
have one and have posted nothing, otherwise a new order. `tables` writes any
set of users' histories and targets in the Instacart layout (history orders as
``prior``, the target as ``test``), the input of the feature transform.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from basketcast.data.dataset import Dataset
from basketcast.data.schema import ID, ORDERS, PRIOR
from basketcast.serve.domain import Context, DuplicateOrder, InvalidOrder, PostedOrder

__all__ = ["OrderHistory", "UserTables", "synthetic_target_id"]

_MAX_DAYS = 30  # the data contract's range of days_since_prior_order (data/validate.py)
_EXAMPLES = 5


def synthetic_target_id(user_id: int) -> int:
    """Order id of a user's next order when the data has none: negative, so it is no real id."""
    return -1 - user_id


@dataclass(frozen=True)
class UserTables:
    """Some users' histories and targets as a `Dataset` (history = prior, target = test)."""

    dataset: Dataset
    users: np.ndarray


class OrderHistory:
    """Every user's orders, indexed by user for O(1) slices, plus posted orders.

    Thread-safe: posts and reads may come from several worker threads.
    """

    def __init__(self, dataset: Dataset) -> None:
        orders = dataset.orders.sort("user_id", "order_number")
        lines = pl.concat(
            [
                dataset.prior.select("order_id", "product_id", "add_to_cart_order"),
                dataset.train.select("order_id", "product_id", "add_to_cart_order"),
            ]
        )
        self._orders = orders.select(list(ORDERS.columns))
        self._lines = (
            lines.join(orders.select("order_id", "user_id", "order_number"), on="order_id")
            .sort("user_id", "order_number", "add_to_cart_order")
            .select("user_id", "order_id", "product_id", "add_to_cart_order")
        )
        self._order_users = self._orders.get_column("user_id").to_numpy()
        # Per order: does it have lines (prior/train)? Cumulated, so a user's count is two look-ups.
        with_lines = (self._orders.get_column("eval_set") != "test").to_numpy()
        self._lined_before = np.concatenate([[0], np.cumsum(with_lines, dtype=np.int64)])
        self._line_users = self._lines.get_column("user_id").to_numpy()
        self._data_users = np.unique(self._order_users)
        self._order_ids = np.sort(self._orders.get_column("order_id").to_numpy())
        if dataset.products is not None:
            products = dataset.products.get_column("product_id")
        else:  # no catalogue: the products anybody bought are the known ones
            products = self._lines.get_column("product_id").unique()
        self._products = np.sort(products.to_numpy())
        self.products_source = "products table" if dataset.products is not None else "history"
        self.catalogue = dataset.products
        # The catalogue sorted by product, so a few users' products are a slice of it.
        self._sorted_catalogue = (
            None if dataset.products is None else dataset.products.sort("product_id")
        )
        self._catalogue_ids = (
            None
            if self._sorted_catalogue is None
            else self._sorted_catalogue.get_column("product_id").to_numpy()
        )
        self._posted: dict[int, list[PostedOrder]] = {}
        self._posted_ids: set[int] = set()
        self._lock = threading.RLock()

    # --- lookups -------------------------------------------------------------------------------

    def _slice(self, users: np.ndarray, user_id: int) -> tuple[int, int]:
        start = int(np.searchsorted(users, user_id, side="left"))
        end = int(np.searchsorted(users, user_id, side="right"))
        return start, end

    def data_orders(self, user_id: int) -> pl.DataFrame:
        """The loaded data's orders of one user, by order number."""
        start, end = self._slice(self._order_users, user_id)
        return self._orders.slice(start, end - start)

    def posted(self, user_id: int) -> list[PostedOrder]:
        with self._lock:
            return list(self._posted.get(user_id, ()))

    def users(self) -> int:
        """How many users have an order, in the data or posted (cheap: /v1/health calls it)."""
        with self._lock:
            posted = np.fromiter(self._posted, dtype=np.int64, count=len(self._posted))
        found = np.searchsorted(self._data_users, posted).clip(
            max=max(self._data_users.size - 1, 0)
        )
        new = posted[self._data_users[found] != posted] if self._data_users.size else posted
        return int(self._data_users.size + new.size)

    def history_size(self, user_id: int) -> int:
        """Orders with lines of the user (data prior/train plus posted)."""
        start, end = self._slice(self._order_users, user_id)
        data = int(self._lined_before[end] - self._lined_before[start])
        with self._lock:
            return data + len(self._posted.get(user_id, ()))

    def pending_test(self, user_id: int) -> dict[str, object] | None:
        """The user's test order in the data while it is still their next order, else None."""
        if self.posted(user_id):
            return None
        test = self.data_orders(user_id).filter(pl.col("eval_set") == "test")
        return test.row(0, named=True) if test.height else None

    def default_context(self, user_id: int) -> Context | None:
        """The pending test order's context, else the user's typical one; None without history."""
        test = self.pending_test(user_id)
        if test is not None:
            days = test["days_since_prior_order"]
            return Context(
                int(test["order_dow"]),  # type: ignore[call-overload]
                int(test["order_hour_of_day"]),  # type: ignore[call-overload]
                None if days is None else float(days),  # type: ignore[arg-type]
                source="test order",
            )
        data = self.data_orders(user_id).filter(pl.col("eval_set") != "test")
        posted = self.posted(user_id)
        dows = [*data.get_column("order_dow").to_list(), *(o.order_dow for o in posted)]
        if not dows:
            return None
        hours = [*data.get_column("order_hour_of_day").to_list()]
        hours += [o.order_hour_of_day for o in posted]
        gaps = [d for d in data.get_column("days_since_prior_order").to_list() if d is not None]
        gaps += [o.days_since_prior_order for o in posted if o.days_since_prior_order is not None]
        # Most frequent day and hour (ties: the smallest), median gap (none after one order:
        # the user's first gap is unknown, so the gap is left missing as in the data).
        return Context(
            int(np.bincount(dows, minlength=7).argmax()),
            int(np.bincount(hours, minlength=24).argmax()),
            float(np.median(gaps)) if gaps else None,
            source="typical",
        )

    # --- posting -------------------------------------------------------------------------------

    def check(self, order: PostedOrder) -> None:
        """Raise `InvalidOrder` / `DuplicateOrder` with every broken data-contract rule."""
        reasons: list[str] = []
        products = np.asarray(order.product_ids, dtype=np.int64)
        if products.size == 0:
            reasons.append("product_ids: empty (an order has at least one product)")
        values, counts = np.unique(products, return_counts=True)
        repeated = values[counts > 1]
        if repeated.size:
            shown = ", ".join(map(str, repeated[:_EXAMPLES]))
            reasons.append(f"product_ids: {repeated.size} product(s) listed twice, e.g. {shown}")
        found = np.searchsorted(self._products, values).clip(max=max(self._products.size - 1, 0))
        unknown = values[self._products[found] != values] if self._products.size else values
        if unknown.size:
            shown = ", ".join(map(str, unknown[:_EXAMPLES]))
            reasons.append(
                f"product_ids: {unknown.size} unknown product(s) (not in the "
                f"{self.products_source}), e.g. {shown}"
            )
        if not 0 <= order.order_dow <= 6:
            reasons.append(f"order_dow: {order.order_dow} is outside 0 to 6")
        if not 0 <= order.order_hour_of_day <= 23:
            reasons.append(f"order_hour_of_day: {order.order_hour_of_day} is outside 0 to 23")
        days = order.days_since_prior_order
        first = self.history_size(order.user_id) == 0 and self.pending_test(order.user_id) is None
        if days is not None and not 0 <= days <= _MAX_DAYS:  # NaN fails too
            reasons.append(f"days_since_prior_order: {days} is outside 0 to {_MAX_DAYS}")
        elif first and days is not None:
            reasons.append("days_since_prior_order: must be null on a user's first order")
        elif not first and days is None:
            reasons.append(
                "days_since_prior_order: null, but the user has earlier orders "
                "(only the first order has no prior order)"
            )
        if reasons:
            raise InvalidOrder(reasons)
        with self._lock:
            taken = order.order_id in self._posted_ids
        if taken or self.in_data(order.order_id):
            where = "posted to this service" if taken else "in the loaded data"
            raise DuplicateOrder([f"order_id: {order.order_id} is already an order {where}"])

    def in_data(self, order_id: int) -> bool:
        """Whether `order_id` is an order of the loaded data (not a posted one)."""
        i = int(np.searchsorted(self._order_ids, order_id))
        return i < self._order_ids.size and int(self._order_ids[i]) == order_id

    def add(self, order: PostedOrder) -> None:
        """Append an order that is already stored (and checked)."""
        with self._lock:
            self._posted.setdefault(order.user_id, []).append(order)
            self._posted_ids.add(order.order_id)

    # --- the feature transform's input -----------------------------------------------------------

    def tables(self, users: Iterable[int] | None = None) -> UserTables:
        """The histories and targets of `users` (None: everyone) in the Instacart layout."""
        if users is None:
            orders, lines = self._orders, self._lines
            with self._lock:
                posted = [o for user in self._posted.values() for o in user]
        else:
            chosen = np.unique(np.fromiter(users, dtype=np.int64))
            orders = self._gather(self._orders, self._order_users, chosen)
            lines = self._gather(self._lines, self._line_users, chosen)
            with self._lock:
                posted = [o for u in chosen.tolist() for o in self._posted.get(u, ())]
            # Only the catalogue rows of products these users bought: the features join the
            # catalogue to the lines, so the rest never matter, and a whole catalogue per
            # rebuilt user cost more than the user's own history.
            return _layout(orders, lines, posted, self._catalogue_of(lines, posted))
        return _layout(orders, lines, posted, self.catalogue)

    def _catalogue_of(
        self, lines: pl.DataFrame, posted: Sequence[PostedOrder]
    ) -> pl.DataFrame | None:
        if self._sorted_catalogue is None or self._catalogue_ids is None:
            return None
        bought = np.concatenate(
            [
                lines.get_column("product_id").to_numpy(),
                np.fromiter((p for o in posted for p in o.product_ids), dtype=np.int64),
            ]
        )
        return self._sorted_catalogue[_rows_of(self._catalogue_ids, np.unique(bought))]

    def _gather(self, frame: pl.DataFrame, keys: np.ndarray, users: np.ndarray) -> pl.DataFrame:
        starts = np.searchsorted(keys, users, side="left")
        ends = np.searchsorted(keys, users, side="right")
        if not (ends > starts).any():
            return frame.clear()
        index = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        return frame[index]


def _rows_of(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in `sorted_ids` (unique, sorted) of those `wanted` ids it holds."""
    at = np.searchsorted(sorted_ids, wanted)
    inside = at < sorted_ids.size
    at = at[inside]
    return at[sorted_ids[at] == wanted[inside]]


def _posted_frames(posted: Sequence[PostedOrder]) -> tuple[pl.DataFrame, pl.DataFrame]:
    orders = pl.DataFrame(
        {
            "user_id": [o.user_id for o in posted],
            "order_id": [o.order_id for o in posted],
            "order_dow": [o.order_dow for o in posted],
            "order_hour_of_day": [o.order_hour_of_day for o in posted],
            "days_since_prior_order": [o.days_since_prior_order for o in posted],
            "seq": list(range(len(posted))),
        },
        schema={
            "user_id": ID,
            "order_id": ID,
            "order_dow": pl.Int8,
            "order_hour_of_day": pl.Int8,
            "days_since_prior_order": pl.Float32,
            "seq": pl.Int64,
        },
    )
    lines = pl.DataFrame(
        {
            "order_id": [o.order_id for o in posted for _ in o.product_ids],
            "product_id": [p for o in posted for p in o.product_ids],
            "add_to_cart_order": [i + 1 for o in posted for i in range(len(o.product_ids))],
        },
        schema={"order_id": ID, "product_id": ID, "add_to_cart_order": pl.Int32},
    )
    return orders, lines


def _layout(
    orders: pl.DataFrame,
    lines: pl.DataFrame,
    posted: Sequence[PostedOrder],
    products: pl.DataFrame | None,
) -> UserTables:
    """History orders (data prior/train, then posted) as prior; each user's target as test."""
    posted_orders, posted_lines = _posted_frames(posted)
    has_posted = posted_orders.select("user_id").unique()
    data = orders.join(has_posted, on="user_id", how="anti")
    # A user's pending test order stays their target until they post; a posted order takes
    # its place (same order number), and every later one follows.
    pending = data.filter(pl.col("eval_set") == "test")
    history = orders.filter(pl.col("eval_set") != "test")
    last = history.group_by("user_id").agg(last=pl.col("order_number").max())
    numbered = (
        posted_orders.join(last, on="user_id", how="left")
        .with_columns(
            order_number=(
                pl.col("last").fill_null(0) + pl.col("seq").rank("ordinal").over("user_id")
            ).cast(pl.Int32),
            eval_set=pl.lit("prior").cast(ORDERS.columns["eval_set"]),
        )
        .select(list(ORDERS.columns))
    )
    prior = pl.lit("prior").cast(ORDERS.columns["eval_set"])
    history = pl.concat([history.with_columns(eval_set=prior), numbered])
    with_target = history.join(pending.select("user_id"), on="user_id", how="anti")
    new_targets = (
        with_target.group_by("user_id")
        .agg(
            order_number=(pl.col("order_number").max() + 1).cast(pl.Int32),
            order_dow=pl.col("order_dow").last(),
            order_hour_of_day=pl.col("order_hour_of_day").last(),
        )
        .with_columns(
            order_id=(-1 - pl.col("user_id")).cast(ID),
            eval_set=pl.lit("test").cast(ORDERS.columns["eval_set"]),
            days_since_prior_order=pl.lit(0.0, pl.Float32),
        )
        .select(list(ORDERS.columns))
    )
    all_orders = pl.concat([history, pending.select(list(ORDERS.columns)), new_targets]).sort(
        "user_id", "order_number"
    )
    # `reordered` is never read by the features (they derive reorders from the history).
    all_lines = pl.concat([lines.select(posted_lines.columns), posted_lines]).with_columns(
        reordered=pl.lit(0, pl.Int8)
    )
    dataset = Dataset(
        orders=all_orders,
        prior=all_lines.select(list(PRIOR.columns)),
        train=all_lines.clear().select(list(PRIOR.columns)),
        products=products,
    )
    users = all_orders.get_column("user_id").unique().sort().to_numpy()
    return UserTables(dataset=dataset, users=users)
