"""Each figure function returns a non-trivial PNG, also for small or degenerate inputs."""

from __future__ import annotations

import struct

import polars as pl

from basketcast._meter import StageRecord
from basketcast.report import figures


def _width(png: bytes) -> int:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", png[16:20])[0])


def test_degenerate_inputs_still_draw() -> None:
    pngs = [
        figures.basket_sizes(pl.Series([0, 0, 0])),
        figures.stages([StageRecord("only", 0.0, 0.0)]),
        figures.calibration(pl.DataFrame({"p_mean": [0.5], "y_mean": [0.4], "n": [3]})),
        figures.days_since_prior(
            pl.DataFrame({"days": [], "orders": []}, schema={"days": pl.Int32, "orders": pl.UInt32})
        ),
        figures.importance(pl.DataFrame({"feature": ["f$1$"], "share": [1.0]})),
        figures.top_products(
            pl.DataFrame({"label": ["x" * 200], "orders": [1]}), by="orders", title="t"
        ),
    ]
    for png in pngs:
        assert _width(png) > 100
