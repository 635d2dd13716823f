"""User shards: hash-partitioned Parquet, all of a user's orders and lines in one shard.

`shard_dataset` streams the input (Polars' streaming engine, a partitioned
sink): no process ever holds the whole prior table; only the small
order → shard map is held while the lines stream past it. Each shard is a
folder in the Instacart layout, so the single-machine loader and validator
read it unchanged; products, aisles and departments are copied into every
shard (they are small and every worker needs them).

Layout of the output folder::

    shard-00000/ orders.parquet order_products__prior.parquet ... [truth.csv]
    shard-00001/ ...
    shards.json  (written last: a folder without it is not a finished sharding)

A user's shard is the splitmix64 hash of ``user_id`` (salted, independent of
the fold hash) modulo the shard count: the same user lands in the same shard
on any machine and for any row order.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.data.load import find_tables, scan_table
from basketcast.io import write_text
from basketcast.model.folds import splitmix64

__all__ = ["FORMAT_VERSION", "ShardManifest", "read_manifest", "shard_dataset", "shard_of"]

FORMAT_VERSION = 1
_SALT = 0x5A4D_BA5C_E7_5EED
"""Salt of the shard hash, so shards are unrelated to folds for any model seed."""
_MANIFEST = "shards.json"
_SHARED = ("products", "aisles", "departments")
_LINES = ("order_products__prior", "order_products__train")


@dataclass(frozen=True)
class ShardManifest:
    """A finished sharding: how many shards, of which input, with what in each."""

    format_version: int
    shards: int
    source: str
    fingerprint: str
    users: tuple[int, ...]
    orders: tuple[int, ...]
    prior_lines: tuple[int, ...]
    train_lines: tuple[int, ...]

    def folders(self, root: str | Path) -> list[Path]:
        return [Path(root) / shard_name(k) for k in range(self.shards)]


def shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def shard_of(user_id: pl.Expr, shards: int) -> pl.Expr:
    """The shard (UInt32) of each user id: salted splitmix64 modulo `shards`; null for a null id."""
    # The same finaliser as the folds (stable across machines and Polars versions).
    from basketcast.model.folds import _splitmix64_expr

    uid = user_id.cast(pl.Int64).reinterpret(signed=False)
    salted = uid ^ pl.lit(splitmix64(_SALT), dtype=pl.UInt64)
    return (_splitmix64_expr(salted) % pl.lit(shards, dtype=pl.UInt64)).cast(pl.UInt32)


def read_manifest(folder: str | Path) -> ShardManifest | None:
    """The manifest of a finished sharding in `folder`, or None."""
    path = Path(folder) / _MANIFEST
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("format_version") != FORMAT_VERSION:
        return None
    counts = {
        k: tuple(int(x) for x in data[k]) for k in ("users", "orders", "prior_lines", "train_lines")
    }
    return ShardManifest(
        format_version=int(data["format_version"]),
        shards=int(data["shards"]),
        source=str(data["source"]),
        fingerprint=str(data["fingerprint"]),
        **counts,
    )


def _as_id(column: str) -> pl.Expr:
    # CSV tables are scanned as text: keys are parsed here only to route rows; the stored
    # values go to the shard untouched, and per-shard validation reports any that do not parse.
    return pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)


def shard_dataset(
    data: str | Path, out: str | Path, *, shards: int, fingerprint: str = ""
) -> ShardManifest:
    """Write the tables of `data` as `shards` user shards under `out`; reuse a finished one.

    Parameters
    ----------
    data
        A folder of Instacart-layout tables (CSV, CSV.gz or Parquet), plus
        optional ``truth.csv`` and ``true_probs.parquet``.
    out
        The output folder; its previous shards are replaced once the new ones are complete.
    shards
        Number of shards (>= 1).
    fingerprint
        The input's fingerprint (`basketcast.pipeline.data_fingerprint`); a
        finished sharding with the same fingerprint and count is reused.

    Raises
    ------
    DataError
        Lines whose order is not in the orders table, or an order id held by
        two orders (either would put rows in the wrong shard).
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    data, out = Path(data), Path(out)
    done = read_manifest(out)
    if (
        done is not None
        and fingerprint
        and (done.fingerprint, done.shards) == (fingerprint, shards)
    ):
        return done
    paths = find_tables(data)
    out.mkdir(parents=True, exist_ok=True)
    # Named like `basketcast.io`'s staging folders, so a sweep removes one a killed run left.
    staging = Path(tempfile.mkdtemp(prefix=f".staging.{os.getpid()}.", dir=out))
    try:
        manifest = _write_shards(data, paths, staging, shards=shards, fingerprint=fingerprint)
        _replace(staging, out, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _order_map(paths: dict[str, Path], shards: int) -> pl.DataFrame:
    """order_id → shard (two integer columns: the one table held in memory)."""
    orders = scan_table(paths["orders"])
    keys = (
        orders.select(order_id=_as_id("order_id"), user_id=_as_id("user_id"))
        .with_columns(shard=shard_of(pl.col("user_id"), shards).fill_null(0))
        .select("order_id", "shard")
        .collect(engine="streaming")
    )
    dup = keys.filter(pl.col("order_id").is_not_null() & pl.col("order_id").is_duplicated())
    if dup.height:
        examples = tuple(str(v) for v in dup.get_column("order_id").unique().sort().head(3))
        raise DataError(
            [
                Problem(
                    paths["orders"].name,
                    "order_id",
                    "order id held by more than one order",
                    dup.height,
                    examples,
                )
            ],
            source=str(paths["orders"].parent),
        )
    return keys.filter(pl.col("order_id").is_not_null())


def _sink_by_shard(frame: pl.LazyFrame, staging: Path, table: str) -> None:
    """Stream `frame` (with a `shard` column) into staging/<table>/shard=k/*.parquet."""
    target = staging / f".{table}"
    frame.sink_parquet(
        pl.PartitionBy(target, key="shard", include_key=False, approximate_bytes_per_file=None),
        mkdir=True,
    )


def _write_shards(
    data: Path, paths: dict[str, Path], staging: Path, *, shards: int, fingerprint: str
) -> ShardManifest:
    keys = _order_map(paths, shards)
    routes = keys.lazy()
    orders = scan_table(paths["orders"]).with_columns(
        shard=shard_of(_as_id("user_id"), shards).fill_null(0)
    )
    _sink_by_shard(orders, staging, "orders")
    for table in _LINES:
        lines = scan_table(paths[table]).with_columns(_key=_as_id("order_id"))
        routed = lines.join(routes, left_on="_key", right_on="order_id", how="left").drop("_key")
        _sink_by_shard(routed, staging, table)
        _check_routed(staging / f".{table}", paths[table])
    truth = data / "truth.csv"
    if truth.exists():
        routed = (
            pl.scan_csv(truth, infer_schema=False)
            .with_columns(_key=_as_id("order_id"))
            .join(routes, left_on="_key", right_on="order_id", how="left")
            .drop("_key")
        )
        _sink_by_shard(routed, staging, "truth")
        _check_routed(staging / ".truth", truth)
    true_probs = data / "true_probs.parquet"
    if true_probs.exists():
        scan = pl.scan_parquet(true_probs).with_columns(shard=shard_of(pl.col("user_id"), shards))
        _sink_by_shard(scan, staging, "true_probs")
    return _assemble(data, paths, staging, shards=shards, fingerprint=fingerprint)


def _check_routed(folder: Path, source: Path) -> None:
    """Lines whose order is not in the orders table have no shard: one error naming them."""
    orphans = folder / "shard=__HIVE_DEFAULT_PARTITION__"
    if not orphans.exists():
        return
    rows = pl.scan_parquet(orphans / "*.parquet")
    count = int(rows.select(pl.len()).collect().item())
    examples = tuple(str(v) for v in rows.select("order_id").head(3).collect().to_series())
    raise DataError(
        [Problem(source.name, "order_id", "lines of an order not in orders", count, examples)],
        source=str(source.parent),
    )


def _assemble(
    data: Path, paths: dict[str, Path], staging: Path, *, shards: int, fingerprint: str
) -> ShardManifest:
    """Move the partitioned sinks into one Instacart-layout folder per shard."""
    counts: dict[str, list[int]] = {"users": [], "orders": [], "prior_lines": [], "train_lines": []}
    sources = ["orders", *_LINES, "truth", "true_probs"]
    for k in range(shards):
        folder = staging / shard_name(k)
        folder.mkdir()
        for table in sources:
            part = staging / f".{table}" / f"shard={k}"
            files = sorted(part.glob("*.parquet")) if part.exists() else []
            if not files and table in ("truth", "true_probs"):
                if (staging / f".{table}").exists() and table == "truth":
                    _empty_truth(folder / "truth.csv")
                continue
            name = "truth.csv" if table == "truth" else f"{table}.parquet"
            frame = pl.scan_parquet(files) if files else _empty_like(paths, table)
            if table == "truth":
                frame.collect().write_csv(folder / name)  # one row per test order: small
            else:
                frame.sink_parquet(folder / name)
        for table in _SHARED:
            if table in paths:
                scan_table(paths[table]).sink_parquet(folder / f"{table}.parquet")
        for key, table in (
            ("orders", "orders"),
            ("prior_lines", _LINES[0]),
            ("train_lines", _LINES[1]),
        ):
            counts[key].append(
                int(pl.scan_parquet(folder / f"{table}.parquet").select(pl.len()).collect().item())
            )
        users = pl.scan_parquet(folder / "orders.parquet").select(pl.col("user_id").n_unique())
        counts["users"].append(int(users.collect().item()))
    return ShardManifest(
        format_version=FORMAT_VERSION,
        shards=shards,
        source=str(data),
        fingerprint=fingerprint,
        users=tuple(counts["users"]),
        orders=tuple(counts["orders"]),
        prior_lines=tuple(counts["prior_lines"]),
        train_lines=tuple(counts["train_lines"]),
    )


def _empty_like(paths: dict[str, Path], table: str) -> pl.LazyFrame:
    """A shard with no rows of `table` still gets the file, with the input's columns."""
    return scan_table(paths[table]).head(0)


def _empty_truth(path: Path) -> None:
    path.write_text("order_id,products\n")


def _replace(staging: Path, out: Path, manifest: ShardManifest) -> None:
    """Swap the finished shards into `out`, then write the manifest (the completion mark)."""
    (out / _MANIFEST).unlink(missing_ok=True)  # from here on, `out` is not a finished sharding
    for old in out.glob("shard-*"):
        shutil.rmtree(old)
    for k in range(manifest.shards):
        os.replace(staging / shard_name(k), out / shard_name(k))
    write_text(out / _MANIFEST, json.dumps(asdict(manifest), indent=2) + "\n")
