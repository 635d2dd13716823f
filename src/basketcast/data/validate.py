"""Check the loaded tables and return a typed `Dataset`, or one `DataError` listing every problem.

Values are cast to the dtypes of `basketcast.data.schema` strictly: a value
that does not fit is a problem (file, column, row count, examples), never a
crash and never a silent null. Nothing is dropped, renumbered or "fixed".
Every rule runs on whatever columns could be read, so one pass reports all
that is wrong; rows whose value in a column is null or unreadable are left out
of the later rules on that column (they are reported once, as such).

A `reordered` column that disagrees with the history is only a warning, in
`Dataset.warnings`: labels are taken from the history, never from that column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.schema import (
    EVAL_SET,
    ORDERS,
    PRIOR,
    PRODUCTS,
    TABLES,
    TRAIN,
    DType,
    TableSchema,
)

__all__ = ["Summary", "summarize", "validate"]

N_EXAMPLES = 5
_MAX_EXAMPLE_CHARS = 100
_BAD = "__bad__"  # prefix of the per-column "value did not cast" flags; no schema column starts with it
_ROW = "__row__"
# Columns that may be empty: the first order has no prior order; names are descriptive only.
_NULLABLE = {
    (ORDERS.name, "days_since_prior_order"),
    (PRODUCTS.name, "product_name"),
    ("aisles", "aisle"),
    ("departments", "department"),
}
_LINES = {PRIOR.name: "prior", TRAIN.name: "train"}  # lines file → eval_set of its orders
_MAX_DAYS = 30


# --- the public functions ------------------------------------------------------------------


def validate(
    tables: Mapping[str, pl.LazyFrame],
    *,
    source: str = "",
    files: Mapping[str, str] | None = None,
) -> Dataset:
    """Collect and check the tables; return them typed as a `Dataset`.

    Parameters
    ----------
    tables
        Table name (as in `basketcast.data.schema.TABLES`) → LazyFrame, as
        returned by `basketcast.data.load.load_tables`; columns may be text.
    source
        Where the tables came from (a folder), for the error message.
    files
        Table name → file name used in problems; defaults to the table name.

    Returns
    -------
    Dataset
        The tables with the schema's columns and dtypes, in schema order (extra
        columns are left out); `warnings` holds findings that are not errors.

    Raises
    ------
    DataError
        Listing every problem found, with file, column, row count and examples.
    ValueError
        If `tables` names a table that is not in the layout.
    """
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; expected names from {sorted(TABLES)}")
    names = {name: (files or {}).get(name, name) for name in TABLES}
    ctx = _Context(files=names)
    for name, table in TABLES.items():
        if name in tables:
            frame = _read_typed(ctx, tables[name], table)
            if frame is not None:
                ctx.frames[name] = frame
        elif table.required:
            ctx.problems.append(Problem(names[name], "", "required table missing"))
    for check in _CHECKS:
        check(ctx)
    if ctx.problems:
        raise DataError(ctx.problems, source=source)
    frames = ctx.frames
    return Dataset(
        orders=frames[ORDERS.name],
        prior=frames[PRIOR.name],
        train=frames[TRAIN.name],
        products=frames.get(PRODUCTS.name),
        aisles=frames.get("aisles"),
        departments=frames.get("departments"),
        warnings=tuple(
            _reordered_warnings(frames[ORDERS.name], frames[PRIOR.name], frames[TRAIN.name], names)
        ),
    )


@dataclass(frozen=True)
class Summary:
    """Headline figures of a `Dataset` (what `basketcast describe` prints)."""

    users: int
    orders: dict[str, int]
    prior_lines: int
    train_lines: int
    products_bought: int
    products_listed: int | None
    mean_basket_size: float
    mean_orders_per_user: float
    prior_reorder_ratio: float | None = None
    train_orders_without_reorder: float | None = None
    warnings: tuple[str, ...] = field(default=())

    def rows(self) -> list[tuple[str, str]]:
        """(label, formatted value) pairs, in display order."""
        out = [
            ("users", f"{self.users:,}"),
            *((f"{name} orders", f"{n:,}") for name, n in self.orders.items()),
            ("prior lines", f"{self.prior_lines:,}"),
            ("train lines", f"{self.train_lines:,}"),
            ("products bought", f"{self.products_bought:,}"),
        ]
        if self.products_listed is not None:
            out.append(("products listed", f"{self.products_listed:,}"))
        out += [
            ("mean basket size", f"{self.mean_basket_size:.2f}"),
            ("mean orders per user", f"{self.mean_orders_per_user:.2f}"),
        ]
        if self.prior_reorder_ratio is not None:
            out.append(("reorder ratio of prior lines", f"{self.prior_reorder_ratio:.3f}"))
        if self.train_orders_without_reorder is not None:
            out.append(("train orders with no reorder", f"{self.train_orders_without_reorder:.3f}"))
        return out


def summarize(dataset: Dataset, *, history: bool = True) -> Summary:
    """Count users, orders and lines of a validated `Dataset`.

    Parameters
    ----------
    dataset
        A validated dataset.
    history
        Also compute the reorder figures. They come from the history (a line is a
        reorder when the user bought the product in an earlier order), not from the
        `reordered` column, and need a pass over all lines: skip them for a quick count.
    """
    orders = dataset.orders
    by_set = dict(orders.get_column("eval_set").cast(pl.String).value_counts().iter_rows())
    n_sets = {name: by_set.get(name, 0) for name in EVAL_SET.categories}
    users = dataset.n_users
    n_lines = dataset.prior.height + dataset.train.height
    n_baskets = n_sets["prior"] + n_sets["train"]
    products = pl.concat(
        [dataset.prior.get_column("product_id"), dataset.train.get_column("product_id")]
    )
    ratio = without = None
    if history:
        lines = _history(orders, dataset.prior, dataset.train)
        prior_stats, train_stats = pl.collect_all(
            [
                lines.filter(pl.col("file") == "prior").select(pl.col("repeat").mean()),
                lines.filter(pl.col("file") == "train")
                .group_by("order_id")
                .agg(pl.col("repeat").any())
                .select((~pl.col("repeat")).mean()),
            ]
        )
        ratio, without = prior_stats.item(), train_stats.item()
    return Summary(
        users=users,
        orders=n_sets,
        prior_lines=dataset.prior.height,
        train_lines=dataset.train.height,
        products_bought=products.n_unique(),
        products_listed=None if dataset.products is None else dataset.products.height,
        mean_basket_size=n_lines / n_baskets if n_baskets else 0.0,
        mean_orders_per_user=orders.height / users if users else 0.0,
        prior_reorder_ratio=ratio,
        train_orders_without_reorder=without,
        warnings=dataset.warnings,
    )


# --- context shared by the rules ---------------------------------------------------------------


@dataclass
class _Context:
    """The typed frames read so far, their file names, and the problems found."""

    files: dict[str, str]
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def has(self, name: str, *columns: str) -> bool:
        frame = self.frames.get(name)
        return frame is not None and all(c in frame.columns for c in columns)

    def add(
        self, name: str, column: str, message: str, count: int, examples: Iterable[str] = ()
    ) -> None:
        self.problems.append(Problem(self.files[name], column, message, count, tuple(examples)))

    def rows(
        self, name: str, column: str, mask: pl.Expr, message: str, *, show: Iterable[str] = ()
    ) -> None:
        """Report the rows of table `name` where `mask` is true (null counts as false)."""
        frame = self.frames[name]
        count = frame.select(mask.sum()).item()
        if count:
            # Context columns help the reader, but one may itself be missing from the file.
            shown = [c for c in dict.fromkeys([*show, column]) if c in frame.columns]
            examples = (
                frame.with_row_index(_ROW, offset=1)
                .filter(mask)
                .head(N_EXAMPLES)
                .select(_ROW, *shown)
            )
            self.add(name, column, message, count, _format(examples))


def _format(frame: pl.DataFrame) -> list[str]:
    """One short string per row: "row 3: order_id=12, product_id=5"."""
    out = []
    for row in frame.iter_rows(named=True):
        head = f"row {row.pop(_ROW)}: " if _ROW in row else ""
        text = head + ", ".join(f"{k}={_value(v)}" for k, v in row.items())
        out.append(
            text if len(text) <= _MAX_EXAMPLE_CHARS else text[: _MAX_EXAMPLE_CHARS - 1] + "…"
        )
    return out


def _value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _not_null(*columns: str) -> pl.Expr:
    return pl.all_horizontal(pl.col(c).is_not_null() for c in columns)


# --- reading: columns present, cast strictly --------------------------------------------------


def _read_typed(ctx: _Context, lf: pl.LazyFrame, table: TableSchema) -> pl.DataFrame | None:
    """Collect `lf` cast to `table`'s dtypes, reporting missing columns and values that do not fit."""
    try:
        stored = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        ctx.add(table.name, "", f"cannot be read: {_first_line(exc)}", 0)
        return None
    found = ", ".join(stored.names())
    casts: dict[str, pl.Expr] = {}
    for column, dtype in table.columns.items():
        if column not in stored:
            ctx.add(table.name, column, f"missing column (found: {found})", 0)
        elif not _castable(stored[column], dtype):
            ctx.add(
                table.name,
                column,
                f"stored as {stored[column]}, which cannot be read as {dtype}",
                0,
            )
        else:
            casts[column] = _cast(pl.col(column), stored[column], dtype)
    bad = {c: pl.col(c).is_not_null() & expr.is_null() for c, expr in casts.items()}
    for column, expr in casts.items():
        if table.columns[column].is_integer() and stored[column].is_float():
            # A float that is not whole would be truncated by the cast; flag it instead.
            bad[column] = bad[column] | (expr.cast(pl.Float64) != pl.col(column))
    query = lf.select(
        *(expr.alias(c) for c, expr in casts.items()),
        *(flag.alias(_BAD + c) for c, flag in bad.items()),
    )
    try:
        # The streaming engine casts text column by chunk, so the 32M text lines never sit in memory.
        collected = query.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        ctx.add(table.name, "", f"cannot be read: {_first_line(exc)}", 0)
        return None
    counts = collected.select(pl.col(_BAD + c).sum() for c in bad).row(0) if bad else ()
    for column, count in zip(bad, counts, strict=True):
        if count:
            examples = (
                lf.with_row_index(_ROW, offset=1)
                .filter(bad[column])
                .head(N_EXAMPLES)
                .select(_ROW, pl.col(column).cast(pl.String))
                .collect()
            )
            ctx.add(
                table.name, column, _type_message(table.columns[column]), count, _format(examples)
            )
    # Nulls that were null in the file (unreadable values are reported above, not twice);
    # `validate` replaces this frame with the typed one once this returns.
    ctx.frames[table.name] = collected
    for column in casts:
        if (table.name, column) not in _NULLABLE:
            mask = pl.col(column).is_null() & ~pl.col(_BAD + column)
            ctx.rows(table.name, column, mask, "missing values (null or empty)")
    return collected.select(list(casts))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _castable(stored: pl.DataType, target: DType) -> bool:
    """Whether a column stored as `stored` can be read as `target` value by value."""
    text = stored in (pl.String, pl.Null) or isinstance(stored, pl.Categorical | pl.Enum)
    if target == pl.String:
        return text or stored.is_numeric()
    if isinstance(target, pl.Enum):
        return text
    return text or stored.is_numeric() or stored == pl.Boolean


