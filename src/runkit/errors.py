"""`WriteError`, apart from `runkit.io` so that importing it loads no Polars (thread budgets come first)."""

from __future__ import annotations

__all__ = ["WriteError"]


class WriteError(OSError):
    """An output could not be written (permission, space, a file where a folder should be)."""
