"""The bad-input table: every case a hostile or careless user tried, as the user types it.

Each bad case must exit 2 with one message that names the file, the column
or the key (the `phrases`), and no traceback; each good case must exit 0.
Cases run in-process through Typer's runner on a small synthetic data set
written as CSV (so bytes can be edited), one fresh copy per case.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast import pipeline
from basketcast.cli import app
from basketcast.config import load_config
from basketcast.data.sources.synthetic import synthetic, write_synthetic
from basketcast.device import has_cuda

runner = CliRunner()

FAST = "threads = 1\n[features]\nhistory_targets = 0\n[model]\nfolds = 2\nnum_boost_round = 5\nearly_stopping_rounds = 2\n"


@dataclass
class Workspace:
    root: Path
    data: Path
    """A fresh CSV copy of the data set, for this case to edit."""
    run: Path
    """A finished run on the original data (shared: do not edit)."""
    config: Path
    """FAST configuration."""

    def edit(self, table: str, change: Callable[[str], str]) -> None:
        path = self.data / f"{table}.csv"
        path.write_text(change(path.read_text()))

    def frame(self, table: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
        path = self.data / f"{table}.csv"
        change(pl.read_csv(path, infer_schema=False)).write_csv(path)

    def toml(self, text: str) -> str:
        path = self.root / "case.toml"
        path.write_text(text)
        return str(path)

    def file(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("bad_input")
    data = root / "data"
    write_synthetic(synthetic(40, seed=7), data, format="csv")
    config = root / "fast.toml"
    config.write_text(FAST)
    run = root / "run"
    pipeline.run(data, run, config=load_config(config, **{"model.device": "cpu"}))
    return data, run, config


@pytest.fixture
def ws(original: tuple[Path, Path, Path], tmp_path: Path) -> Workspace:
    data, run, config = original
    shutil.copytree(data, tmp_path / "data")
    return Workspace(tmp_path, tmp_path / "data", run, config)


def _first_row(column: str, value: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.lit(value))
            .otherwise(pl.col(column))
            .alias(column)
        )

    return change


def _latin1_line(path: Path, number: int) -> None:
    """Put a Latin-1 byte (not UTF-8) into line `number` of a file."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines[number - 1] = lines[number - 1].replace(b",", b",\xf6", 1)
    path.write_bytes(b"".join(lines))


def _row(frame: pl.DataFrame, condition: pl.Expr) -> pl.DataFrame:
    return frame.filter(condition).head(1)


def _tx(ws: Workspace, rows: str, header: str = "customer,basket,time,item") -> list[str]:
    path = ws.file("tx.csv", header + "\n" + rows)
    return ["datasets", "from-transactions", path, "--user", "customer", "--order", "basket",
            "--time", "time", "--product", "item", "--out", str(ws.root / "converted")]  # fmt: skip


_TX_ROWS = "".join(
    f"{u},{u}{o},2024-01-0{o}T10:00:00+00:00,{p}\n"
    for u in (1, 2)
    for o in (1, 2, 3)
    for p in (7, 8)
)


def _submission(
    ws: Workspace, change: Callable[[pl.DataFrame], pl.DataFrame], name: str = "sub.csv"
) -> str:
    frame = change(pl.read_csv(ws.data / "truth.csv"))
    path = ws.root / name
    if name.endswith(".parquet"):
        frame.write_parquet(path)
    elif name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            frame.write_csv(fh)
    else:
        frame.write_csv(path)
    return str(path)


def _evaluate(path: str, ws: Workspace) -> list[str]:
    return ["evaluate", path, str(ws.data / "truth.csv")]


Case = tuple[str, Callable[[Workspace], list[str]], int, tuple[str, ...]]

