"""The run report: one self-contained HTML file with the evaluation table and figures."""

from __future__ import annotations

from amlwatch.report.html import write_report

__all__ = ["write_report"]
