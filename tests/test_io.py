"""Atomic frame writes and their Parquet codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from basketcast.io import write_frame


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