def _cast(column: pl.Expr, stored: pl.DataType, target: DType) -> pl.Expr:
    if isinstance(stored, pl.Categorical | pl.Enum) and stored != target:
        column = column.cast(pl.String)  # categories are matched by name, not by code
    return column.cast(target, strict=False)


def _type_message(dtype: DType) -> str:
    if isinstance(dtype, pl.Enum):
        allowed = ", ".join(repr(c) for c in dtype.categories)
        return f"values other than {allowed}"
    if dtype.is_integer():
        for small, bits in ((pl.Int8, 8), (pl.Int16, 16), (pl.Int32, 32)):
            if dtype == small:
                low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
                return f"values that are not whole numbers from {low:,} to {high:,} ({dtype})"
        return f"values that are not whole numbers ({dtype})"
    return f"values that are not numbers ({dtype})"


# --- the rules ---------------------------------------------------------------------------------


def _check_empty(ctx: _Context) -> None:
    """Orders and prior lines are needed for any prediction; train lines are checked per order."""
    for name in (ORDERS.name, PRIOR.name):
        if name in ctx.frames and ctx.frames[name].height == 0:
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
        orders = ctx.frames[ORDERS.name].filter(_not_null("order_id", "eval_set"))
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


# --- warnings: the reordered column against the history ---------------------------------------


