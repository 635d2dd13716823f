"""The rules `validate` runs on the typed tables: keys, order numbering, targets, ranges, lines, references."""

from __future__ import annotations

import polars as pl

from basketcast.data._typed import N_EXAMPLES, _Context, _format, _not_null
from basketcast.data.schema import ORDERS, PRIOR, PRODUCTS, TABLES, TRAIN

_LINES = {PRIOR.name: "prior", TRAIN.name: "train"}  # lines file → eval_set of its orders
_MAX_DAYS = 30


# --- the rules ---------------------------------------------------------------------------------


def _check_empty(ctx: _Context) -> None:
    """Orders and prior lines are needed for any prediction; train lines are checked per order."""
    for name in (ORDERS.name, PRIOR.name):
        # A table read with none of its columns (each reported missing) has no rows to count.
        if name in ctx.frames and ctx.frames[name].width and ctx.frames[name].height == 0:
            ctx.add(name, "", "table has no rows", 0)


def _check_keys(ctx: _Context) -> None:
    """Each table's key, and (user_id, order_number) in orders, identify one row."""
    keys = [(name, table.key) for name, table in TABLES.items()]
    keys.append((ORDERS.name, ("user_id", "order_number")))
    for name, key in keys:
        if not ctx.has(name, *key):
            continue
        groups = _duplicate_keys(ctx.frames[name], key)
        if groups.height:
            ctx.add(
                name,
                ", ".join(key),
                f"duplicate key: {groups.height:,} value(s) of ({', '.join(key)}) on more than one row",
                int(groups.get_column("rows").sum()),
                _format(groups.head(N_EXAMPLES)),
            )


def _duplicate_keys(frame: pl.DataFrame, key: tuple[str, ...]) -> pl.DataFrame:
    """The key values on more than one row, with their row counts, sorted by key."""
    # Sort and compare neighbours: with ~32M distinct (order_id, product_id) pairs this is
    # several times faster than a group_by, and the groups left are the duplicates only.
    same_as = [pl.all_horizontal(pl.col(c) == pl.col(c).shift(n) for c in key) for n in (1, -1)]
    return (
        frame.lazy()
        .select(key)
        .filter(_not_null(*key))
        .sort(key)
        .filter(pl.any_horizontal(same.fill_null(False) for same in same_as))
        .group_by(key)
        .agg(pl.len().alias("rows"))
        .sort(key)
        .collect()
    )


def _check_order_numbers(ctx: _Context) -> None:
    """A user's orders are numbered 1..n without gaps."""
    if not ctx.has(ORDERS.name, "user_id", "order_number"):
        return
    users = (
        ctx.frames[ORDERS.name]
        .lazy()
        .filter(_not_null("user_id", "order_number"))
        .group_by("user_id")
        .agg(pl.len().alias("rows"), pl.col("order_number").unique().sort().alias("numbers"))
        .filter(
            (pl.col("numbers").list.first() != 1)
            | (pl.col("numbers").list.last() != pl.col("numbers").list.len())
        )
        .collect()
    )
    if users.height:
        examples = users.bottom_k(N_EXAMPLES, by="user_id").sort("user_id")
        ctx.add(
            ORDERS.name,
            "order_number",
            f"order_number does not run 1..n without gaps for {users.height:,} user(s)",
            int(users.get_column("rows").sum()),
            _format(
                examples.select("user_id", pl.col("numbers").list.head(12).alias("order_number"))
            ),
        )


def _check_targets(ctx: _Context) -> None:
    """Each user has exactly one train or test order, and it is their last by order_number."""
    if not ctx.has(ORDERS.name, "user_id", "eval_set", "order_number"):
        return
    readable = _not_null("user_id", "eval_set", "order_number")
    is_target = pl.col("eval_set") != "prior"
    per_user = is_target.sum().over("user_id")
    last = pl.col("order_number") == pl.col("order_number").max().over("user_id")
    show = ("order_id", "user_id", "order_number")
    ctx.rows(
        ORDERS.name,
        "eval_set",
        readable & (per_user == 0),
        "user has no train or test order",
        show=show,
    )
    ctx.rows(
        ORDERS.name,
        "eval_set",
        readable & is_target & (per_user > 1),
        "user has more than one train or test order",
        show=show,
    )
    ctx.rows(
        ORDERS.name,
        "eval_set",
        readable & is_target & (per_user == 1) & ~last,
        "the train or test order is not the user's last order by order_number",
        show=show,
    )


