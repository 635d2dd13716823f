"""Assemble the feature frame: meta columns + every registered family, in ledger order."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from amlwatch.data.ledger import Ledger
from amlwatch.features.flow import FlowConfig, flow_features
from amlwatch.features.flow_fresh import fresh_features
from amlwatch.features.graph import GraphConfig, GraphJob
from amlwatch.features.registry import FAMILIES, feature_names
from amlwatch.features.tabular import transaction_features
from amlwatch.features.windows import pair_features, window_features

__all__ = ["META_COLUMNS", "build_features"]

META_COLUMNS = (
    "txn_id",
    "timestamp",
    "src",
    "dst",
    "from_bank",
    "to_bank",
    "amount_paid",
    "payment_currency",
    "payment_format",
    "src_country",
    "dst_country",
    "is_laundering",
    "typology",
    "ring_id",
)


def build_features(
    ledger: Ledger,
    *,
    families: Iterable[str] | None = None,
    graph: GraphConfig | None = None,
    flow: FlowConfig | None = None,
) -> pl.DataFrame:
    """One row per transaction (ledger order): `META_COLUMNS`, then the families' features.

    `families` defaults to all of `FAMILIES`; leaving out "graph" skips the
    slowest family, leaving out "flow" the time-respecting flow family ("fresh", the
    first-contact family, reads `flow`'s window, band and scan cap).
    """
    wanted = list(families) if families is not None else list(FAMILIES)
    tx = ledger.transactions
    # The graph job starts first: its snapshot refreshes (the slowest part) run in a worker
    # process beside the other families on big ledgers.
    job = GraphJob(tx, graph) if "graph" in wanted else None
    try:
        parts = [tx.select(META_COLUMNS)]
        if "transaction" in wanted:
            parts.append(transaction_features(tx.lazy()).collect())
        if "account" in wanted:
            parts.append(window_features(tx))
        if "pair" in wanted:
            parts.append(pair_features(tx))
        if "flow" in wanted:
            parts.append(flow_features(tx, flow))
        if "fresh" in wanted:  # first contacts: the flow window, band and scan cap
            parts.append(fresh_features(tx, flow))
        if job is not None:
            parts.append(job.features())
    finally:
        if job is not None:
            job.close()
    frame = pl.concat(parts, how="horizontal", strict=True)
    return frame.select([*META_COLUMNS, *feature_names(families=wanted)])
