"""The data contract: AMLworld's transaction and account files, loaded and validated into a `Ledger`."""

from __future__ import annotations

from amlwatch.data.ledger import Ledger
from amlwatch.data.load import load_ledger

__all__ = ["Ledger", "load_ledger"]
