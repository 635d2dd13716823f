"""The validated transactions (`Ledger`): typed, in the one total order features rely on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

__all__ = ["Ledger"]


@dataclass(frozen=True)
class Ledger:
    """Validated transactions, sorted by (timestamp, file order).

    `transactions` has the canonical columns of `amlwatch.data.schema`, plus
    `txn_id` (0-based row in the input file: the tie-break for equal
    timestamps), `src` / `dst` (integer account codes; an account is the pair
    (bank, account number)), `src_country` / `dst_country` (null without a
    country column) and `src_kind` / `dst_kind` ("Corp", "Indiv" or null).
    `is_laundering` is null throughout when the input had no labels.
    """

    transactions: pl.DataFrame
    accounts: pl.DataFrame
    has_labels: bool
    source: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def n_transactions(self) -> int:
        return self.transactions.height

    @property
    def n_accounts(self) -> int:
        return self.accounts.height

    def labels(self) -> np.ndarray:
        """0/1 labels as int8 (raises when the input had none)."""
        if not self.has_labels:
            raise ValueError(f"{self.source or 'the input'} has no 'Is Laundering' labels")
        return self.transactions.get_column("is_laundering").to_numpy().astype(np.int8)
