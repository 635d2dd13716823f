"""Neighbour suspicion: aggregates of earlier transactions' scores around a payment's accounts.

The GBDT analogue of a graph network's message passing: a ring's legs share
accounts, so one leg that looks suspicious lends suspicion to the legs that
touch the same accounts later. Each transaction already has a score `s`
(stage 1 of `amlwatch.detectors.propagate`); this module aggregates those
scores over each payment's neighbourhood, past only.

Definitions (exact; the tests hold a brute-force twin). Rows are in ledger
order (timestamp, then file order) and indexed by that order. For a row i,
u -> v at minute t, the window is W(i) = {j < i : t_j > t - Δ} (strictly
earlier rows, same minute included). Four groups of rows in W(i):

- ``src_out``: u's payments (src_j = u); ``src_in``: u's receipts (dst_j = u);
- ``dst_out``: v's payments (src_j = v); ``dst_in``: v's receipts (dst_j = v).

Per group ``g``: ``nb_{g}_max`` (the largest s_j, 0 if empty), ``nb_{g}_sum``
(the sum of s_j) and ``nb_{g}_high`` (how many s_j >= `high`). With
``hops=2``, two more columns reach one account further, read back along
the rows' own values (so they stay past-only): ``nb_src_in_2hop`` is the
largest, over u's receipts j in W(i), of max(nb_src_in_max, nb_src_out_max)
on row j (the neighbourhood of the account that paid u, when it paid), and
``nb_dst_out_2hop`` the largest, over v's payments j in W(i), of
max(nb_dst_in_max, nb_dst_out_max) on row j (the neighbourhood of the
account v paid, when v paid it).

Fully vectorised: each group's window is a slice of the account's rows
(sorted by account, then row), found with two binary searches; sums and
counts are prefix-sum differences and the maxima come from a sparse table,
so a popular shop's thousands of receipts cost nothing extra.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["GROUPS", "neighbour_columns", "neighbour_scores"]

GROUPS = ("src_out", "src_in", "dst_out", "dst_in")
_AGGREGATES = ("max", "sum", "high")
_TWO_HOP = ("nb_src_in_2hop", "nb_dst_out_2hop")
_FIXED = float(2**32)  # sums in units of 2^-32 (scores are probabilities)


def neighbour_columns(*, hops: int = 1) -> list[str]:
    """The column names `neighbour_scores` returns, in order."""
    if hops not in (1, 2):
        raise ValueError(f"hops must be 1 or 2, got {hops}")
    names = [f"nb_{g}_{a}" for g in GROUPS for a in _AGGREGATES]
    return names + (list(_TWO_HOP) if hops == 2 else [])


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(values[lo:hi]) per query (0 for an empty range; values are >= 0), via a sparse table."""
    length = hi - lo
    out = np.zeros(len(lo), dtype=np.float64)
    longest = int(length.max(initial=0))
    level = values.astype(np.float64)
    k = 0
    while True:
        span = 1 << k
        # Queries whose largest power of two not above their length is `span`.
        sel = np.flatnonzero((length >= span) & (length < 2 * span))
        if sel.size:
            out[sel] = np.maximum(level[lo[sel]], level[hi[sel] - span])
        if 2 * span > longest:
            return out
        level = np.maximum(level[:-span], level[span:])  # level k+1: max over 2 * span
        k += 1


def _windows(
    key: np.ndarray, query: np.ndarray, minute: np.ndarray, delta: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's window among the rows whose `key` equals the row's `query` account.

    Returns the rows sorted by (key, row) and, per row i, [lo, hi) in that order:
    rows j < i with key_j = query_i and minute_j > minute_i - delta.
    """
    n = len(key)
    order = np.argsort(key, kind="stable")  # rows ascend within each account
    # Shift minutes so that every `minute - delta` is >= 0 and (account, minute) packs in int64.
    m = minute - minute.min(initial=0) + delta + 1
    big = int(m.max(initial=0)) + 1
    by_row = key[order] * np.int64(n) + order
    by_minute = key[order] * np.int64(big) + m[order]
    rows = np.arange(n, dtype=np.int64)
    hi = np.searchsorted(by_row, query * np.int64(n) + rows, side="left")
    lo = np.searchsorted(by_minute, query * np.int64(big) + (m - delta), side="right")
    return order, np.minimum(lo, hi), hi


def neighbour_scores(
    src: npt.ArrayLike,
    dst: npt.ArrayLike,
    minute: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    delta_minutes: int,
    high: float,
    hops: int = 1,
) -> np.ndarray:
    """Neighbour-suspicion features of every row (rows in ledger order), shape (rows, columns).

    Parameters
    ----------
    src, dst : account codes (int) of each row's sender and receiver.
    minute : each row's minute (non-decreasing: rows are in ledger order).
    score : each row's stage-1 score, in [0, 1] (sums are exact to 2^-32 per row).
    delta_minutes : the window Δ in minutes.
    high : the score at or above which a row counts in the ``*_high`` columns.
    hops : 1, or 2 for the two 2-hop columns as well (see the module docstring).
    """
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    minute = np.asarray(minute, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    if not (len(src) == len(dst) == len(minute) == len(score)):
        raise ValueError("src, dst, minute and score must have one value per row")
    if len(minute) > 1 and np.any(np.diff(minute) < 0):
        raise ValueError("rows must be in ledger order (minutes non-decreasing)")
    if len(score) and not (score.min() >= 0.0 and score.max() <= 1.0):
        raise ValueError("scores must lie in [0, 1]")
    if delta_minutes < 1:
        raise ValueError(f"delta_minutes must be >= 1, got {delta_minutes}")
    names = neighbour_columns(hops=hops)
    out = np.zeros((len(src), len(names)), dtype=np.float64)
    windows = {}
    for g, (key, query) in enumerate(((src, src), (dst, src), (src, dst), (dst, dst))):
        order, lo, hi = _windows(key, query, minute, delta_minutes)
        vals = score[order]
        # Sums as differences of integer prefix sums in fixed point: exact, so a row's sum does
        # not change in its last bits with rows that come later (a float cumsum over the
        # account-sorted rows would carry other accounts' later rows' rounding).
        cum = np.concatenate([[0], np.cumsum(np.round(vals * _FIXED).astype(np.int64))])
        cum_high = np.concatenate([[0], np.cumsum(vals >= high)])
        out[:, 3 * g] = _range_max(vals, lo, hi)
        out[:, 3 * g + 1] = (cum[hi] - cum[lo]) / _FIXED
        out[:, 3 * g + 2] = cum_high[hi] - cum_high[lo]
        windows[GROUPS[g]] = (order, lo, hi)
    if hops == 2:
        # u's receipts j carry their payer's neighbourhood (src side of row j); v's
        # payments j carry their payee's (dst side of row j).
        src_side = np.maximum(out[:, 0], out[:, 3])
        dst_side = np.maximum(out[:, 6], out[:, 9])
        order, lo, hi = windows["src_in"]
        out[:, 12] = _range_max(src_side[order], lo, hi)
        order, lo, hi = windows["dst_out"]
        out[:, 13] = _range_max(dst_side[order], lo, hi)
    return out
