"""Structured logs: one JSON object per line on stderr (requests, startup, shutdown)."""

from __future__ import annotations

from servekit.logs import JsonFormatter
from servekit.logs import configure_logging as _configure

__all__ = ["JsonFormatter", "configure_logging"]


def configure_logging(level: str = "info") -> None:
    """This service's and uvicorn's logs as JSON lines on stderr."""
    _configure("amlwatch.serve", level)
