"""from_transactions on a hand-made table whose Instacart layout is known in full."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.data.dataset import DataError
from basketcast.data.load import load_dataset
from basketcast.data.sources.transactions import (
    Converted,
    from_transactions,
    read_table,
    stable_unit_hash,
    write_converted,
)
from basketcast.data.validate import validate

COLS = {"user": "cust", "order": "basket", "time": "ts", "product": "sku"}

# (cust, basket, ts, sku); row order is deliberately not time order.
# alice: A1 Sun 2024-01-07 10:15 (milk, eggs, milk again → merged)
#        A2 Mon 2024-01-08 09:00, 0.95 days later → 0 (bread, milk)
#        A3 Fri 2024-03-01 18:30, 53.4 days later → capped at 30 (milk, jam: jam not in catalogue)
# bob:   B2 and B1 both Sat 2024-02-03 12:00 → tie broken by id: B1 is 1st, B2 2nd (0 days)
#        B3 Mon 2024-02-05 12:00, exactly 2 days later; its tea line is at 12:05 but listed first
# carol: one order only → dropped
LINES = [
    ("alice", "A3", "2024-03-01 18:30:00", "milk"),
    ("alice", "A3", "2024-03-01 18:30:00", "jam"),
    ("bob", "B3", "2024-02-05 12:05:00", "tea"),
    ("bob", "B3", "2024-02-05 12:00:00", "eggs"),
    ("alice", "A1", "2024-01-07 10:15:00", "milk"),
    ("alice", "A1", "2024-01-07 10:15:00", "eggs"),
    ("alice", "A1", "2024-01-07 10:15:00", "milk"),
    ("bob", "B2", "2024-02-03 12:00:00", "eggs"),
    ("bob", "B2", "2024-02-03 12:00:00", "tea"),
    ("bob", "B1", "2024-02-03 12:00:00", "eggs"),
    ("alice", "A2", "2024-01-08 09:00:00", "bread"),
    ("alice", "A2", "2024-01-08 09:00:00", "milk"),
    ("carol", "C1", "2024-01-01 08:00:00", "milk"),
]
CATALOGUE = [
    ("milk", "Whole milk", "dairy", "fresh"),
    ("eggs", "Eggs", "dairy", "fresh"),
    ("bread", "Bread", "bakery", "fresh"),
    ("tea", "Tea", None, "pantry"),
    ("salt", "Salt", "spices", "pantry"),  # never bought: kept in the catalogue
]
# Dense string ids, in sorted string order.
UID = {"alice": 1, "bob": 2, "carol": 3}
OID = {"A1": 1, "A2": 2, "A3": 3, "B1": 4, "B2": 5, "B3": 6, "C1": 7}
PID = {"bread": 1, "eggs": 2, "jam": 3, "milk": 4, "salt": 5, "tea": 6}


def _lines() -> pl.DataFrame:
    return pl.DataFrame(LINES, schema=["cust", "basket", "ts", "sku"], orient="row")


def _catalogue() -> pl.DataFrame:
    return pl.DataFrame(CATALOGUE, schema=["sku", "name", "shelf", "dept"], orient="row")


def _seed_where(test_user: str, train_user: str, share: float = 0.5) -> int:
    """The first seed that puts `test_user` in test and `train_user` in train."""
    return next(
        s
        for s in range(1000)
        if stable_unit_hash(test_user, seed=s) < share <= stable_unit_hash(train_user, seed=s)
    )


@pytest.fixture(scope="module")
def seed() -> int:
    return _seed_where("alice", "bob")


@pytest.fixture(scope="module")
def converted(seed: int) -> Converted:
    return from_transactions(
        _lines(),
        **COLS,
        products=_catalogue(),
        product_name="name",
        aisle="shelf",
        department="dept",
        test_share=0.5,
        seed=seed,
    )


def _rows(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(r) for r in frame.iter_rows()]


def test_orders_are_numbered_timed_and_split(converted: Converted) -> None:
    orders = converted.tables["orders"]
    assert orders.columns == [
        "order_id",
        "user_id",
        "eval_set",
        "order_number",
        "order_dow",
        "order_hour_of_day",
        "days_since_prior_order",
    ]
    assert _rows(orders) == [
        (OID["A1"], 1, "prior", 1, 0, 10, None),  # Sunday = 0
        (OID["A2"], 1, "prior", 2, 1, 9, 0.0),  # 23 h 45 min → 0 whole days
        (OID["A3"], 1, "test", 3, 5, 18, 30.0),  # 53 days → capped at 30
        (OID["B1"], 2, "prior", 1, 6, 12, None),  # same time as B2: B1 first
        (OID["B2"], 2, "prior", 2, 6, 12, 0.0),
        (OID["B3"], 2, "train", 3, 1, 12, 2.0),  # order time = earliest line (12:00)
    ]


def test_lines_are_merged_ranked_and_flagged(converted: Converted) -> None:
    prior = converted.tables["order_products__prior"]
    assert _rows(prior) == [
        (OID["A1"], PID["milk"], 1, 0),  # the repeated milk line is merged into the first
        (OID["A1"], PID["eggs"], 2, 0),
        (OID["A2"], PID["bread"], 1, 0),
        (OID["A2"], PID["milk"], 2, 1),
        (OID["B1"], PID["eggs"], 1, 0),
        (OID["B2"], PID["eggs"], 1, 1),
        (OID["B2"], PID["tea"], 2, 0),
    ]
    # eggs at 12:00 before tea at 12:05, although tea is listed first.
    train = converted.tables["order_products__train"]
    assert _rows(train) == [(OID["B3"], PID["eggs"], 1, 1), (OID["B3"], PID["tea"], 2, 1)]


def test_test_orders_go_to_truth_only(converted: Converted) -> None:
    assert _rows(converted.truth) == [(OID["A3"], str(PID["milk"]))]  # jam is new: not a reorder
    for name in ("order_products__prior", "order_products__train"):
        assert OID["A3"] not in converted.tables[name].get_column("order_id").to_list()


def test_products_get_placeholders_and_label_ids(converted: Converted) -> None:
    assert _rows(converted.tables["aisles"]) == [
        (1, "bakery"),
        (2, "dairy"),
        (3, "spices"),
        (4, "unknown"),
    ]
    assert _rows(converted.tables["departments"]) == [(1, "fresh"), (2, "pantry"), (3, "unknown")]
    assert _rows(converted.tables["products"]) == [
        (PID["bread"], "Bread", 1, 1),
        (PID["eggs"], "Eggs", 2, 1),
        (PID["jam"], "unknown product jam", 4, 3),
        (PID["milk"], "Whole milk", 2, 1),
        (PID["salt"], "Salt", 3, 2),
        (PID["tea"], "Tea", 4, 2),  # null aisle → unknown
    ]


def test_summary_counts_every_decision(converted: Converted) -> None:
    summary = converted.summary
    assert summary["lines_in"] == len(LINES)
    assert summary["lines_merged"] == 1
    assert summary["users_single_order_dropped"] == 1
    assert summary["lines_single_order_dropped"] == 1
    assert summary["gaps_capped_at_30_days"] == 1
    assert summary["products_placeholder"] == 1
    assert summary["lines_placeholder_product"] == 1
    assert (summary["users"], summary["orders"]) == (2, 6)
    assert (summary["train_orders"], summary["test_orders"], summary["test_orders_none"]) == (
        1,
        1,
        0,
    )
    assert summary["user_ids"] == summary["order_ids"] == summary["product_ids"] == "mapped"


def test_id_maps_round_trip(converted: Converted) -> None:
    maps = {
        kind: dict(converted.id_maps[kind].iter_rows()) for kind in ("user", "order", "product")
    }
    assert maps == {
        "user": {v: k for k, v in UID.items()},
        "order": {v: k for k, v in OID.items()},
        "product": {v: k for k, v in PID.items()},
    }
    lines = pl.concat(
        [converted.tables["order_products__prior"], converted.tables["order_products__train"]]
    ).join(converted.tables["orders"], on="order_id")
    back = {
        (maps["user"][u], maps["order"][o], maps["product"][p])
        for u, o, p in lines.select("user_id", "order_id", "product_id").iter_rows()
    }
    expected = {(c, b, s) for c, b, _, s in LINES if c != "carol" and b != "A3"}
    assert back == expected


def test_output_validates(converted: Converted) -> None:
    dataset = validate({name: frame.lazy() for name, frame in converted.tables.items()})
    assert dataset.n_users == 2
    assert dataset.warnings == ()


def test_split_is_a_stable_hash_of_the_user_id() -> None:
    # Pinned values: BLAKE2b does not change between processes, machines or versions.
    assert stable_unit_hash("alice", seed=0) == pytest.approx(0.4407249536609042, abs=1e-15)
    assert stable_unit_hash(900, seed=0) == stable_unit_hash("900", seed=0)
    n = 3000
    lines = pl.DataFrame(
        {
            "cust": [u for u in range(n) for _ in range(2)],
            "basket": list(range(2 * n)),
            "ts": [datetime(2024, 1, 1 + k) for _ in range(n) for k in range(2)],
            "sku": [1] * (2 * n),
        }
    )
    first = from_transactions(lines, **COLS, test_share=0.2, seed=7)
    shuffled = from_transactions(lines.sample(fraction=1.0, shuffle=True, seed=1), **COLS, seed=7)
    assert first.truth.equals(shuffled.truth)
    share = first.summary["test_orders"] / n  # type: ignore[operator]
    assert 0.18 < share < 0.22
    assert from_transactions(lines, **COLS, test_share=0.0).summary["test_orders"] == 0
    assert from_transactions(lines, **COLS, test_share=1.0).summary["train_orders"] == 0
    other = from_transactions(lines, **COLS, test_share=0.2, seed=8)
    assert not first.truth.get_column("order_id").equals(other.truth.get_column("order_id"))


def test_integer_ids_are_kept_and_epoch_and_zone_times_work() -> None:
    base = 1_704_614_400  # 2024-01-07 08:00 UTC, a Sunday
    lines = pl.DataFrame(
        {
            "cust": [10, 10, 10, 20, 20],
            "basket": [501, 502, 502, 601, 602],
            "ts": [base, base + 3 * 86_400 - 1, base + 3 * 86_400 - 1, base, base + 40 * 86_400],
            "sku": [7, 7, 9, 8, 8],
        }
    )
    converted = from_transactions(lines, **COLS, test_share=0.0)
    orders = converted.tables["orders"]
    assert _rows(orders.select("order_id", "user_id", "order_dow", "order_hour_of_day")) == [
        (501, 10, 0, 8),
        (502, 10, 3, 7),
        (601, 20, 0, 8),
        (602, 20, 5, 8),  # 40 days later: a Friday
    ]
    assert orders.get_column("days_since_prior_order").to_list() == [None, 2.0, None, 30.0]
    assert converted.id_maps == {}
    assert converted.tables["order_products__train"].get_column("product_id").to_list() == [7, 9, 8]
    assert "products" not in converted.tables
    # A zone-aware time is read on that zone's clock: 08:00 UTC is 03:00 in New York.
    zoned = lines.with_columns(
        pl.from_epoch("ts", time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("America/New_York")
    )
    hours = from_transactions(zoned, **COLS).tables["orders"].get_column("order_hour_of_day")
    assert hours.to_list() == [3, 2, 3, 3]


def test_integer_aisle_labels_are_kept_as_ids() -> None:
    catalogue = _catalogue().with_columns(shelf=pl.Series([5, 5, 9, None, 9]))
    converted = from_transactions(_lines(), **COLS, products=catalogue, aisle="shelf")
    assert _rows(converted.tables["aisles"]) == [(5, "5"), (9, "9"), (10, "unknown")]
    aisle_of = dict(converted.tables["products"].select("product_id", "aisle_id").iter_rows())
    assert aisle_of == {
        PID["bread"]: 9,
        PID["eggs"]: 5,
        PID["jam"]: 10,
        PID["milk"]: 5,
        PID["salt"]: 9,
        PID["tea"]: 10,
    }
    names = converted.tables["products"].get_column("product_name").to_list()
    expected = ["bread", "eggs", "unknown product jam", "milk", "salt", "tea"]
    assert names == [e if " " in e else f"product {e}" for e in expected]  # no name column


def test_user_without_any_repeat_has_none_truth() -> None:
    lines = pl.DataFrame(
        {"cust": [1, 1], "basket": [1, 2], "ts": ["2024-01-01", "2024-01-02"], "sku": [5, 6]}
    )
    converted = from_transactions(lines, **COLS, test_share=1.0)
    assert _rows(converted.truth) == [(2, "None")]
    assert converted.summary["test_orders_none"] == 1
    assert converted.tables["order_products__train"].height == 0


# --- bad input -----------------------------------------------------------------------------


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataError) as info:
        from_transactions(_lines().drop("ts", "sku"), **COLS, source="tx.csv")
    text = str(info.value)
    assert "tx.csv: column 'ts': missing column (the time column)" in text
    assert "tx.csv: column 'sku': missing column" in text
    assert len(info.value.problems) == 2


def test_null_ids_bad_times_and_shared_orders_are_all_reported() -> None:
    lines = _lines().with_columns(
        cust=pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise("cust"),
        sku=pl.when(pl.int_range(pl.len()).is_in([0, 5])).then(None).otherwise("sku"),
        ts=pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("not a time")).otherwise("ts"),
    )
    lines = pl.concat(
        [
            lines,
            pl.DataFrame(
                [("bob", "A1", "2024-01-07 10:15:00", "milk")], schema=lines.schema, orient="row"
            ),
        ]
    )
    with pytest.raises(DataError) as info:
        from_transactions(lines, **COLS, source="tx.csv")
    problems = {p.column: p for p in info.value.problems}
    assert set(problems) == {"cust", "sku", "ts", "basket"}
    assert (problems["cust"].count, problems["cust"].examples) == (1, ("row 3",))
    assert (problems["sku"].count, problems["sku"].examples) == (2, ("row 1", "row 6"))
    assert problems["ts"].count == 1 and "not a time" in problems["ts"].examples[0]
    assert problems["basket"].examples == ("order A1 has users alice, bob",)
    assert all(p.file == "tx.csv" for p in info.value.problems)


def test_bad_catalogue_is_reported() -> None:
    catalogue = pl.concat([_catalogue(), _catalogue().head(1)])
    with pytest.raises(
        DataError, match=r"products.csv: column 'sku': duplicate product ids \(2 rows\); e.g. milk"
    ):
        from_transactions(_lines(), **COLS, products=catalogue, products_source="products.csv")
    with pytest.raises(DataError, match="column 'kind': missing column"):
        from_transactions(_lines(), **COLS, products=_catalogue(), aisle="kind")
    with pytest.raises(DataError, match="must be integers or strings, not Float64"):
        from_transactions(_lines().with_columns(sku=pl.lit(1.5)), **COLS)


# --- files and the command line -------------------------------------------------------------


def test_write_and_load_back(converted: Converted, tmp_path: Path) -> None:
    write_converted(converted, tmp_path, format="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aisles.csv",
        "departments.csv",
        "id_map_order.csv",
        "id_map_product.csv",
        "id_map_user.csv",
        "order_products__prior.csv",
        "order_products__train.csv",
        "orders.csv",
        "products.csv",
        "truth.csv",
    ]
    assert (tmp_path / "truth.csv").read_text() == f"order_id,products\n{OID['A3']},{PID['milk']}\n"
    assert load_dataset(tmp_path).n_users == 2
    # Parquet over CSV: the CSV tables go (load_dataset refuses two files per table).
    write_converted(converted, tmp_path, format="parquet")
    assert not list(tmp_path.glob("orders.csv*"))
    assert load_dataset(tmp_path).orders.equals(converted.tables["orders"])


def test_read_table_keeps_ids_with_leading_zeros_as_text(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text("c,o,t,p\n1,007,2024-01-01,42\n2,008,2024-01-01,43\n")
    frame = read_table(path, id_columns=["c", "o", "p"])
    assert frame.schema["c"] == pl.Int64 and frame.schema["p"] == pl.Int64
    assert frame.get_column("o").to_list() == ["007", "008"]


def test_cli_from_transactions(tmp_path: Path) -> None:
    tx, cat, out = tmp_path / "tx.csv", tmp_path / "cat.csv", tmp_path / "out"
    _lines().write_csv(tx)
    _catalogue().write_csv(cat)
    args = ["datasets", "from-transactions", str(tx), "--user", "cust", "--order", "basket"]
    args += ["--time", "ts", "--product", "sku", "--out", str(out), "--products", str(cat)]
    args += ["--product-name", "name", "--aisle", "shelf", "--department", "dept"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "lines_merged" in result.output
    assert load_dataset(out).n_users == 2
    assert (out / "id_map_user.csv").read_text() == "user_id,original\n1,alice\n2,bob\n3,carol\n"

    bad = CliRunner().invoke(app, [*args[:3], "--user", "customer", *args[5:]])
    assert bad.exit_code == 2
    assert "tx.csv: column 'customer': missing column" in bad.output
