"""Atomic frame writes and their Parquet codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from basketcast.errors import WriteError
from basketcast.io import parquet_appender, read_parquet_in_slices, write_frame


def _codec(path: Path) -> str:
    return str(pq.ParquetFile(path).metadata.row_group(0).column(0).compression)


@pytest.mark.parametrize(("options", "codec"), [({}, "ZSTD"), ({"compression": "lz4"}, "LZ4")])
def test_parquet_codec_round_trips(tmp_path: Path, options: dict[str, Any], codec: str) -> None:
    frame = pl.DataFrame({"order_id": [3, 1, 2], "p": [0.5, 0.25, 1.0]})
    path = tmp_path / "f.parquet"
    write_frame(frame, path, **options)
    assert _codec(path).startswith(codec)  # lz4 is written as Parquet's LZ4_RAW
    assert pl.read_parquet(path).equals(frame)
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]  # no temporary left behind


def test_parquet_appender_writes_parts_as_one_file_atomically(tmp_path: Path) -> None:
    parts = [
        pl.DataFrame({"order_id": [3, 1], "p": [0.5, None]}, schema={"order_id": pl.Int64, "p": pl.Float32}),
        pl.DataFrame({"order_id": [7], "p": [0.125]}, schema={"order_id": pl.Int64, "p": pl.Float32}),
    ]  # fmt: skip
    path = tmp_path / "f.parquet"
    with parquet_appender(path, compression="lz4") as append:
        for part in parts:
            append(part)
            assert not path.exists()  # the file appears whole at the end, never in parts
    assert pl.read_parquet(path).equals(pl.concat(parts))
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]


@pytest.mark.parametrize("rows", [1, 3, 7, 10, 100])
def test_reading_in_slices_gives_the_whole_file(tmp_path: Path, rows: int) -> None:
    frame = pl.DataFrame(
        {"order_id": range(10), "p": [0.5, None] * 5},
        schema={"order_id": pl.Int64, "p": pl.Float32},
    )
    path = tmp_path / "f.parquet"
    with parquet_appender(path) as append:  # several row groups
        for start in range(0, 10, 4):
            append(frame.slice(start, 4))
    got = read_parquet_in_slices(path, rows=rows)
    assert got.equals(frame)
    assert got.n_chunks() >= -(-10 // rows)  # really read in slices, stacked without a copy
    empty = tmp_path / "e.parquet"
    write_frame(frame.clear(), empty)
    assert read_parquet_in_slices(empty, rows=rows).equals(frame.clear())


@pytest.mark.parametrize("parts", [[], [{"a": [1]}, {"b": [1]}]], ids=["none", "two schemas"])
def test_parquet_appender_refuses_bad_parts_and_leaves_nothing(
    tmp_path: Path, parts: list[dict[str, list[int]]]
) -> None:
    path = tmp_path / "f.parquet"
    with pytest.raises(WriteError, match=r"f\.parquet"), parquet_appender(path) as append:
        for part in parts:
            append(pl.DataFrame(part))
    assert list(tmp_path.iterdir()) == []