def _check_order_columns(ctx: _Context) -> None:
    """Day of week, hour of day, and days since the prior order lie in their ranges."""
    name = ORDERS.name
    show: tuple[str, ...] = ("order_id",)
    if ctx.has(name, "order_dow"):
        ctx.rows(
            name, "order_dow", ~pl.col("order_dow").is_between(0, 6), "outside 0 to 6", show=show
        )
    if ctx.has(name, "order_hour_of_day"):
        hour = pl.col("order_hour_of_day")
        ctx.rows(name, "order_hour_of_day", ~hour.is_between(0, 23), "outside 0 to 23", show=show)
    if not ctx.has(name, "days_since_prior_order"):
        return
    days = pl.col("days_since_prior_order")
    # NaN is not null and not between 0 and 30, so it lands here too.
    ctx.rows(
        name,
        "days_since_prior_order",
        ~days.is_between(0, _MAX_DAYS),
        f"outside 0 to {_MAX_DAYS}",
        show=show,
    )
    if ctx.has(name, "order_number"):
        first = pl.col("order_number") == 1
        show = ("order_id", "order_number")
        ctx.rows(
            name,
            "days_since_prior_order",
            first & days.is_not_null(),
            "set on a user's first order (must be empty)",
            show=show,
        )
        ctx.rows(
            name,
            "days_since_prior_order",
            (pl.col("order_number") > 1) & days.is_null(),
            "empty on a later order (only the first order has no prior order)",
            show=show,
        )


def _check_lines(ctx: _Context) -> None:
    """Each line belongs to an order of its file's eval_set; each such order has lines."""
    for name, eval_set in _LINES.items():
        if ctx.has(name, "add_to_cart_order"):
            cart = pl.col("add_to_cart_order")
            ctx.rows(
                name, "add_to_cart_order", cart < 1, "below 1", show=("order_id", "product_id")
            )
        if ctx.has(name, "reordered"):
            ctx.rows(
                name,
                "reordered",
                ~pl.col("reordered").is_in([0, 1]),
                "not 0 or 1",
                show=("order_id", "product_id"),
            )
        if not (ctx.has(name, "order_id") and ctx.has(ORDERS.name, "order_id", "eval_set")):
            continue
        # An order with an unreadable eval_set is still an order: its lines are not "not in orders".
        orders = ctx.frames[ORDERS.name].filter(_not_null("order_id"))
        order_id = pl.col("order_id")

        def ids(kind: str | None, orders: pl.DataFrame = orders) -> pl.Series:
            chosen = orders if kind is None else orders.filter(pl.col("eval_set") == kind)
            return chosen.get_column("order_id").implode()

        show = ("order_id", "product_id") if ctx.has(name, "product_id") else ()
        ctx.rows(name, "order_id", ~order_id.is_in(ids(None)), "order_id not in orders", show=show)
        ctx.rows(
            name,
            "order_id",
            order_id.is_in(ids("test")),
            "lines for a test order (test orders have none)",
            show=show,
        )
        other = "train" if eval_set == "prior" else "prior"
        ctx.rows(
            name,
            "order_id",
            order_id.is_in(ids(other)),
            f"lines for a {other} order in the {eval_set} file",
            show=show,
        )
        in_lines = ctx.frames[name].get_column("order_id").drop_nulls().unique().implode()
        ctx.rows(
            ORDERS.name,
            "order_id",
            (pl.col("eval_set") == eval_set) & ~order_id.is_in(in_lines),
            f"{eval_set} order with no lines in {ctx.files[name]}",
            show=("order_id", "user_id"),
        )


def _check_references(ctx: _Context) -> None:
    """Products of the lines, and aisles and departments of products, exist when those tables are given."""
    refs = [(name, "product_id", PRODUCTS.name) for name in _LINES]
    refs += [(PRODUCTS.name, "aisle_id", "aisles"), (PRODUCTS.name, "department_id", "departments")]
    for name, column, target in refs:
        if ctx.has(name, column) and ctx.has(target, column):
            known = ctx.frames[target].get_column(column).drop_nulls().unique().implode()
            ctx.rows(
                name, column, ~pl.col(column).is_in(known), f"{column} not in {ctx.files[target]}"
            )


_CHECKS = (
    _check_empty,
    _check_keys,
    _check_order_numbers,
    _check_targets,
    _check_order_columns,
    _check_lines,
    _check_references,
)