CASES: list[Case] = [
    # --- the tables ----------------------------------------------------------------------
    ("missing orders file", lambda w: ((w.data / "orders.csv").unlink(), ["validate", str(w.data)])[1], 2, ("orders.csv", "required table missing")),
    ("0-byte orders", lambda w: (w.edit("orders", lambda t: ""), ["validate", str(w.data)])[1], 2, ("orders.csv",)),
    ("header-only orders", lambda w: (w.edit("orders", lambda t: t.splitlines()[0] + "\n"), ["validate", str(w.data)])[1], 2, ("orders.csv", "no rows")),
    ("renamed column", lambda w: (w.edit("orders", lambda t: t.replace("order_number", "order_num", 1)), ["validate", str(w.data)])[1], 2, ("orders.csv", "order_number", "missing column")),
    ("text in order_number", lambda w: (w.frame("orders", _first_row("order_number", "three")), ["validate", str(w.data)])[1], 2, ("orders.csv", "order_number", "'three'")),
    ("negative days_since_prior_order", lambda w: (w.frame("orders", lambda f: f.with_columns(days_since_prior_order=pl.when(pl.col("order_number") == "2").then(pl.lit("-3")).otherwise("days_since_prior_order"))), ["validate", str(w.data)])[1], 2, ("orders.csv", "days_since_prior_order", "outside 0 to 30")),
    ("float ids", lambda w: (w.frame("orders", _first_row("user_id", "1.5")), ["validate", str(w.data)])[1], 2, ("orders.csv", "user_id", "whole numbers")),
    ("duplicate order_id", lambda w: (w.frame("orders", lambda f: f.with_columns(order_id=pl.when(pl.int_range(pl.len()) == 1).then(pl.col("order_id").first()).otherwise("order_id"))), ["validate", str(w.data)])[1], 2, ("orders.csv", "order_id", "duplicate")),
    ("gap in order_number", lambda w: (w.frame("orders", lambda f: f.with_columns(order_number=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("7")).otherwise("order_number"))), ["validate", str(w.data)])[1], 2, ("orders.csv", "order_number", "without gaps")),
    ("duplicate order_number", lambda w: (w.frame("orders", lambda f: f.with_columns(order_number=pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("1")).otherwise("order_number"))), ["validate", str(w.data)])[1], 2, ("orders.csv", "order_number")),
    ("prior lines for unknown orders", lambda w: (w.frame("order_products__prior", _first_row("order_id", "123456789")), ["validate", str(w.data)])[1], 2, ("order_products__prior.csv", "order_id", "not in orders")),
    ("unknown eval_set", lambda w: (w.frame("orders", _first_row("eval_set", "holdout")), ["validate", str(w.data)])[1], 2, ("orders.csv", "eval_set", "'holdout'")),
    ("train order with no lines", lambda w: (w.frame("order_products__train", lambda f: f.filter(pl.col("order_id") != f["order_id"][0])), ["validate", str(w.data)])[1], 2, ("orders.csv", "train order with no lines")),
    ("non-UTF-8 bytes", lambda w: (_latin1_line(w.data / "products.csv", 3), ["validate", str(w.data)])[1], 2, ("products.csv", "UTF-8", "line 3")),
    ("CRLF line endings", lambda w: (w.edit("orders", lambda t: t.replace("\n", "\r\n")), ["validate", str(w.data)])[1], 0, ()),
    ("quoted names with commas and newlines", lambda w: (w.frame("products", _first_row("product_name", 'Milk, "whole"\nfresh')), ["validate", str(w.data)])[1], 0, ()),
    ("a BOM", lambda w: ((w.data / "orders.csv").write_bytes(b"\xef\xbb\xbf" + (w.data / "orders.csv").read_bytes()), ["validate", str(w.data)])[1], 0, ()),
    ("2^63 ids", lambda w: (w.frame("orders", _first_row("order_id", str(2**63))), ["validate", str(w.data)])[1], 2, ("orders.csv", "order_id", "out of range")),
    ("mistyped Parquet", lambda w: ((w.data / "orders.csv").unlink(), pl.DataFrame({"order_id": [1.5], "user_id": [1], "eval_set": [3], "order_number": [1], "order_dow": [0], "order_hour_of_day": [0], "days_since_prior_order": [None]}).write_parquet(w.data / "orders.parquet"), ["validate", str(w.data)])[2], 2, ("orders.parquet", "eval_set")),
    ("truncated gzip", lambda w: ((w.data / "orders.csv.gz").write_bytes(gzip.compress((w.data / "orders.csv").read_bytes())[:200]), (w.data / "orders.csv").unlink(), ["validate", str(w.data)])[2], 2, ("orders.csv.gz",)),
    ("truncated Parquet", lambda w: (pl.read_csv(w.data / "orders.csv").write_parquet(w.data / "orders.parquet"), (w.data / "orders.parquet").write_bytes((w.data / "orders.parquet").read_bytes()[:300]), (w.data / "orders.csv").unlink(), ["validate", str(w.data)])[3], 2, ("orders.parquet",)),
    ("CSV and Parquet of one table", lambda w: (pl.read_csv(w.data / "orders.csv").write_parquet(w.data / "orders.parquet"), ["validate", str(w.data)])[1], 2, ("orders", "more than one file")),
    ("table path is a folder", lambda w: ((w.data / "products.csv").unlink(), (w.data / "products.csv").mkdir(), ["validate", str(w.data)])[2], 2, ("products.csv", "is not a readable file")),
    ("a lone test order", lambda w: (w.edit("orders", lambda t: t + "88888889,9002,test,1,3,10,\n"), w.edit("truth", lambda t: t + "88888889,None\n"), ["validate", str(w.data)])[2], 0, ()),
    # --- the configuration -----------------------------------------------------------------
    ("unknown config key", lambda w: ["config", "--config", w.toml("[model]\nfoldz = 3\n")], 2, ("case.toml", "foldz")),
    ("unknown config section", lambda w: ["config", "--config", w.toml("[modle]\nfolds = 3\n")], 2, ("case.toml", "modle")),
    ("folds -3", lambda w: ["config", "--config", w.toml("[model]\nfolds = -3\n")], 2, ("case.toml", "model.folds")),
    ("folds 0", lambda w: ["config", "--config", w.toml("[model]\nfolds = 0\n")], 2, ("case.toml", "model.folds")),
    ("folds 1000", lambda w: ["config", "--config", w.toml("[model]\nfolds = 1000\n")], 2, ("case.toml", "model.folds")),
    ("folds more than the users", lambda w: ["run", str(w.data), "--out", str(w.root / "R"), "--config", w.toml("[model]\nfolds = 90\n")], 2, ("model.folds", "fewer folds")),
    ('folds = "2"', lambda w: ["config", "--config", w.toml('[model]\nfolds = "2"\n')], 2, ("case.toml", "model.folds", "whole number")),
    ("folds = 2.5", lambda w: ["config", "--config", w.toml("[model]\nfolds = 2.5\n")], 2, ("case.toml", "model.folds", "whole number")),
    ("history_targets = 1.5", lambda w: ["config", "--config", w.toml("[features]\nhistory_targets = 1.5\n")], 2, ("case.toml", "features.history_targets")),
    ("threads = -4", lambda w: ["config", "--config", w.toml("threads = -4\n")], 2, ("case.toml", "threads")),
    ('device "tpu"', lambda w: ["config", "--config", w.toml('[model]\ndevice = "tpu"\n')], 2, ("case.toml", "model.device", "tpu")),
    ("broken TOML", lambda w: ["config", "--config", w.toml("[model\nfolds = 3\n")], 2, ("case.toml", "not valid TOML")),
    ("missing TOML", lambda w: ["config", "--config", str(w.root / "nope.toml")], 2, ("nope.toml", "no such configuration file")),
    ("--config a folder", lambda w: ["config", "--config", str(w.root)], 2, ("not a readable file",)),
    ("--device tpu", lambda w: ["run", str(w.data), "--out", str(w.root / "R"), "--device", "tpu"], 2, ("model.device", "tpu")),
    ("--device cuda without a GPU", lambda w: ["run", str(w.data), "--out", str(w.root / "R"), "--config", str(w.config), "--device", "cuda"], 0, () if has_cuda() else ("no GPU is visible",)),
    # --- outputs -----------------------------------------------------------------------------
    ("--out an existing file", lambda w: ["run", str(w.data), "--out", w.file("taken", "x"), "--config", str(w.config)], 2, ("taken", "cannot write")),
    # --- predict -------------------------------------------------------------------------------
    ("predict with unknown products", lambda w: (w.frame("order_products__prior", _first_row("product_id", "999999")), ["predict", str(w.run), str(w.data), "--out", str(w.root / "p.csv")])[1], 2, ("order_products__prior.csv", "product_id", "not in products.csv")),
    ("predict without products.csv", lambda w: ((w.data / "products.csv").unlink(), ["predict", str(w.run), str(w.data), "--out", str(w.root / "p.csv")])[1], 2, ("products.csv", "aisle_id")),
    ("predict from a folder that is not a run", lambda w: ["predict", str(w.data), str(w.data), "--out", str(w.root / "p.csv")], 2, ("no item models",)),
    ("predict --orders bogus", lambda w: ["predict", str(w.run), str(w.data), "--out", str(w.root / "p.csv"), "--orders", "bogus"], 2, ("--orders",)),
    # --- evaluate ------------------------------------------------------------------------------
    ("evaluate a missing submission", lambda w: _evaluate(str(w.root / "none.csv"), w), 2, ("none.csv",)),
    ("evaluate with orders missing", lambda w: _evaluate(_submission(w, lambda f: f.slice(1)), w), 2, ("sub.csv",)),
    ("evaluate with extra orders", lambda w: _evaluate(_submission(w, lambda f: pl.concat([f, pl.DataFrame({"order_id": [999999999], "products": ["None"]})], how="vertical_relaxed")), w), 2, ("sub.csv",)),
    ("evaluate with None mixed in", lambda w: _evaluate(_submission(w, lambda f: f.with_columns(products=pl.lit("None 5"))), w), 0, ()),
    ("evaluate with non-integer products", lambda w: _evaluate(_submission(w, lambda f: f.with_columns(products=pl.lit("apple"))), w), 2, ("sub.csv", "products")),
    ("evaluate an empty submission", lambda w: _evaluate(w.file("sub.csv", ""), w), 2, ("sub.csv",)),
    ("evaluate a ragged submission", lambda w: _evaluate(w.file("sub.csv", "order_id,products\n1,2,3\n4\n"), w), 2, ("sub.csv",)),
    ("evaluate with duplicate orders", lambda w: _evaluate(_submission(w, lambda f: pl.concat([f, f.head(1)])), w), 2, ("sub.csv", "duplicate")),
    ("evaluate a gzipped submission", lambda w: _evaluate(_submission(w, lambda f: f, "sub.csv.gz"), w), 0, ()),
    ("evaluate a Parquet submission", lambda w: _evaluate(_submission(w, lambda f: f, "sub.parquet"), w), 2, ("sub.parquet",)),
    # --- from-transactions ------------------------------------------------------------------------
    ("transactions: missing columns", lambda w: _tx(w, _TX_ROWS, header="customer,basket,when,item"), 2, ("tx.csv", "time", "missing column")),
    ("transactions: bad timestamps", lambda w: _tx(w, _TX_ROWS.replace("2024-01-02T10", "yesterday", 1)), 2, ("tx.csv", "time", "ISO-8601")),
    ("transactions: one basket id across customers", lambda w: _tx(w, _TX_ROWS + "2,11,2024-01-01T10:00:00+00:00,7\n"), 2, ("tx.csv", "basket", "more than one user")),
    ("transactions: unicode ids", lambda w: _tx(w, _TX_ROWS.replace("1,1", "Åsa,1").replace("2,2", "björn,2")), 0, ()),
    ("transactions: mixed ISO offsets", lambda w: _tx(w, _TX_ROWS.replace("+00:00", "+02:00", 3)), 0, ()),
    ("transactions: --test-share 1", lambda w: [*_tx(w, _TX_ROWS), "--test-share", "1"], 0, ()),
    ("transactions: --test-share 2", lambda w: [*_tx(w, _TX_ROWS), "--test-share", "2"], 2, ("--test-share",)),
    ("transactions: header only", lambda w: _tx(w, ""), 2, ("tx.csv", "no lines")),
    ("transactions: 0 bytes", lambda w: ["datasets", "from-transactions", w.file("tx.csv", b""), "--user", "a", "--order", "b", "--time", "c", "--product", "d", "--out", str(w.root / "converted")], 2, ("tx.csv", "empty")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "code", "phrases"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(ws: Workspace, name: str, make: Callable[[Workspace], list[str]], code: int,
                   phrases: tuple[str, ...]) -> None:  # fmt: skip
    args = make(ws)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, args)
    output = result.output + "".join(f"warning: {w.message}\n" for w in caught)
    assert "Traceback" not in output, output
    assert result.exit_code == code, (
        f"{name}: exit {result.exit_code}\n{output}\n{result.exception!r}"
    )
    for phrase in phrases:
        assert phrase in " ".join(output.split()), f"{name}: {phrase!r} not in\n{output}"
    if code == 2:
        assert "error:" in output or "Error" in output  # ours, or Typer's usage error
