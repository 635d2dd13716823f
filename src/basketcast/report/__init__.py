"""The run report: exploration of the data, model results, configuration, in one HTML file."""

from __future__ import annotations

from basketcast.report.explore import Exploration, explore
from basketcast.report.html import ReportInputs, mean_gain, render_report, write_report

__all__ = [
    "Exploration",
    "ReportInputs",
    "explore",
    "mean_gain",
    "render_report",
    "write_report",
]
