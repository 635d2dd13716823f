"""User shards: every user's rows in exactly one shard, nothing lost or invented, bad input named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from basketcast.data.dataset import DataError
from basketcast.data.load import load_dataset
from basketcast.distributed.shard import read_manifest, shard_dataset, shard_of
from basketcast.model.folds import splitmix64


def _read(folder: Path, table: str) -> pl.DataFrame:
    return load_dataset(folder).__getattribute__(table)


@pytest.fixture(scope="module")
def sharded(synth_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    shard_dataset(synth_folder, out, shards=3, fingerprint="f")
    return out


def test_every_user_in_exactly_one_shard_with_all_rows(synth_folder: Path, sharded: Path) -> None:
    whole = load_dataset(synth_folder)
    manifest = read_manifest(sharded)
    assert manifest is not None and manifest.shards == 3
    parts = [load_dataset(f) for f in manifest.folders(sharded)]
    users = [set(p.orders["user_id"]) for p in parts]
    assert sum(len(u) for u in users) == len(set().union(*users)) == whole.n_users
    for part in parts:
        mine = part.orders.select("order_id")
        # every line of a shard belongs to an order of the same shard, and vice versa
        assert part.prior.join(mine, on="order_id", how="anti").height == 0
        assert part.train.join(mine, on="order_id", how="anti").height == 0
    for table in ("orders", "prior", "train"):
        glued = pl.concat([getattr(p, table) for p in parts])
        key = glued.columns
        assert glued.sort(key).equals(getattr(whole, table).sort(key)), table
    assert manifest.users == tuple(len(u) for u in users)
    # products go to every shard whole
    assert all(p.products is not None and p.products.equals(whole.products) for p in parts)


def test_truth_follows_its_orders(synth_folder: Path, sharded: Path) -> None:
    truth = pl.read_csv(synth_folder / "truth.csv")
    manifest = read_manifest(sharded)
    assert manifest is not None
    parts = [pl.read_csv(f / "truth.csv") for f in manifest.folders(sharded)]
    assert sum(p.height for p in parts) == truth.height
    for folder, part in zip(manifest.folders(sharded), parts, strict=True):
        orders = pl.read_parquet(folder / "orders.parquet").select(
            pl.col("order_id").cast(pl.Int64)
        )
        assert part.join(orders, on="order_id", how="anti").height == 0


def test_shard_of_is_the_salted_splitmix_hash() -> None:
    ids = [0, 1, 2, 12345, -7, 2**40]
    got = pl.Series(ids).to_frame("u").select(shard_of(pl.col("u"), 5))["u"].to_list()
    from basketcast.distributed.shard import _SALT

    mask = (1 << 64) - 1
    expected = [splitmix64((i & mask) ^ splitmix64(_SALT)) % 5 for i in ids]
    assert got == expected


def test_a_finished_sharding_is_reused_and_an_unfinished_one_is_not(
    synth_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s"
    first = shard_dataset(synth_folder, out, shards=2, fingerprint="abc")
    stamp = (out / "shard-00000" / "orders.parquet").stat().st_mtime_ns
    assert shard_dataset(synth_folder, out, shards=2, fingerprint="abc") == first
    assert (out / "shard-00000" / "orders.parquet").stat().st_mtime_ns == stamp
    (out / "shards.json").unlink()  # as if the writer died before its last step
    assert read_manifest(out) is None
    again = shard_dataset(synth_folder, out, shards=2, fingerprint="abc")
    assert again == first and json.loads((out / "shards.json").read_text())["shards"] == 2


def test_lines_of_unknown_orders_are_named_not_dropped(synth_folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synth_folder, data)
    prior = data / "order_products__prior.csv"
    with prior.open("a") as fh:
        fh.write("999999991,1,1,0\n999999992,2,1,0\n")
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        shard_dataset(data, out, shards=2)
    text = str(info.value)
    assert "order_products__prior.csv" in text and "not in orders" in text
    assert "(2 rows)" in text and "999999991" in text
    assert read_manifest(out) is None and not list(out.glob("shard-*"))


def test_an_order_id_held_twice_is_an_error(synth_folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synth_folder, data)
    orders = pl.read_csv(data / "orders.csv", infer_schema=False)
    first = orders.row(0, named=True)
    clash = {**first, "user_id": "987654321"}
    pl.concat([orders, pl.DataFrame([clash])]).write_csv(data / "orders.csv")
    with pytest.raises(DataError, match="order id held by more than one order"):
        shard_dataset(data, tmp_path / "out", shards=2)
