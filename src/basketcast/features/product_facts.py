"""Product facts (fitted on every user's history): one-shot ratio, reorder-within-N, repeat cycle.

The `product` family already has the share of buyers who bought a product
once (``p_one_time_share``) and the chance of a rebuy within 1 and 3 orders.
This family adds what the Kaggle winners used beside them:

- the *one-shot ratio* counts only buyers who had a chance to buy again (at
  least one order after their first purchase), so a product first bought in a
  user's last visible order does not look like a one-shot;
- reorder within N orders of a purchase (N = 2, 5) and of the *first*
  purchase (N = 5), each over purchases followed by at least N orders;
- the product's own repeat cycle: the gap, in orders and in days, between a
  user's consecutive purchases of it (mean and median over all users);
- per user, the orders and days since their last purchase of it over that
  cycle (the days run to the target order, as in the context family).

Off by default (`features.include = ["product_facts"]`).
"""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, StatPlans, Stats, join_on
from basketcast.features.history import History

__all__ = ["PRODUCT_FACTS", "ProductFactsFamily", "product_facts"]

PRODUCT_COLUMNS: dict[str, str] = {
    "pf_one_shot_ratio": "share of buyers with an order after their first purchase who never rebought it",
    "pf_rebuy_2": "probability it is bought again within 2 orders of a purchase",
    "pf_rebuy_5": "probability it is bought again within 5 orders of a purchase",
    "pf_first_rebuy_5": "probability it is bought again within 5 orders of a user's first purchase",
    "pf_cycle_orders_mean": "mean orders between a user's consecutive purchases of it",
    "pf_cycle_orders_median": "median orders between a user's consecutive purchases of it",
    "pf_cycle_days_mean": "mean days between a user's consecutive purchases of it",
    "pf_cycle_days_median": "median days between a user's consecutive purchases of it",
}
DESCRIPTIONS: dict[str, str] = PRODUCT_COLUMNS | {
    "pf_orders_vs_cycle": "orders since the user's last purchase of it over its median cycle",
    "pf_days_vs_cycle": "days from the user's last purchase of it to the target over its median cycle",
}


def product_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One row per product_id with the `PRODUCT_COLUMNS`.

    ``lines``: user_id, product_id, order_number, day, is_reorder, sorted by
    user, product and order (`History.lines`).
    """
    same = (pl.col("user_id") == pl.col("user_id").shift(-1)) & (
        pl.col("product_id") == pl.col("product_id").shift(-1)
    )
    number, day = pl.col("order_number"), pl.col("day")
    gap = pl.col("gap_orders")
    left = pl.col("u_last") - number  # orders the user placed after this purchase
    rows = lines.select("user_id", "product_id", "order_number", "day", "is_reorder").with_columns(
        u_last=number.max().over("user_id"),
        gap_orders=pl.when(same).then(number.shift(-1) - number),
        gap_days=pl.when(same).then(day.shift(-1) - day),
    )
    # A purchase counts for "within N" only when N more orders followed it.
    within = {
        n: pl.when(left >= n).then((gap.fill_null(n + 1) <= n).cast(pl.Float64)) for n in (2, 5)
    }
    first = pl.col("is_reorder") == 0
    per_line = rows.with_columns(
        rebuy_2=within[2],
        rebuy_5=within[5],
        first_rebuy_5=pl.when(first).then(within[5]),
        one_shot=pl.when(first & (left >= 1)).then(gap.is_null().cast(pl.Float64)),
    )
    return per_line.group_by("product_id").agg(
        pf_one_shot_ratio=pl.col("one_shot").mean(),
        pf_rebuy_2=pl.col("rebuy_2").mean(),
        pf_rebuy_5=pl.col("rebuy_5").mean(),
        pf_first_rebuy_5=pl.col("first_rebuy_5").mean(),
        pf_cycle_orders_mean=gap.cast(pl.Float64).mean(),
        pf_cycle_orders_median=gap.cast(pl.Float64).median(),
        pf_cycle_days_mean=pl.col("gap_days").cast(pl.Float64).mean(),
        pf_cycle_days_median=pl.col("gap_days").cast(pl.Float64).median(),
    )


class ProductFactsFamily(FeatureFamily):
    """Product facts shared across users (fitted), and each user's position in the product's cycle."""

    def fit(self, history: History) -> StatPlans:
        return {"product": product_facts(history.lines)}

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        last = history.lines.group_by("user_id", "product_id").agg(
            last_number=pl.col("order_number").max(), last_day=pl.col("day").max()
        )
        targets = history.targets.select("user_id", "order_number", target_day=pl.col("day"))
        values = (
            last.join(targets, on="user_id")
            .join(stats["product"].lazy(), on="product_id", how="left")
            .with_columns(
                pf_orders_vs_cycle=(pl.col("order_number") - pl.col("last_number"))
                / pl.col("pf_cycle_orders_median"),
                pf_days_vs_cycle=(pl.col("target_day") - pl.col("last_day"))
                / pl.col("pf_cycle_days_median"),
            )
            .select("user_id", "product_id", *DESCRIPTIONS)
        )
        return join_on(frame, values, ["user_id", "product_id"])


PRODUCT_FACTS = ProductFactsFamily(
    joins_product_stats=True,
    name="product_facts",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    default_on=False,
)
