"""amlwatch: score bank transactions for money laundering from tabular and graph features."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
