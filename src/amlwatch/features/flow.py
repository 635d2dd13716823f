"""Flow features (batch only): time-respecting money flow through accounts, past-only.

The static graph family asks "is there a path in the last days' graph"; in a
world where individuals, shops, suppliers and employers pay each other those
paths exist for lawful traffic too. Laundering moves the *same money* along a
chain, each hop later than the one before, keeping most of the amount. This
family measures that, as in AMLworld's graph-feature preprocessing.

Definitions (exact; the tests hold a brute-force twin). Rows are in the
ledger's total order (timestamp, then file order); a transaction i, u -> v at
minute t, sees only rows j < i with t - Δ < t_j (Δ = `delta_days`), and never
self-transfers (x -> x, which move no money between accounts). Amounts are in
the account's own currency: u's receipts by Amount Received and i by Amount
Paid on the sender side; v's receipts and i by Amount Received on the
receiver side. A receipt r of u is *forwarded* by i when
`low <= paid_i / r <= high` (default 0.9-1.0: the receipt minus a fee).

- ``flow_src_match_n``: u's receipts in the window that i forwards.
- ``flow_src_match_hours``: hours since the latest of them (-1 if none).
- ``flow_src_best_ratio``: paid_i / r for u's receipt r closest to it in log
  scale (earliest such on ties; 0 without receipts).
- ``flow_src_max_ratio``: paid_i / u's largest receipt (0 without receipts).
- ``flow_src_out_in``: (u's payments in the window + paid_i) / u's receipts
  in the window (0 without receipts): near 1 when u passes money on.
- ``flow_gather_scatter``: min(distinct payers of u in the window before u's
  first payment in it (or before i), distinct payees of u's payments in the
  window plus v): a fan-in that precedes a fan-out.
- ``flow_dst_similar_n``: among v's latest `max_scan` receipts in the window,
  those r with `low <= received_i / r <= 1 / low`.
- ``flow_dst_fwd_n``: v's receipts in the window that were themselves
  forwards (``flow_src_match_n`` > 0 on their row).
- ``flow_scatter_gather``: distinct accounts m != u that paid v in the window
  with a forward of a receipt from the same payer s as i's latest forwarded
  receipt (s pays u and m; both pass it on to v later; 0 when i forwards
  nothing).
- ``flow_chain_len``: 0 when i forwards nothing, else 1 + the value on the
  row of i's latest forwarded receipt: how many forwards in a row the money
  has made (a chain of mules), read back along the latest matches.
- ``flow_cycle_len``: 1 + the fewest hops L <= `max_cycle` - 1 of a
  time-respecting path v -> ... -> u in the window (rows p_1 < ... < p_L < i,
  each hop leaving the account the previous one paid), so i closes a cycle
  whose hops are in time order; 0 if none or u == v (`amlwatch.features.flow_cycles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from amlwatch.features.account_index import account_rows, rows_since
from amlwatch.features.flow_cycles import cycle_lengths
from amlwatch.features.registry import register

__all__ = ["FLOW", "FlowConfig", "flow_features"]

DAY_MINUTES = 1440

FLOW: dict[str, str] = {
    "flow_src_match_n": "sender's receipts in the last Δ that this payment forwards (low-high of it)",
    "flow_src_match_hours": "hours since the sender's latest receipt this payment forwards (-1 if none)",
    "flow_src_best_ratio": "amount / the sender's receipt in the last Δ closest to it (0 if none)",
    "flow_src_max_ratio": "amount / the sender's largest receipt in the last Δ (0 if none)",
    "flow_src_out_in": "sender's payments in the last Δ incl. this one / its receipts (0 if none)",
    "flow_gather_scatter": "min(sender's payers before its first payment in Δ, its payees incl. this)",
    "flow_dst_similar_n": "receiver's receipts in the last Δ of about this amount (low to 1/low)",
    "flow_dst_fwd_n": "receiver's receipts in the last Δ that were forwards themselves",
    "flow_scatter_gather": "accounts that forwarded money from the same source to the receiver",
    "flow_chain_len": "forwards in a row ending here (1 + the forwarded receipt's chain; 0 if none)",
    "flow_cycle_len": "length of the shortest time-respecting cycle (<= k) this payment closes in Δ",
}
for _name, _text in FLOW.items():
    register(_name, "flow", _text)


@dataclass(frozen=True)
class FlowConfig:
    """The flow window Δ (days), the forward band [low, high], the longest cycle searched, and
    how many of the receiver's latest receipts ``flow_dst_similar_n`` reads (`max_scan`: a
    popular shop holds ~15k receipts in a 10-day window at 1M transactions)."""

    delta_days: float = 10.0
    low: float = 0.9
    high: float = 1.0
    max_cycle: int = 6
    max_scan: int = 100

    def __post_init__(self) -> None:
        if not self.delta_days > 0:
            raise ValueError(f"delta_days must be > 0, got {self.delta_days}")
        if not 0 < self.low <= self.high:
            raise ValueError(f"need 0 < low <= high, got low={self.low}, high={self.high}")
        if not 2 <= self.max_cycle <= 8:
            raise ValueError(f"max_cycle must be in [2, 8], got {self.max_cycle}")
        if self.max_scan < 1:
            raise ValueError(f"max_scan must be >= 1, got {self.max_scan}")


@numba.njit(cache=True)
def _flow_kernel(
    src: np.ndarray,
    dst: np.ndarray,
    minute: np.ndarray,
    paid: np.ndarray,
    received: np.ndarray,
    in_ptr: np.ndarray,
    in_idx: np.ndarray,
    out_ptr: np.ndarray,
    out_idx: np.ndarray,
    n: int,
    delta: int,
    low: float,
    high: float,
    max_scan: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested against the brute-force twin
    m = len(src)
    out = np.zeros((10, m), dtype=np.float64)
    match_src = np.full(m, -1, dtype=np.int64)  # payer of row i's latest forwarded receipt
    stamp = np.full(n, -1, dtype=np.int64)
    stamp2 = np.full(n, -1, dtype=np.int64)
    # Forwards among each account's receipts, counted along its receipt list: account a's
    # list holds positions in_ptr[a]..in_ptr[a+1]-1, its counts sit at those positions + a.
    fwd_cum = np.zeros(len(in_idx) + n, dtype=np.int64)
    i_pos = np.full(m, -1, dtype=np.int64)  # row -> its position in its receiver's list
    i_pos[in_idx] = np.arange(len(in_idx))
    for i in range(m):
        u, v, t = src[i], dst[i], minute[i]
        since = t - delta
        a = paid[i]
        # The sender's receipts and payments in the window.
        rlo, rhi = rows_since(in_ptr, in_idx, minute, u, i, since)
        plo, phi = rows_since(out_ptr, out_idx, minute, u, i, since)
        first_pay = out_idx[plo] if plo < phi else i
        n_match, last_match, best, best_ratio, biggest, sum_in, payers = (
            0,
            -1,
            np.inf,
            0.0,
            0.0,
            0.0,
            0,
        )
        for p in range(rlo, rhi):
            j = in_idx[p]
            r = received[j]
            if r <= 0.0:
                continue
            ratio = a / r
            if low <= ratio <= high:
                n_match += 1
                last_match = j
            gap = abs(math.log(ratio)) if ratio > 0.0 else np.inf
            if gap < best:
                best, best_ratio = gap, ratio
            biggest = max(biggest, r)
            sum_in += r
            if j < first_pay and stamp[src[j]] != i:
                stamp[src[j]] = i
                payers += 1
        sum_out = a
        payees = 1
        stamp2[v] = i
        for p in range(plo, phi):
            j = out_idx[p]
            sum_out += paid[j]
            if stamp2[dst[j]] != i:
                stamp2[dst[j]] = i
                payees += 1
        out[0, i] = n_match
        out[1, i] = (t - minute[last_match]) / 60.0 if last_match >= 0 else -1.0
        out[2, i] = best_ratio
        out[3, i] = a / biggest if biggest > 0.0 else 0.0
        out[4, i] = sum_out / sum_in if sum_in > 0.0 else 0.0
        out[5, i] = min(payers, payees)
        s = src[last_match] if last_match >= 0 else -1
        out[9, i] = 1.0 + out[9, last_match] if last_match >= 0 else 0.0
        match_src[i] = s
        # The receiver's receipts in the window (rows j < i, so their own values are final).
        b = received[i]
        vlo, vhi = rows_since(in_ptr, in_idx, minute, v, i, since)
        similar, siblings = 0, 0
        for p in range(max(vlo, vhi - max_scan), vhi):
            r = received[in_idx[p]]
            if r > 0.0 and low <= b / r <= 1.0 / low:
                similar += 1
        if (
            s >= 0
        ):  # only forwards have siblings: a popular shop's window is not walked per card payment
            for p in range(vlo, vhi):
                j = in_idx[p]
                w = src[j]
                if match_src[j] == s and w != u and stamp[w] != -2 - i:
                    stamp[w] = -2 - i  # a mark of its own: stamp[] == i means "payer of u" above
                    siblings += 1
        fwd = fwd_cum[vhi + v] - fwd_cum[vlo + v]
        if i_pos[i] >= 0:  # row i is a receipt of v: extend v's running count of forwards
            fwd_cum[i_pos[i] + v + 1] = fwd_cum[i_pos[i] + v] + (n_match > 0)
        out[6, i] = similar
        out[7, i] = fwd
        out[8, i] = siblings
    return out


def flow_features(tx: pl.DataFrame, config: FlowConfig | None = None) -> pl.DataFrame:
    """Flow features for a ledger's transactions (same rows, same order); see the module docstring."""
    cfg = config or FlowConfig()
    minute = (tx.get_column("timestamp").dt.epoch("s").to_numpy() // 60).astype(np.int64)
    src = tx.get_column("src").to_numpy().astype(np.int64)
    dst = tx.get_column("dst").to_numpy().astype(np.int64)
    paid = tx.get_column("amount_paid").to_numpy().astype(np.float64)
    received = tx.get_column("amount_received").to_numpy().astype(np.float64)
    n = int(max(src.max(initial=0), dst.max(initial=0))) + 1
    rows = np.flatnonzero(src != dst)  # self-transfers move no money between accounts
    in_ptr, in_idx = account_rows(dst[rows], rows, n)
    out_ptr, out_idx = account_rows(src[rows], rows, n)
    delta = round(cfg.delta_days * DAY_MINUTES)
    values = _flow_kernel(
        src,
        dst,
        minute,
        paid,
        received,
        in_ptr,
        in_idx,
        out_ptr,
        out_idx,
        n,
        delta,
        cfg.low,
        cfg.high,
        cfg.max_scan,
    )
    cycles = cycle_lengths(src, dst, minute, out_ptr, out_idx, n, delta, cfg.max_cycle)
    names = list(FLOW)
    cols = {name: values[k].astype(np.float32) for k, name in enumerate(names[:9])}
    cols["flow_chain_len"] = values[9].astype(np.float32)
    cols["flow_cycle_len"] = cycles.astype(np.float32)
    return pl.DataFrame(cols)
