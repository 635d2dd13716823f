"""Alerts grouped into cases: what an investigator opens, rather than one payment at a time.

A ring's legs share accounts, so its alerts do too. Two alerts of one detector
are *linked* when they share an account, (bank, account), and their timestamps
are at most `window_days` apart; a *case* is a connected component of that
relation, so a chain of such links may span longer than the window. Without
the window a long-lived hub (a shop that a rule keeps hitting) would glue
months of unrelated alerts into one case. `case_id` numbers a detector's cases
1, 2, ... in the order of their first alert; `case_size` is how many alerts
the case holds.

Per account, its alerts sorted by time need only link each to the next when
the gap is within the window: any within-window pair is chained through the
alerts between them. The components of those links over the alerts come from
SciPy's `connected_components`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["DEFAULT_CASE_WINDOW_DAYS", "assign_cases"]

DEFAULT_CASE_WINDOW_DAYS = 14.0
"""The graph features' Δ (`delta_days`): how far apart two linked alerts may be."""

_MICROSECONDS_PER_DAY = 86_400 * 1_000_000


def _components(alerts: pl.DataFrame, window_us: float) -> np.ndarray:
    """One component label per alert (rows of one detector)."""
    n_alerts = alerts.height
    ends = pl.concat(
        [
            alerts.select(bank="from_bank", account="from_account", t="timestamp"),
            alerts.select(bank="to_bank", account="to_account", t="timestamp"),
        ]
    )
    account = ends.select(pl.struct("bank", "account").rank("dense")).to_series().to_numpy()
    t = ends.get_column("t").dt.epoch("us").to_numpy()
    alert = np.tile(np.arange(n_alerts), 2)
    order = np.lexsort((t, account))  # by account, then time
    account, t, alert = account[order], t[order], alert[order]
    link = (account[1:] == account[:-1]) & (np.diff(t) <= window_us)
    graph = coo_matrix(
        (np.ones(int(link.sum())), (alert[:-1][link], alert[1:][link])), shape=(n_alerts,) * 2
    )
    _, labels = connected_components(graph, directed=False)
    return labels


def assign_cases(
    alerts: pl.DataFrame, *, window_days: float = DEFAULT_CASE_WINDOW_DAYS
) -> pl.DataFrame:
    """`alerts` (rows in time order, with `detector`, `timestamp` and the accounts of
    `ALERT_IDENTITY`) with `case_id` and `case_size` added, per detector."""
    if not window_days > 0:  # also refuses NaN
        raise ValueError(f"the case window must be > 0 days, got {window_days}")
    if "detector" not in alerts.columns:  # a run without detectors has no alert columns
        return alerts
    window_us = window_days * _MICROSECONDS_PER_DAY  # inf stays inf: one window for all time
    case = np.zeros(alerts.height, dtype=np.int64)
    size = np.zeros(alerts.height, dtype=np.int64)
    detectors = alerts.get_column("detector").to_numpy() if alerts.height else np.array([])
    for name in dict.fromkeys(detectors.tolist()):
        rows = np.flatnonzero(detectors == name)
        labels = _components(alerts[rows], window_us)
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        # Cases numbered by their first alert, as an analyst's queue would list them.
        ids = np.argsort(np.argsort(first))[inverse] + 1
        case[rows] = ids
        size[rows] = np.bincount(ids)[ids]
    return alerts.with_columns(pl.Series("case_id", case), pl.Series("case_size", size))
