"""Alerts grouped into cases: what an investigator opens, rather than one payment at a time.

A ring's legs share accounts, so its alerts do too. A *case* is a connected
component of the graph whose nodes are accounts, (bank, account), and whose
edges are one detector's alerted transactions: two alerts are in one case
when a chain of alerts links their accounts. `case_id` numbers a detector's
cases 1, 2, ... in the order of their first alert; `case_size` is how many
alerts the case holds. The components come from SciPy's `connected_components`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["assign_cases"]


def _components(alerts: pl.DataFrame) -> np.ndarray:
    """One component label per alert (rows of one detector)."""
    ends = pl.concat(
        [
            alerts.select(bank="from_bank", account="from_account"),
            alerts.select(bank="to_bank", account="to_account"),
        ]
    )
    codes = ends.select(pl.struct("bank", "account").rank("dense") - 1).to_series().to_numpy()
    n_alerts = alerts.height
    src, dst = codes[:n_alerts], codes[n_alerts:]
    n = int(codes.max()) + 1
    graph = coo_matrix((np.ones(n_alerts), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[src]


def assign_cases(alerts: pl.DataFrame) -> pl.DataFrame:
    """`alerts` (rows in time order, with `detector` and the accounts of `ALERT_IDENTITY`)
    with `case_id` and `case_size` added, per detector."""
    if "detector" not in alerts.columns:  # a run without detectors has no alert columns
        return alerts
    case = np.zeros(alerts.height, dtype=np.int64)
    size = np.zeros(alerts.height, dtype=np.int64)
    detectors = alerts.get_column("detector").to_numpy() if alerts.height else np.array([])
    for name in dict.fromkeys(detectors.tolist()):
        rows = np.flatnonzero(detectors == name)
        labels = _components(alerts[rows])
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        # Cases numbered by their first alert, as an analyst's queue would list them.
        ids = np.argsort(np.argsort(first))[inverse] + 1
        case[rows] = ids
        size[rows] = np.bincount(ids)[ids]
    return alerts.with_columns(pl.Series("case_id", case), pl.Series("case_size", size))
