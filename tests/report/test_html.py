"""The HTML report: written atomically, parses, self-contained, escaped, every figure a real PNG."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from basketcast.data.dataset import Dataset
from basketcast.features.registry import REGISTRY, describe
from basketcast.report import ReportInputs, mean_gain, render_report, write_report
from tests.report._data import ACCENT_NAME, SCRIPT_NAME, make_dataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("1. Exploration", "2. The model", "3. Configuration and notes")


@dataclass
class Parsed:
    headings: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    text: str = ""
    tags: set[str] = field(default_factory=set)
    external: list[str] = field(default_factory=list)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Parsed()
        self._heading: list[str] | None = None
        self._chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.tags.add(tag)
        a = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._heading = []
        if tag == "img":
            self.out.images.append(a.get("src") or "")
        for name in ("src", "href"):
            url = a.get(name) or ""
            if url and not url.startswith(("data:", "#")):
                self.out.external.append(url)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.out.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        self._chunks.append(data)
        if self._heading is not None:
            self._heading.append(data)

    def close(self) -> None:
        super().close()
        self.out.text = " ".join(self._chunks)


def parse(text: str) -> Parsed:
    parser = _Collect()
    parser.feed(text)
    parser.close()
    return parser.out


def png_size(src: str) -> tuple[int, int]:
    """Width and height from the IHDR chunk of a base64 PNG data URI."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix) :], validate=True)
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def full_report(
    tmp_path_factory: pytest.TempPathFactory, dataset: Dataset, inputs: ReportInputs
) -> Path:
    return write_report(
        tmp_path_factory.mktemp("full") / "report.html", dataset=dataset, inputs=inputs
    )


@pytest.fixture(scope="module")
def full(full_report: Path) -> Parsed:
    return parse(full_report.read_text(encoding="ascii"))


def test_written_atomically_and_self_contained(full_report: Path, full: Parsed) -> None:
    assert full_report.is_file()
    assert [p.name for p in full_report.parent.iterdir()] == ["report.html"]  # no temp left
    raw = full_report.read_bytes()
    assert raw.isascii()  # non-ASCII text as character references
    assert len(raw) < 2_000_000
    assert full.external == []
    assert "script" not in full.tags and "link" not in full.tags


def test_every_section_heading_is_present(full: Parsed) -> None:
    for heading in SECTIONS:
        assert heading in full.headings
    for heading in (
        "Orders per user",
        "Orders by day of week and hour",
        "Days since prior order",
        "Most popular products",
        "Reorder ratio by department",
        "Per-fold metrics",
        "Out-of-fold F1",
        "Feature importance",
        "Calibration",
        "Chosen basket sizes",
        "Time and memory per stage",
        "Resolved configuration",
        "Notes",
    ):
        assert heading in full.headings, heading


def test_every_image_is_a_real_png(full: Parsed) -> None:
    # orders/user, heatmap, days, 2 × top products, departments, importance,
    # calibration, basket sizes, stages
    assert len(full.images) == 10
    for src in full.images:
        width, height = png_size(src)
        assert width > 100 and height > 100


def test_text_is_escaped(full_report: Path, full: Parsed) -> None:
    raw = full_report.read_text(encoding="ascii")
    assert "<script" not in raw
    assert "&lt;script&gt;" in raw
    assert SCRIPT_NAME in full.text  # shown as text, after unescaping
    assert ACCENT_NAME in full.text
    assert "snacks & <b>bold</b>" in full.text
    assert "Report <test> & co" in full.headings
    assert 'note = "<&>"' in full.text
    assert "Trained on <fake> results & checked." in full.text
    assert "basketcast (p_none = ∏(1−p))" in full.text
    assert "abc<def>" in full.text


def test_feature_descriptions_are_listed(full: Parsed, inputs: ReportInputs) -> None:
    assert inputs.importance is not None
    for name in inputs.importance.get_column("feature").unique():
        assert name in full.text
        assert describe(name)
        assert describe(name) in full.text
        assert REGISTRY.family_of(name).name in full.text


def test_model_tables_show_numbers(full: Parsed) -> None:
    assert "[0.3790, 0.4030]" in full.text  # F1 interval of the None-model row
    assert "mean" in full.text  # per-model mean rows of the fold table
    assert "Expected calibration error" in full.text
    assert "300 orders" in full.text  # basket sizes


def test_report_of_the_data_alone(tmp_path: Path) -> None:
    dataset = make_dataset(products=False, departments=False)
    path = write_report(
        tmp_path / "eda.html", dataset=dataset, inputs=ReportInputs(title="EDA only")
    )
    parsed = parse(path.read_text(encoding="ascii"))
    for heading in SECTIONS:
        assert heading in parsed.headings
    assert "No model results: this report describes the data only." in parsed.text
    assert "Skipped: the data has no products table" in parsed.text
    assert "No configuration given." in parsed.text
    assert len(parsed.images) == 5  # orders/user, heatmap, days, 2 × top products
    for src in parsed.images:
        assert png_size(src)[0] > 100


def test_render_is_deterministic(dataset: Dataset) -> None:
    inputs = ReportInputs(title="same", notes=["n"])
    assert render_report(dataset=dataset, inputs=inputs) == render_report(
        dataset=dataset, inputs=inputs
    )


def test_failed_render_leaves_no_file(tmp_path: Path, dataset: Dataset) -> None:
    broken = ReportInputs(title="x", f1_table=pl.DataFrame({"wrong": [1]}))
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        write_report(tmp_path / "report.html", dataset=dataset, inputs=broken)
    assert list(tmp_path.iterdir()) == []


def test_mean_gain_counts_missing_folds_as_zero() -> None:
    importance = pl.DataFrame(
        {"feature": ["a", "a", "b"], "fold": [0, 1, 0], "gain": [10.0, 10.0, 10.0]}
    )
    expected = pl.DataFrame({"feature": ["a", "b"], "gain": [10.0, 5.0], "share": [2 / 3, 1 / 3]})
    assert_frame_equal(mean_gain(importance), expected)
