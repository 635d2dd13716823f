"""Loading a folder of CSV / CSV.gz / Parquet tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from basketcast.data.dataset import DataError, Dataset
from basketcast.data.load import find_tables, load_dataset, load_tables
from basketcast.data.schema import OPTIONAL_TABLES, REQUIRED_TABLES, TABLES

Writer = Callable[..., Path]
HEADER = ",".join(TABLES["orders"].columns).encode() + b"\n"


def assert_same_dataset(left: Dataset, right: Dataset) -> None:
    for name in ("orders", "prior", "train", "products", "aisles", "departments"):
        a, b = getattr(left, name), getattr(right, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert_frame_equal(a, b)
    assert left.warnings == right.warnings


def typed_tables(dataset: Dataset) -> dict[str, pl.DataFrame]:
    frames = {
        "orders": dataset.orders,
        "order_products__prior": dataset.prior,
        "order_products__train": dataset.train,
        "products": dataset.products,
        "aisles": dataset.aisles,
        "departments": dataset.departments,
    }
    return {name: frame for name, frame in frames.items() if frame is not None}


@pytest.fixture
def csv_dataset(tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer) -> Dataset:
    return load_dataset(writer(tmp_path / "csv", raw_tables, "csv"))


def test_load_tables_is_lazy_and_names_every_table(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    # A value that cannot be an id: loading must not look at it (no compute in load).
    raw_tables["orders"] = raw_tables["orders"].with_columns(order_id=pl.lit("abc"))
    tables = load_tables(writer(tmp_path, raw_tables))
    assert set(tables) == set(TABLES)
    assert all(isinstance(frame, pl.LazyFrame) for frame in tables.values())


def test_optional_tables_may_be_absent(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    for name in OPTIONAL_TABLES:
        del raw_tables[name]
    folder = writer(tmp_path, raw_tables)
    assert set(load_tables(folder)) == set(REQUIRED_TABLES)
    dataset = load_dataset(folder)
    assert dataset.products is None and dataset.aisles is None and dataset.departments is None
    assert dataset.orders.height == 8


def test_missing_required_tables_are_all_named(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    del raw_tables["orders"], raw_tables["order_products__train"]
    with pytest.raises(DataError) as info:
        load_tables(writer(tmp_path, raw_tables))
    files = {p.file for p in info.value.problems}
    assert files == {"orders.csv", "order_products__train.csv"}
    assert "orders.csv, orders.csv.gz or orders.parquet" in str(info.value)
    assert info.value.source == str(tmp_path)


def test_two_files_for_one_table_is_an_error(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    writer(tmp_path, raw_tables, "csv")
    writer(tmp_path, {"aisles": raw_tables["aisles"]}, "parquet")
    with pytest.raises(DataError) as info:
        find_tables(tmp_path)
    (problem,) = info.value.problems
    assert "aisles.csv" in problem.message and "aisles.parquet" in problem.message


def test_missing_folder_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_tables(tmp_path / "nope")


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_each_format_gives_the_same_dataset(
    tmp_path: Path,
    raw_tables: dict[str, pl.DataFrame],
    writer: Writer,
    csv_dataset: Dataset,
    fmt: str,
) -> None:
    # The parquet files hold text columns here, as a careless export would.
    dataset = load_dataset(writer(tmp_path / fmt, raw_tables, fmt))
    assert_same_dataset(dataset, csv_dataset)


def test_mixed_formats(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer, csv_dataset: Dataset
) -> None:
    formats = dict(
        zip(raw_tables, ["csv.gz", "parquet", "csv", "parquet", "csv.gz", "csv"], strict=True)
    )
    assert_same_dataset(load_dataset(writer(tmp_path, raw_tables, formats)), csv_dataset)


def test_dtypes_follow_the_schema(csv_dataset: Dataset) -> None:
    for name, frame in typed_tables(csv_dataset).items():
        assert frame.schema == TABLES[name].polars_schema, name
    # the first order's missing days stay null, nothing is filled in
    first = csv_dataset.orders.filter(pl.col("order_number") == 1)
    assert first.get_column("days_since_prior_order").null_count() == 3


@pytest.mark.parametrize(("there", "back"), [("parquet", "csv"), ("csv.gz", "parquet")])
def test_round_trip_between_formats(
    tmp_path: Path, writer: Writer, csv_dataset: Dataset, there: str, back: str
) -> None:
    once = load_dataset(writer(tmp_path / "a", typed_tables(csv_dataset), there))
    twice = load_dataset(writer(tmp_path / "b", typed_tables(once), back))
    assert_same_dataset(once, csv_dataset)
    assert_same_dataset(twice, csv_dataset)


def test_parquet_stored_types_are_cast_to_the_schema(
    tmp_path: Path, writer: Writer, csv_dataset: Dataset
) -> None:
    tables = typed_tables(csv_dataset)
    tables["orders"] = tables["orders"].with_columns(
        pl.col("order_id", "user_id").cast(pl.Int32),
        pl.col("eval_set").cast(pl.String).cast(pl.Categorical),
        pl.col("order_number", "order_dow").cast(pl.Float64),
        pl.col("days_since_prior_order").cast(pl.Float64),
    )
    tables["order_products__train"] = tables["order_products__train"].with_columns(
        pl.col("reordered").cast(pl.Boolean)
    )
    assert_same_dataset(load_dataset(writer(tmp_path, tables, "parquet")), csv_dataset)


def test_problems_name_the_file_with_its_suffix(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    raw_tables["orders"] = raw_tables["orders"].with_columns(
        order_id=pl.when(pl.col("order_id") == "21").then(pl.lit("x21")).otherwise("order_id")
    )
    formats = dict.fromkeys(raw_tables, "csv") | {"orders": "csv.gz"}
    with pytest.raises(DataError) as info:
        load_dataset(writer(tmp_path, raw_tables, formats))
    problem = next(
        p for p in info.value.problems if p.column == "order_id" and p.file == "orders.csv.gz"
    )
    assert problem.count == 1
    assert problem.examples == ("row 5: order_id='x21'",)  # the 5th data row of the file


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("orders.parquet", b"not a parquet file"),
        ("orders.csv", b""),
        ("orders.csv", HEADER + b"10,1,prior,1,0,8,,extra\n"),  # more fields than the header
    ],
)
def test_unreadable_file_is_a_problem_not_a_crash(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer, name: str, content: bytes
) -> None:
    del raw_tables["orders"]
    writer(tmp_path, raw_tables)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path)
    assert any(p.file == name and "cannot be read" in p.message for p in info.value.problems)


def test_header_only_csv_is_an_empty_table(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    raw_tables["order_products__prior"] = raw_tables["order_products__prior"].clear()
    with pytest.raises(DataError) as info:
        load_dataset(writer(tmp_path, raw_tables))
    messages = {(p.file, p.message) for p in info.value.problems}
    assert ("order_products__prior.csv", "table has no rows") in messages


def test_blank_lines_and_spaces_in_the_header_change_nothing(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer, csv_dataset: Dataset
) -> None:
    folder = writer(tmp_path / "odd", raw_tables, "csv")
    orders = folder / "orders.csv"
    header, _, body = orders.read_bytes().partition(b"\n")
    # "order_id, user_id, ..." and trailing newlines, as hand-edited exports have them.
    orders.write_bytes(header.replace(b",", b", ") + b"\n" + body + b"\n\n")
    prior = folder / "order_products__prior.csv"
    prior.write_bytes(prior.read_bytes() + b"\n\n\n")
    assert_same_dataset(load_dataset(folder), csv_dataset)


def test_a_semicolon_separated_table_is_one_problem_that_says_so(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer
) -> None:
    folder = writer(tmp_path, raw_tables, "csv")
    orders = folder / "orders.csv"
    orders.write_bytes(orders.read_bytes().replace(b",", b";"))
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    about_orders = [p for p in info.value.problems if p.file == "orders.csv"]
    assert len(about_orders) == 1  # not one per column, and no false "table has no rows"
    assert "separated by ';'" in about_orders[0].message


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda line: line + b",9", "cannot be read: line 3 has 8 fields, the header 7"),
        (lambda line: line.replace(b"prior", b'"prior', 1),
         'cannot be read: line 3: a quote (") opens a field that never closes'),
    ],
)  # fmt: skip
def test_a_row_that_breaks_the_csv_is_named_by_its_line(
    tmp_path: Path, raw_tables: dict[str, pl.DataFrame], writer: Writer, edit, message: str
) -> None:
    folder = writer(tmp_path, raw_tables, "csv")
    orders = folder / "orders.csv"
    lines = orders.read_bytes().split(b"\n")
    lines[2] = edit(lines[2])
    orders.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    assert ("orders.csv", message) in {(p.file, p.message) for p in info.value.problems}
