"""The exploration section's numbers, aggregated from a `Dataset` with lazy Polars queries.

Nothing is sampled: every query is a group-by over the full tables, and the
independent queries run together in one `pl.collect_all` so that Polars can
share the scans and use every core it was given.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from basketcast.data.dataset import Dataset

__all__ = ["Exploration", "explore"]


@dataclass(frozen=True)
class Exploration:
    """Small aggregated tables behind the exploration figures.

    Attributes
    ----------
    facts
        Key counts of the data, as (label, value) pairs.
    orders_per_user
        ``orders`` (orders a user placed, target included), ``users``.
    dow_hour
        ``order_dow``, ``order_hour_of_day``, ``orders``.
    days_since_prior
        ``days`` (rounded to whole days), ``orders``; first orders (null) left out.
    products
        One row per product bought: ``product_id``, ``label``, ``orders`` (lines),
        ``customers`` (distinct users), ``reorders`` (lines bought before by the same user).
    departments
        ``department``, ``lines``, ``reorders``, ``reorder_ratio``; None without `products`.
    """

    facts: list[tuple[str, str]]
    orders_per_user: pl.DataFrame
    dow_hour: pl.DataFrame
    days_since_prior: pl.DataFrame
    products: pl.DataFrame
    departments: pl.DataFrame | None

    def top_products(self, *, by: str, n: int = 20) -> pl.DataFrame:
        """The `n` products with the most ``orders`` or ``customers`` (ties broken by id)."""
        if by not in ("orders", "customers"):
            raise ValueError(f"by must be 'orders' or 'customers', not {by!r}")
        return self.products.sort([by, "product_id"], descending=[True, False]).head(n)


def _lines(dataset: Dataset) -> pl.DataFrame:
    """Every order line (prior and train) with its user: ``order_id, product_id, user_id``.

    Equal to an inner join with `orders`. When order ids are dense enough (as
    Instacart's are) the user is gathered from an id-indexed array instead,
    which is several times faster than a hash join on tens of millions of lines.
    """
    lines = pl.concat(
        [
            dataset.prior.select("order_id", "product_id"),
            dataset.train.select("order_id", "product_id"),
        ]
    )
    orders = dataset.orders.select("order_id", "user_id")
    if orders.is_empty() or lines.is_empty():
        return lines.join(orders, on="order_id", how="inner")
    ids = orders.get_column("order_id")
    lo, hi = int(ids.min()), int(ids.max())  # type: ignore[arg-type]
    if hi - lo >= 4 * orders.height + 1024:
        return lines.join(orders, on="order_id", how="inner")
    lookup = (
        pl.Series("user_id", [None], dtype=pl.Int64)
        .extend_constant(None, hi - lo)
        .scatter(ids - lo, orders.get_column("user_id"))
    )
    # Lines of orders outside the id range, or in a gap of it, have no user:
    # they are dropped, exactly as the inner join would drop them.
    lines = lines.filter(pl.col("order_id").is_between(lo, hi))
    return lines.with_columns(lookup.gather(lines.get_column("order_id") - lo)).drop_nulls(
        "user_id"
    )


def explore(dataset: Dataset) -> Exploration:
    """Aggregate the order history for the exploration section.

    A line counts as a reorder when the same user bought the same product in an
    earlier order. With (order_id, product_id) unique (a validated key), the
    reorders of a (user, product) pair are all its lines but the first, so a
    product's reorders are its lines minus its distinct customers; the ``reordered`` column is not
    read, since the design treats it as a claim to check, not a fact.
    """
    orders = dataset.orders.lazy()
    per_product = (
        _lines(dataset)
        .lazy()
        .group_by("product_id")
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("user_id").n_unique().cast(pl.Int64).alias("customers"),
        )
        .with_columns((pl.col("orders") - pl.col("customers")).alias("reorders"))
    )
    orders_per_user = (
        orders.group_by("user_id")
        .agg(pl.len().alias("orders"))
        .group_by("orders")
        .agg(pl.len().alias("users"))
        .sort("orders")
    )
    dow_hour = (
        orders.group_by("order_dow", "order_hour_of_day")
        .agg(pl.len().alias("orders"))
        .sort("order_dow", "order_hour_of_day")
    )
    days = (
        orders.select(pl.col("days_since_prior_order").round(0).cast(pl.Int32).alias("days"))
        .drop_nulls()
        .group_by("days")
        .agg(pl.len().alias("orders"))
        .sort("days")
    )
    product_counts, user_counts, dow_hour_counts, day_counts = pl.collect_all(
        [per_product, orders_per_user, dow_hour, days]
    )
    products = _with_labels(product_counts, dataset.products)
    departments = _departments(products, dataset)

    n_lines = int(products.get_column("orders").sum() or 0)
    n_reorders = int(products.get_column("reorders").sum() or 0)
    counts = dataset.orders.get_column("eval_set").cast(pl.String).value_counts()
    by_set = dict(zip(counts.get_column("eval_set"), counts.get_column("count"), strict=True))
    facts = [
        ("users", f"{dataset.n_users:,}"),
        ("orders", f"{dataset.orders.height:,}"),
        (
            "prior / train / test orders",
            " / ".join(f"{by_set.get(s, 0):,}" for s in ("prior", "train", "test")),
        ),
        ("prior lines", f"{dataset.prior.height:,}"),
        ("train lines", f"{dataset.train.height:,}"),
        ("products bought", f"{products.height:,}"),
        (
            "reorder ratio (from history)",
            f"{n_reorders / n_lines:.3f}" if n_lines else "n/a",
        ),
    ]
    return Exploration(
        facts=facts,
        orders_per_user=user_counts,
        dow_hour=dow_hour_counts,
        days_since_prior=day_counts,
        products=products,
        departments=departments,
    )


def _with_labels(per_product: pl.DataFrame, products: pl.DataFrame | None) -> pl.DataFrame:
    """Add a display ``label``: the product name when there is one, else the id."""
    fallback = pl.format("product {}", pl.col("product_id"))
    if products is None:
        return per_product.with_columns(fallback.alias("label"))
    names = products.select("product_id", "product_name", "department_id")
    return (
        per_product.join(names, on="product_id", how="left")
        .with_columns(pl.coalesce(pl.col("product_name"), fallback).alias("label"))
        .drop("product_name")
    )


def _departments(per_product: pl.DataFrame, dataset: Dataset) -> pl.DataFrame | None:
    """Reorder ratio per department; None when there is no product table to map products."""
    if dataset.products is None:
        return None
    frame = per_product.group_by("department_id").agg(
        pl.col("orders").sum().alias("lines"), pl.col("reorders").sum().alias("reorders")
    )
    fallback = pl.format("department {}", pl.col("department_id"))
    if dataset.departments is not None:
        frame = frame.join(
            dataset.departments.select("department_id", "department"),
            on="department_id",
            how="left",
        ).with_columns(pl.coalesce(pl.col("department"), fallback).alias("department"))
    else:
        # Names are optional in the layout: ids are still worth a chart.
        frame = frame.with_columns(fallback.alias("department"))
    return (
        frame.with_columns(
            pl.when(pl.col("department_id").is_null())
            .then(pl.lit("(not in products)"))
            .otherwise(pl.col("department"))
            .alias("department"),
            (pl.col("reorders") / pl.col("lines")).alias("reorder_ratio"),
        )
        .select("department", "lines", "reorders", "reorder_ratio")
        .sort(["reorder_ratio", "department"], descending=[True, False])
    )
