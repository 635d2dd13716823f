"""Validation rules: each broken rule is reported with file, column and row count; warnings are not errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import TABLES
from basketcast.data.validate import summarize, validate

Tables = dict[str, pl.DataFrame]
Writer = Callable[..., Path]
ORDERS, PRIOR, TRAIN = "orders", "order_products__prior", "order_products__train"


# --- helpers -------------------------------------------------------------------------------------


def problems_of(tables: Tables) -> tuple[Problem, ...]:
    """The problems validate reports; fails the test if it passes."""
    with pytest.raises(DataError) as info:
        validate({name: frame.lazy() for name, frame in tables.items()})
    return info.value.problems


def find(problems: tuple[Problem, ...], file: str, column: str, phrase: str) -> Problem:
    """The one problem about (file, column) whose message holds `phrase`."""
    hits = [p for p in problems if p.file == file and p.column == column and phrase in p.message]
    assert len(hits) == 1, f"no single {file}/{column}/{phrase!r} in:\n" + "\n".join(
        map(str, problems)
    )
    return hits[0]


def set_cell(frame: pl.DataFrame, row: int, column: str, value: str | None) -> pl.DataFrame:
    hit = pl.int_range(pl.len()) == row
    return frame.with_columns(
        pl.when(hit).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
    )


def where(frame: pl.DataFrame, **equal: str) -> int:
    """Index of the first row whose columns equal the given text values."""
    mask = pl.all_horizontal(pl.col(c) == v for c, v in equal.items())
    return int(frame.with_row_index().filter(mask).get_column("index")[0])


def edit(
    tables: Tables, name: str, match: dict[str, str], column: str, value: str | None
) -> Tables:
    tables[name] = set_cell(tables[name], where(tables[name], **match), column, value)
    return tables


def drop_row(tables: Tables, name: str, match: dict[str, str]) -> Tables:
    frame = tables[name]
    tables[name] = frame.filter(pl.int_range(pl.len()) != where(frame, **match))
    return tables


def add_row(tables: Tables, name: str, row: tuple[str, ...]) -> Tables:
    tables[name] = pl.concat(
        [tables[name], pl.DataFrame([row], schema=tables[name].schema, orient="row")]
    )
    return tables


# --- the valid dataset ----------------------------------------------------------------------------


def test_the_valid_dataset_passes_unchanged(raw_tables: Tables) -> None:
    dataset = validate({name: frame.lazy() for name, frame in raw_tables.items()}, source="tiny")
    assert dataset.warnings == ()
    assert (dataset.orders.height, dataset.prior.height, dataset.train.height) == (8, 8, 4)
    assert dataset.n_users == 3
    assert dataset.orders.schema == TABLES[ORDERS].polars_schema
    # values pass through untouched: same rows, same order
    assert dataset.orders.get_column("order_id").to_list() == [10, 11, 12, 20, 21, 22, 30, 31]
    assert (
        dataset.products is not None
        and dataset.products.get_column("product_name")[1] == "Milk, whole"
    )


def test_summary_known_answers(raw_tables: Tables) -> None:
    summary = summarize(validate({n: f.lazy() for n, f in raw_tables.items()}))
    assert summary.users == 3
    assert summary.orders == {"prior": 5, "train": 2, "test": 1}
    assert (
        summary.prior_lines,
        summary.train_lines,
        summary.products_bought,
        summary.products_listed,
    ) == (8, 4, 6, 6)
    assert summary.mean_basket_size == pytest.approx(12 / 7)
    assert summary.mean_orders_per_user == pytest.approx(8 / 3)
    # prior repeats: product 1 in order 11, product 4 in order 21 → 2 of 8 lines
    assert summary.prior_reorder_ratio == pytest.approx(0.25)
    # order 12 repeats products 1 and 2; order 31 repeats nothing
    assert summary.train_orders_without_reorder == pytest.approx(0.5)


# --- one broken case per rule: (file, column, phrase in the message, row count) ---------------------

CASES: dict[str, tuple[Callable[[Tables], Tables], tuple[str, str, str, int]]] = {
    "required table": (
        lambda t: {k: v for k, v in t.items() if k != TRAIN},
        (TRAIN, "", "required table missing", 0),
    ),
    "missing column": (
        lambda t: {**t, ORDERS: t[ORDERS].drop("order_dow")},
        (ORDERS, "order_dow", "missing column", 0),
    ),
    "renamed column": (
        lambda t: {**t, PRIOR: t[PRIOR].rename({"product_id": "productid"})},
        (PRIOR, "product_id", "missing column (found: order_id, productid", 0),
    ),
    "id not a number": (
        lambda t: edit(t, ORDERS, {"order_id": "21"}, "order_id", "abc"),
        (ORDERS, "order_id", "not whole numbers", 1),
    ),
    "int8 overflow": (
        lambda t: edit(t, ORDERS, {"order_id": "21"}, "order_dow", "300"),
        (ORDERS, "order_dow", "from -128 to 127", 1),
    ),
    "days not a number": (
        lambda t: edit(t, ORDERS, {"order_id": "21"}, "days_since_prior_order", "seven"),
        (ORDERS, "days_since_prior_order", "not numbers", 1),
    ),
    "eval_set label": (
        lambda t: edit(t, ORDERS, {"order_id": "31"}, "eval_set", "Train"),
        (ORDERS, "eval_set", "values other than 'prior', 'train', 'test'", 1),
    ),
    "null id": (
        lambda t: edit(t, PRIOR, {"order_id": "20"}, "product_id", None),
        (PRIOR, "product_id", "missing values", 1),
    ),
    "empty orders": (
        lambda t: {**t, ORDERS: t[ORDERS].clear()},
        (ORDERS, "", "table has no rows", 0),
    ),
    "empty table": (lambda t: {**t, PRIOR: t[PRIOR].clear()}, (PRIOR, "", "table has no rows", 0)),
    "duplicate order_id": (
        lambda t: edit(t, ORDERS, {"order_id": "31"}, "order_id", "30"),
        (ORDERS, "order_id", "duplicate key", 2),
    ),
    "duplicate line": (
        lambda t: add_row(t, PRIOR, ("21", "5", "3", "0")),
        (PRIOR, "order_id, product_id", "duplicate key", 2),
    ),
    "duplicate order_number": (
        lambda t: edit(t, ORDERS, {"order_id": "21"}, "order_number", "1"),
        (ORDERS, "user_id, order_number", "duplicate key", 2),
    ),
    "duplicate product": (
        lambda t: edit(t, "products", {"product_id": "6"}, "product_id", "5"),
        ("products", "product_id", "duplicate key", 2),
    ),
    "order_number gap": (
        lambda t: edit(t, ORDERS, {"order_id": "12"}, "order_number", "4"),
        (ORDERS, "order_number", "without gaps for 1 user", 3),
    ),
    "no target": (
        lambda t: edit(t, ORDERS, {"order_id": "31"}, "eval_set", "prior"),
        (ORDERS, "eval_set", "no train or test order", 2),
    ),
    "two targets": (
        lambda t: edit(t, ORDERS, {"order_id": "11"}, "eval_set", "test"),
        (ORDERS, "eval_set", "more than one train or test order", 2),
    ),
    "target not last": (
        lambda t: edit(
            edit(t, ORDERS, {"order_id": "11"}, "order_number", "3"),
            ORDERS,
            {"order_id": "12"},
            "order_number",
            "2",
        ),
        (ORDERS, "eval_set", "not the user's last order", 1),
    ),
    "days on first order": (
        lambda t: edit(t, ORDERS, {"order_id": "20"}, "days_since_prior_order", "5"),
        (ORDERS, "days_since_prior_order", "set on a user's first order", 1),
    ),
    "days missing later": (
        lambda t: edit(t, ORDERS, {"order_id": "31"}, "days_since_prior_order", None),
        (ORDERS, "days_since_prior_order", "empty on a later order", 1),
    ),
    "days too large": (
        lambda t: edit(t, ORDERS, {"order_id": "21"}, "days_since_prior_order", "30.5"),
        (ORDERS, "days_since_prior_order", "outside 0 to 30", 1),
    ),
    "days NaN": (
        lambda t: edit(t, ORDERS, {"order_id": "21"}, "days_since_prior_order", "NaN"),
        (ORDERS, "days_since_prior_order", "outside 0 to 30", 1),
    ),
    "dow": (
        lambda t: edit(t, ORDERS, {"order_id": "10"}, "order_dow", "7"),
        (ORDERS, "order_dow", "outside 0 to 6", 1),
    ),
    "hour": (
        lambda t: edit(t, ORDERS, {"order_id": "10"}, "order_hour_of_day", "-1"),
        (ORDERS, "order_hour_of_day", "outside 0 to 23", 1),
    ),
    "dangling order": (
        lambda t: edit(t, PRIOR, {"order_id": "10", "product_id": "2"}, "order_id", "99"),
        (PRIOR, "order_id", "order_id not in orders", 1),
    ),
    "prior line on train order": (
        lambda t: add_row(t, PRIOR, ("31", "6", "2", "0")),
        (PRIOR, "order_id", "lines for a train order in the prior file", 1),
    ),
    "train line on prior order": (
        lambda t: add_row(t, TRAIN, ("30", "1", "1", "0")),
        (TRAIN, "order_id", "lines for a prior order in the train file", 1),
    ),
    "line on test order": (
        lambda t: add_row(t, TRAIN, ("22", "4", "1", "1")),
        (TRAIN, "order_id", "lines for a test order", 1),
    ),
    "prior order without lines": (
        lambda t: drop_row(t, PRIOR, {"order_id": "30"}),
        (ORDERS, "order_id", "prior order with no lines in order_products__prior", 1),
    ),
    "train order without lines": (
        lambda t: drop_row(t, TRAIN, {"order_id": "31"}),
        (ORDERS, "order_id", "train order with no lines in order_products__train", 1),
    ),
    "add_to_cart_order": (
        lambda t: edit(t, TRAIN, {"order_id": "12", "product_id": "5"}, "add_to_cart_order", "0"),
        (TRAIN, "add_to_cart_order", "below 1", 1),
    ),
    "reordered value": (
        lambda t: edit(t, TRAIN, {"order_id": "12", "product_id": "5"}, "reordered", "2"),
        (TRAIN, "reordered", "not 0 or 1", 1),
    ),
    "dangling product": (
        lambda t: edit(t, TRAIN, {"order_id": "12", "product_id": "5"}, "product_id", "77"),
        (TRAIN, "product_id", "product_id not in products", 1),
    ),
    "dangling aisle": (
        lambda t: edit(t, "products", {"product_id": "3"}, "aisle_id", "9"),
        ("products", "aisle_id", "aisle_id not in aisles", 1),
    ),
    "dangling department": (
        lambda t: edit(t, "products", {"product_id": "3"}, "department_id", "9"),
        ("products", "department_id", "department_id not in departments", 1),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_is_named_with_file_column_and_count(raw_tables: Tables, case: str) -> None:
    corrupt, (file, column, phrase, count) = CASES[case]
    problem = find(problems_of(corrupt(raw_tables)), file, column, phrase)
    assert problem.count == count
    if count:
        assert 1 <= len(problem.examples) <= 5


def test_examples_show_the_row_and_the_bad_value(raw_tables: Tables) -> None:
    tables = edit(raw_tables, ORDERS, {"order_id": "21"}, "order_id", "abc")
    problem = find(problems_of(tables), ORDERS, "order_id", "not whole numbers")
    assert problem.examples == ("row 5: order_id='abc'",)
    text = str(problem)
    assert text.startswith("orders: column 'order_id'") and "(1 row)" in text


def test_every_problem_is_reported_at_once(raw_tables: Tables) -> None:
    tables = edit(raw_tables, ORDERS, {"order_id": "10"}, "order_dow", "9")
    tables = edit(tables, TRAIN, {"order_id": "31"}, "reordered", "5")
    tables[PRIOR] = tables[PRIOR].drop("add_to_cart_order")
    tables[ORDERS] = tables[ORDERS].drop("order_id")  # the examples of order_dow cannot show it
    problems = problems_of(tables)
    find(problems, ORDERS, "order_id", "missing column")
    find(problems, ORDERS, "order_dow", "outside 0 to 6")
    find(problems, TRAIN, "reordered", "not 0 or 1")
    find(problems, PRIOR, "add_to_cart_order", "missing column")


def test_many_bad_rows_are_counted_with_five_examples(raw_tables: Tables) -> None:
    tables = {**raw_tables, PRIOR: raw_tables[PRIOR].with_columns(reordered=pl.lit("x"))}
    problem = find(problems_of(tables), PRIOR, "reordered", "not whole numbers")
    assert problem.count == 8
    assert len(problem.examples) == 5


def test_products_are_not_checked_without_a_products_table(raw_tables: Tables) -> None:
    tables = edit(raw_tables, TRAIN, {"order_id": "12", "product_id": "5"}, "product_id", "77")
    del tables["products"], tables["aisles"], tables["departments"]
    dataset = validate({n: f.lazy() for n, f in tables.items()})
    assert dataset.products is None and 77 in dataset.train.get_column("product_id").to_list()


def test_stored_floats_that_are_not_whole_are_flagged(raw_tables: Tables) -> None:
    # Parquet keeps its own types; they go through the same strict cast as text.
    tables = {n: f.lazy() for n, f in raw_tables.items()}
    numbers = [1.0, 2.0, 3.5, 1.0, 2.0, 3.0, 1.0, 2.0]
    tables[ORDERS] = tables[ORDERS].with_columns(order_number=pl.Series(numbers))
    with pytest.raises(DataError) as info:
        validate(tables)
    problem = find(info.value.problems, ORDERS, "order_number", "not whole numbers")
    assert problem.count == 1 and problem.examples == ("row 3: order_number='3.5'",)


def test_text_ids_written_as_whole_decimals_read_as_parquet_floats_do(raw_tables: Tables) -> None:
    # A float column's export ("21.0") is the whole number it holds, as in Parquet (above);
    # anything else after the point is still flagged, by its row.
    plain = validate({n: f.lazy() for n, f in raw_tables.items()})
    decimal = edit(dict(raw_tables), ORDERS, {"order_id": "21"}, "order_id", " 21.0 ")
    decimal = edit(decimal, PRIOR, {"order_id": "10", "product_id": "1"}, "product_id", "1.00")
    read = validate({n: f.lazy() for n, f in decimal.items()})
    assert read.orders.equals(plain.orders) and read.prior.equals(plain.prior)
    half = edit(dict(raw_tables), ORDERS, {"order_id": "21"}, "order_id", "21.5")
    half = edit(half, ORDERS, {"order_id": "10"}, "order_number", "1.0")
    problem = find(problems_of(half), ORDERS, "order_id", "not whole numbers")
    assert problem.count == 1 and problem.examples == ("row 5: order_id='21.5'",)
    assert not [p for p in problems_of(half) if p.column == "order_number"]


def test_stored_type_that_cannot_be_cast_is_named(raw_tables: Tables) -> None:
    tables = {n: f.lazy() for n, f in raw_tables.items()}
    tables[ORDERS] = tables[ORDERS].with_columns(order_dow=pl.concat_list(pl.col("order_dow")))
    with pytest.raises(DataError) as info:
        validate(tables)
    find(
        info.value.problems,
        ORDERS,
        "order_dow",
        "stored as List(String), which cannot be read as Int8",
    )


def test_unknown_table_name_is_a_programming_error(raw_tables: Tables) -> None:
    with pytest.raises(ValueError, match="unknown table"):
        validate({"order": raw_tables[ORDERS].lazy()})


# --- reordered: a warning, not an error --------------------------------------------------------------


def test_reordered_disagreeing_with_history_is_a_warning(raw_tables: Tables) -> None:
    tables = edit(raw_tables, PRIOR, {"order_id": "11", "product_id": "1"}, "reordered", "0")
    tables = edit(tables, TRAIN, {"order_id": "31", "product_id": "2"}, "reordered", "1")
    tables = edit(tables, TRAIN, {"order_id": "12", "product_id": "5"}, "reordered", "1")
    dataset = validate({n: f.lazy() for n, f in tables.items()})
    assert len(dataset.warnings) == 2
    prior, train = dataset.warnings
    assert prior.startswith(PRIOR) and "1 line(s) say 0 but the user had bought" in prior
    assert train.startswith(TRAIN) and "2 line(s) say 1 but the user had not bought" in train
    assert (
        dataset.prior.filter(order_id=11, product_id=1).get_column("reordered").item() == 0
    )  # not fixed


# --- random corruptions, each breaking a known rule ------------------------------------------------

ID_COLUMNS = {
    ORDERS: ("order_id", "user_id"),
    PRIOR: ("order_id", "product_id"),
    TRAIN: ("order_id", "product_id"),
    "products": ("product_id", "aisle_id", "department_id"),
}
Expected = tuple[str, str, str]
STRUCTURAL = ("drop", "rename")
VALUES = (
    "not_id",
    "gap",
    "dangling_order",
    "dangling_ref",
    "duplicate",
    "range",
    "eval_set",
    "test_lines",
)


def _row(draw: st.DrawFn, frame: pl.DataFrame) -> int:
    return draw(st.integers(0, frame.height - 1))


@st.composite
def corruptions(
    draw: st.DrawFn, tables: Tables, kinds: tuple[str, ...] = (*STRUCTURAL, *VALUES)
) -> tuple[Tables, Expected]:
    """One random corruption of the valid tables and the rule it must break."""
    tables = dict(tables)
    kind = draw(st.sampled_from(kinds))
    if kind in ("drop", "rename"):
        name = draw(st.sampled_from(sorted(TABLES)))
        column = draw(st.sampled_from(list(TABLES[name].columns)))
        frame = tables[name]
        if kind == "drop":
            tables[name] = frame.drop(column)
        else:
            new = draw(
                st.sampled_from(
                    [column.upper(), column + "_", " " + column, column.replace("_", "")]
                ).filter(lambda name: name != column)  # "aisle" has no "_" to remove
            )
            tables[name] = frame.rename({column: new})
        return tables, (name, column, "missing column")
    if kind == "not_id":
        name = draw(st.sampled_from(sorted(ID_COLUMNS)))
        column = draw(st.sampled_from(ID_COLUMNS[name]))
        junk = draw(
            st.text("abcxyz.-_ e1", min_size=1, max_size=6).filter(
                # a letter makes it text whatever else is around it ("-1" is a fine id)
                lambda s: re.search(r"[a-z_]", s)
            )
        )
        tables[name] = set_cell(tables[name], _row(draw, tables[name]), column, junk)
        return tables, (name, column, "not whole numbers")
    if kind == "gap":
        orders = tables[ORDERS]
        row = _row(draw, orders)
        number = int(orders.get_column("order_number")[row]) + draw(st.integers(1, 5))
        tables[ORDERS] = set_cell(orders, row, "order_number", str(number))
        return tables, (ORDERS, "order_number", "without gaps")
    if kind == "dangling_order":
        name = draw(st.sampled_from([PRIOR, TRAIN]))
        order_id = str(draw(st.integers(100, 10**12)))
        tables[name] = set_cell(tables[name], _row(draw, tables[name]), "order_id", order_id)
        return tables, (name, "order_id", "order_id not in orders")
    if kind == "dangling_ref":
        name, column, target = draw(
            st.sampled_from(
                [
                    (PRIOR, "product_id", "products"),
                    (TRAIN, "product_id", "products"),
                    ("products", "aisle_id", "aisles"),
                    ("products", "department_id", "departments"),
                ]
            )
        )
        value = str(draw(st.integers(-(10**9), -1) | st.integers(100, 10**12)))
        tables[name] = set_cell(tables[name], _row(draw, tables[name]), column, value)
        return tables, (name, column, f"{column} not in {target}")
    if kind == "duplicate":
        name = draw(st.sampled_from(sorted(TABLES)))
        frame = tables[name]
        tables[name] = pl.concat([frame, frame[_row(draw, frame)]])
        return tables, (name, ", ".join(TABLES[name].key), "duplicate key")
    if kind == "range":
        column, values, phrase = draw(
            st.sampled_from(
                [
                    ("order_dow", st.integers(7, 127) | st.integers(-128, -1), "outside 0 to 6"),
                    (
                        "order_hour_of_day",
                        st.integers(24, 127) | st.integers(-128, -1),
                        "outside 0 to 23",
                    ),
                    (
                        "days_since_prior_order",
                        st.floats(30.001, 1e6) | st.floats(-1e6, -0.001),
                        "outside 0 to 30",
                    ),
                ]
            )
        )
        orders = tables[ORDERS]
        later = (
            orders.with_row_index()
            .filter(pl.col("order_number") != "1")
            .get_column("index")
            .to_list()
        )
        row = draw(st.sampled_from(later))  # on a first order, any days value is already wrong
        tables[ORDERS] = set_cell(orders, row, column, str(draw(values)))
        return tables, (ORDERS, column, phrase)
    if kind == "eval_set":
        orders = tables[ORDERS]
        row = _row(draw, orders)
        current = orders.get_column("eval_set")[row]
        label = draw(
            st.sampled_from(["prior", "train", "test", "Prior", "valid", "", "train "]).filter(
                lambda s: s != current
            )
        )
        tables[ORDERS] = set_cell(orders, row, "eval_set", label)
        if label not in ("prior", "train", "test"):
            return tables, (ORDERS, "eval_set", "values other than")
        if label == "prior":
            return tables, (ORDERS, "eval_set", "no train or test order")
        if current == "prior":
            return tables, (ORDERS, "eval_set", "more than one train or test order")
        # train ↔ test: the lines then sit on a test order, or a train order has none
        if label == "test":
            return tables, (TRAIN, "order_id", "lines for a test order")
        return tables, (ORDERS, "order_id", "train order with no lines")
    # test_lines: a train line that points at a test order
    test_ids = tables[ORDERS].filter(pl.col("eval_set") == "test").get_column("order_id")
    order_id = draw(st.sampled_from(test_ids.to_list() or ["22"]))  # "22" unless relabelled
    product = draw(st.sampled_from(tables["products"].get_column("product_id").to_list()))
    tables = add_row(tables, TRAIN, (order_id, product, "1", "0"))
    return tables, (TRAIN, "order_id", "lines for a test order")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_corruptions_are_caught_by_their_rule(
    raw_tables: Tables, data: st.DataObject
) -> None:
    tables, (file, column, phrase) = data.draw(corruptions(raw_tables))
    problems = problems_of(tables)
    hits = [p for p in problems if p.file == file and p.column == column and phrase in p.message]
    assert hits, f"expected {file}/{column}/{phrase!r}, got:\n" + "\n".join(map(str, problems))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_combined_corruptions_never_crash(raw_tables: Tables, data: st.DataObject) -> None:
    # Several corruptions at once may hide one another's rule (two wrongs can even cancel),
    # so this asserts robustness only: a Dataset or a DataError, nothing else, and a
    # missing column, which nothing can hide, is always named.
    tables = raw_tables
    for _ in range(data.draw(st.integers(2, 4))):
        tables, _rule = data.draw(corruptions(tables, VALUES))
    structural = data.draw(st.booleans())
    if structural:
        tables, (file, column, phrase) = data.draw(corruptions(tables, STRUCTURAL))
    try:
        validate({name: frame.lazy() for name, frame in tables.items()})
    except DataError as exc:
        if structural:
            assert any(
                p.file == file and p.column == column and phrase in p.message for p in exc.problems
            )
    else:
        assert not structural


# --- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_cli_validate_ok(
    tmp_path: Path, raw_tables: Tables, writer: Writer, runner: CliRunner
) -> None:
    result = runner.invoke(app, ["validate", str(writer(tmp_path, raw_tables))])
    assert result.exit_code == 0, result.output
    assert (
        "OK: 3 users, 8 orders (5 prior, 2 train, 1 test), 8 prior lines, 4 train lines"
        in result.output
    )
    assert "warning" not in result.output


def test_cli_validate_prints_warnings_and_exits_0(
    tmp_path: Path, raw_tables: Tables, writer: Writer, runner: CliRunner
) -> None:
    tables = edit(raw_tables, PRIOR, {"order_id": "11", "product_id": "1"}, "reordered", "0")
    result = runner.invoke(app, ["validate", str(writer(tmp_path, tables))])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "say 0" in result.output


def test_cli_validate_bad_data_exits_2(
    tmp_path: Path, raw_tables: Tables, writer: Writer, runner: CliRunner
) -> None:
    tables = edit(raw_tables, ORDERS, {"order_id": "10"}, "order_dow", "9")
    tables = edit(tables, TRAIN, {"order_id": "31"}, "reordered", "5")
    result = runner.invoke(app, ["validate", str(writer(tmp_path, tables))])
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert "2 problem(s)" in output
    assert "orders.csv: column 'order_dow': outside 0 to 6 (1 row)" in output
    assert "order_products__train.csv: column 'reordered': not 0 or 1 (1 row)" in output


def test_cli_validate_missing_folder_exits_2(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such folder" in result.output


def test_cli_describe(
    tmp_path: Path, raw_tables: Tables, writer: Writer, runner: CliRunner
) -> None:
    result = runner.invoke(app, ["describe", str(writer(tmp_path, raw_tables))])
    assert result.exit_code == 0, result.output
    for label, value in [
        ("users", "3"),
        ("test orders", "1"),
        ("prior lines", "8"),
        ("mean basket size", "1.71"),
        ("mean orders per user", "2.67"),
        ("reorder ratio of prior lines", "0.250"),
        ("train orders with no reorder", "0.500"),
    ]:
        assert re.search(rf"{label}\s*│\s*{re.escape(value)}\b", result.output), (
            label,
            result.output,
        )


def test_cli_describe_bad_data_exits_2(
    tmp_path: Path, raw_tables: Tables, writer: Writer, runner: CliRunner
) -> None:
    del raw_tables[ORDERS]
    result = runner.invoke(app, ["describe", str(writer(tmp_path, raw_tables))])
    assert result.exit_code == 2
    assert "required table missing" in result.output