def _history(orders: pl.DataFrame, prior: pl.DataFrame, train: pl.DataFrame) -> pl.LazyFrame:
    """All lines with `file` (prior/train) and `repeat`: the user bought the product in an earlier order.

    Rows come out sorted by user, product and order number, not in file order.
    """
    lines = pl.concat(
        [
            prior.lazy().select("order_id", "product_id", "reordered", file=pl.lit("prior")),
            train.lazy().select("order_id", "product_id", "reordered", file=pl.lit("train")),
        ]
    )
    by = ["user_id", "product_id"]
    # Sorted, a line repeats an earlier purchase when the row above has the same user and
    # product; a sort beats a window over ~13M (user, product) groups by a wide margin.
    return (
        lines.join(orders.lazy().select("order_id", "user_id", "order_number"), on="order_id")
        .sort([*by, "order_number"])
        .with_columns(
            repeat=pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in by).fill_null(False)
        )
    )


def _reordered_warnings(
    orders: pl.DataFrame, prior: pl.DataFrame, train: pl.DataFrame, files: Mapping[str, str]
) -> list[str]:
    """Count lines whose `reordered` value disagrees with the history, per file."""
    counts = (
        _history(orders, prior, train)
        .group_by("file")
        .agg(
            said_yes=((pl.col("reordered") == 1) & ~pl.col("repeat")).sum(),
            said_no=((pl.col("reordered") == 0) & pl.col("repeat")).sum(),
        )
        .sort("file")
        .collect()
    )
    out = []
    for file, said_yes, said_no in counts.iter_rows():
        name = files[PRIOR.name if file == "prior" else TRAIN.name]
        if said_yes:
            out.append(
                f"{name}: column 'reordered': {said_yes:,} line(s) say 1 but the user had not bought "
                "the product in an earlier order; labels come from the history, not this column"
            )
        if said_no:
            out.append(
                f"{name}: column 'reordered': {said_no:,} line(s) say 0 but the user had bought "
                "the product in an earlier order; labels come from the history, not this column"
            )
    return out
