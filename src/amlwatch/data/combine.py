"""One ledger from a history and the transactions that followed it (for `amlwatch score`).

Features are past-only, so a new transaction's features need the transactions
before it: the account windows reach back 30 days, the graph snapshots and
flows their own windows. `append_ledger` puts the history and the new
transactions into one `Ledger`, in the order `build_ledger` gives every ledger
(timestamp, then file order, the history's rows before the new ones at equal
timestamps), and says where the new rows are.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from amlwatch.data.ledger import Ledger
from amlwatch.data.load import build_ledger
from amlwatch.data.schema import TRANSACTION_COLUMNS

__all__ = ["Appended", "append_ledger"]

_PARSED = [*TRANSACTION_COLUMNS, "typology", "ring_id"]
"""The loader's columns before `build_ledger` adds account codes, kinds and countries."""
_IDENTITY = [c for c in TRANSACTION_COLUMNS if c != "is_laundering"]
_ACCOUNT = ["bank", "account", "kind", "country", "entity_id"]


@dataclass(frozen=True)
class Appended:
    """The combined ledger; its rows with ``txn_id >= first_new`` are the new ones."""

    ledger: Ledger
    first_new: int
    warnings: tuple[str, ...]


def _accounts(*ledgers: Ledger) -> pl.DataFrame | None:
    """The accounts files' rows of both ledgers (the later one's entry wins), or None."""
    # Rows without an entity id were joined in from transactions, not read from a file.
    filed = [
        ledger.accounts.select(_ACCOUNT).filter(pl.col("entity_id").is_not_null())
        for ledger in ledgers
    ]
    if not any(f.height for f in filed):
        return None
    return pl.concat(filed).unique(["bank", "account"], keep="last", maintain_order=True)


def append_ledger(history: Ledger, new: Ledger) -> Appended:
    """`history`'s transactions, then `new`'s, as one ledger.

    A history row equal to a row of `new` in every field but the label is
    dropped from the history (its copy in `new` is the one scored), so scoring
    data the history already holds does not count each payment twice. `txn_id`
    is renumbered 0.. in the combined order of files: the history's rows, then
    the new ones, so ``txn_id - first_new`` is a new row's 0-based row in its file.
    """
    warnings: list[str] = []
    old = history.transactions.sort("txn_id").select(_PARSED)
    fresh = new.transactions.sort("txn_id").select(_PARSED)
    kept = old.join(fresh.select(_IDENTITY).unique(), on=_IDENTITY, how="anti", nulls_equal=True)
    if kept.height < old.height:
        warnings.append(
            f"{old.height - kept.height:,} history transaction(s) are also in the data to "
            "score; each is scored once, as the data's"
        )
    if kept.height and fresh.height:
        history_end = kept.get_column("timestamp").max()
        data_start = fresh.get_column("timestamp").min()
        if data_start < history_end:  # type: ignore[operator]
            warnings.append(
                f"the data to score starts ({data_start!s}) before the history ends "
                f"({history_end!s}); each transaction's features use what came before it"
            )
    tx = (
        pl.concat([kept, fresh])
        .with_row_index("txn_id")
        .with_columns(pl.col("txn_id").cast(pl.Int64))
    )
    ledger = build_ledger(
        tx.select("txn_id", *_PARSED),
        _accounts(history, new),
        source=new.source,
        warnings=list(new.warnings),
    )
    return Appended(ledger, kept.height, tuple(warnings))
