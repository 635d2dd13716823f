"""The report's comparison section renders metrics.json's paired and next-basket rows."""

from __future__ import annotations

from basketcast.report.evaluation import comparison_html


def _rows() -> tuple[list, list, list]:
    paired = [
        {"method": "basketcast", "baseline": "baseline: TIFU-KNN <top 10>", "orders": "test",
         "n": 1200, "mean_diff": 0.0408, "ci_low": 0.0294, "ci_high": 0.0524, "wins": 300,
         "losses": 100},
        {"method": "basketcast", "baseline": "baseline: None", "orders": "test", "n": 1200,
         "mean_diff": -0.01, "ci_low": -0.02, "ci_high": 0.001, "wins": 1, "losses": 2},
    ]  # fmt: skip
    nbr = [
        {"method": "basketcast", "orders": "test", "n": 121, "note": "only repeat; zero explore",
         **{f"{m}_{p}@{k}": (0.5 if p == "rep" else None) for m in ("recall", "ndcg")
            for p in ("all", "rep", "expl") for k in (10, 20)}},
    ]  # fmt: skip
    paired_nbr = [
        {"metric": "recall_rep@10", "baseline": "TIFU-KNN", "orders": "test", "n": 121,
         "mean_diff": 0.028, "ci_low": 0.01, "ci_high": 0.05},
    ]  # fmt: skip
    return paired, nbr, paired_nbr


def test_printed_tables() -> None:
    from rich.console import Console

    from basketcast._cli_evaluation import print_comparisons

    console = Console(record=True, width=200)
    paired, nbr, paired_nbr = _rows()
    print_comparisons(console, {"paired": paired, "nbr_metrics": nbr, "paired_nbr": paired_nbr})
    text = console.export_text()
    assert "+0.0294 – +0.0524" in text and "note: zero explore" in text
    assert "basketcast recall_rep@10 minus TIFU-KNN (test): +0.0280" in text


def test_comparison_html() -> None:
    paired, nbr, paired_nbr = _rows()
    html = comparison_html(paired, nbr, paired_nbr)
    assert "baseline: TIFU-KNN &lt;top 10&gt;" in html  # escaped
    assert "+0.0294 – +0.0524" in html and "1,200" in html
    assert html.count('<tr class="best">') == 1  # only the interval above 0 is marked
    assert "<td class=num>–</td>" in html and "<td class=num>0.5000</td>" in html
    assert "Note: only repeat." in html and "Note: zero explore." in html
    assert "recall_rep@10" in html and "+0.0280" in html
    assert comparison_html([], []) == ""
