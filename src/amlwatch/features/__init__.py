"""Features: registered, past-only columns for every transaction.

The timing rule
---------------
Transactions are totally ordered by (timestamp, file order). A transaction's
features use only transactions *strictly before* it in that order (AMLworld
timestamps are per minute, so same-minute ties are common: a same-minute
transaction earlier in the file counts as before, a later one does not). The
transaction's own fields are used by the per-transaction family only.

Families (``FAMILIES``; ``feature_names(streamable_only=True)`` lists the
streamable ones):

- ``transaction`` (streamable): the transaction's own fields (amount,
  round-number flags, hour, weekday, currency and format, cross-bank,
  cross-border, entity kinds).
- ``account`` (streamable): sender's and receiver's trailing windows of 1 h,
  1 d, 7 d and 30 d, each the half-open interval (t - w, t] cut at the
  transaction itself in the total order; counts and sums in and out,
  distinct counterparties, new-counterparty counts, and the amount's z-score
  (see `amlwatch.features.windows` for the exact definition a streaming
  scorer must reproduce).
- ``pair`` (streamable): first-time pair, earlier count on the pair, a
  two-way flow (per-pair state over the whole past).
- ``graph`` (batch only): daily snapshots of the transaction graph up to the
  end of the previous day (`amlwatch.features.graph`).
- ``flow`` (batch only): time-respecting flows through accounts in the last
  Δ days, same-day included: forwards of a recent receipt, chains of them,
  scatter-gathers of forwards and cycles whose hops are in time order
  (`amlwatch.features.flow`). "Graph features" in the detectors and
  benchmarks are the graph and flow families together.
- ``fresh`` (batch only): first contacts (a pair's first transaction) in the
  flow window: butterflies of them through the payment's sender and receiver
  (a bipartite ring's source legs) and forwards of receipts from them
  (`amlwatch.features.flow_fresh`). Not read by the default detectors: on the
  validation period it did not help XGBoost (benchmarks/README.md).
"""

from __future__ import annotations

from amlwatch.features.build import META_COLUMNS, build_features
from amlwatch.features.flow import FlowConfig
from amlwatch.features.graph import GraphConfig
from amlwatch.features.registry import FAMILIES, REGISTRY, WINDOWS, Feature, feature_names

__all__ = [
    "FAMILIES",
    "META_COLUMNS",
    "REGISTRY",
    "WINDOWS",
    "Feature",
    "FlowConfig",
    "GraphConfig",
    "build_features",
    "feature_names",
]
