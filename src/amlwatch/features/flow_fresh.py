"""First contacts around a payment (family `fresh`, batch only): fresh bipartites and forwards.

A bipartite ring (2-4 payers each paying each of 2-4 payees within days) is
made of *source* legs: amounts drawn from a lawful cover, nothing forwarded,
no cycle closed, so the flow family cannot see them. What they share is
structure: the payers and payees had never dealt with each other before, and
they all deal with each other within days. Those are butterflies (4-cycles
u -> v', u' -> v', u' -> v, plus the payment u -> v itself) of *first
contacts* in the past window.

Columns carry the batch families' prefix ``flow_``. Definitions (exact; the tests hold a brute-force twin). A *first contact* is
the first row of its (sender, receiver) pair in the ledger's total order
(timestamp, then file order), not a self-transfer. For row i, u -> v at
minute t, the window W is the first contacts j < i with t - Δ < t_j. Since a
pair has one first contact, the rows of W are distinct pairs:

- P = the receivers of u's latest `max_scan` first contacts in W, minus v
  (u's fresh payees);
- Q = the senders of v's latest `max_scan` first contacts in W, minus u
  (v's fresh payers);
- for u' in Q, F(u') = the receivers of u''s latest `max_scan` first contacts
  in W (its fresh payees).

- ``flow_fresh_copayers``: |{u' in Q : F(u') meets P}| — v's fresh payers that
  also paid one of u's fresh payees.
- ``flow_fresh_copayees``: |P ∩ ⋃ F(u')| — u's fresh payees that one of v's
  fresh payers also paid.
- ``flow_fresh_butterflies``: Σ_{u' in Q} |F(u') ∩ P| — the butterflies.
- ``flow_fresh_density``: the butterflies / (|P| |Q|) (0 without one): near
  1 when the fresh payers and payees are all connected, as in a ring; a
  popular shop's many card payers keep it small.
- ``flow_fresh_payer_fanout``: max over u' in Q of u''s first contacts in W as
  a payer, uncapped (0 when Q is empty) — the busiest fresh fan-out among
  v's fresh payers.

The caps (`max_scan`, `FlowConfig`'s) bound a popular shop's thousands of
first-time card payers; they are part of the definition.

Laundering legs also join accounts that never dealt with each other, while a
lawful forward-like payment (a 90-100 % match of a recent receipt) usually
passes on money from a regular payer (an employer, a customer). So:

- ``flow_fresh_fwd_n``: u's receipts j < i in the window (t - Δ < t_j, not
  self-transfers, by Amount Received) that i forwards (``low <= paid_i /
  received_j <= high``, as in ``flow_src_match_n``) and that were first
  contacts.
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl

from amlwatch.features.account_index import account_rows, rows_since
from amlwatch.features.flow import DAY_MINUTES, FlowConfig
from amlwatch.features.registry import register

__all__ = ["FRESH", "first_contacts", "fresh_features"]

FRESH: dict[str, str] = {
    "flow_fresh_copayers": "receiver's fresh payers in Δ that also paid one of the sender's fresh payees",
    "flow_fresh_copayees": "sender's fresh payees in Δ that one of the receiver's fresh payers also paid",
    "flow_fresh_butterflies": "4-cycles of first contacts in Δ through this payment's sender and receiver",
    "flow_fresh_density": "the butterflies over |sender's fresh payees| x |receiver's fresh payers|",
    "flow_fresh_payer_fanout": "most first contacts in Δ made by one of the receiver's fresh payers",
    "flow_fresh_fwd_n": "sender's receipts in Δ from first contacts that this payment forwards",
}
for _name, _text in FRESH.items():
    register(_name, "fresh", _text)


def first_contacts(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rows (ascending) that are the first of their (sender, receiver) pair, self-transfers excluded."""
    frame = pl.DataFrame({"src": src, "dst": dst})
    first = frame.select(pl.struct("src", "dst").is_first_distinct()).to_series().to_numpy()
    return np.flatnonzero(first & (src != dst))


@numba.njit(cache=True)
def _kernel(
    src: np.ndarray,
    dst: np.ndarray,
    minute: np.ndarray,
    in_ptr: np.ndarray,
    in_idx: np.ndarray,
    out_ptr: np.ndarray,
    out_idx: np.ndarray,
    n: int,
    delta: int,
    max_scan: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested against the brute-force twin
    m = len(src)
    out = np.zeros((5, m), dtype=np.float64)
    in_p = np.full(n, -1, dtype=np.int64)  # in_p[x] == i: x is in P for row i
    hit = np.full(n, -1, dtype=np.int64)  # hit[x] == i: x in P was reached from Q
    for i in range(m):
        u, v = src[i], dst[i]
        since = minute[i] - delta
        plo, phi = rows_since(out_ptr, out_idx, minute, u, i, since)
        n_p = 0
        for p in range(max(plo, phi - max_scan), phi):
            x = dst[out_idx[p]]
            if x != v:
                in_p[x] = i
                n_p += 1
        qlo, qhi = rows_since(in_ptr, in_idx, minute, v, i, since)
        copayers, copayees, butterflies, fanout, n_q = 0, 0, 0, 0, 0
        for q in range(max(qlo, qhi - max_scan), qhi):
            w = src[in_idx[q]]
            if w == u:
                continue
            n_q += 1
            flo, fhi = rows_since(out_ptr, out_idx, minute, w, i, since)
            fanout = max(fanout, fhi - flo)
            if n_p == 0:
                continue
            shared = 0
            for f in range(max(flo, fhi - max_scan), fhi):
                x = dst[out_idx[f]]
                if in_p[x] == i:
                    shared += 1
                    if hit[x] != i:
                        hit[x] = i
                        copayees += 1
            butterflies += shared
            copayers += shared > 0
        out[0, i] = copayers
        out[1, i] = copayees
        out[2, i] = butterflies
        out[3, i] = butterflies / (n_p * n_q) if butterflies > 0 else 0.0
        out[4, i] = fanout
    return out


@numba.njit(cache=True)
def _fresh_forwards(
    minute: np.ndarray,
    paid: np.ndarray,
    received: np.ndarray,
    src: np.ndarray,
    in_ptr: np.ndarray,
    in_idx: np.ndarray,
    delta: int,
    low: float,
    high: float,
) -> np.ndarray:  # pragma: no cover - compiled; tested against the brute-force twin
    m = len(minute)
    out = np.zeros(m, dtype=np.float64)
    for i in range(m):
        lo, hi = rows_since(in_ptr, in_idx, minute, src[i], i, minute[i] - delta)
        count = 0
        for p in range(lo, hi):
            j = in_idx[p]
            if received[j] > 0.0 and low <= paid[i] / received[j] <= high:
                count += 1
        out[i] = count
    return out


def fresh_features(tx: pl.DataFrame, config: FlowConfig | None = None) -> pl.DataFrame:
    """The `FRESH` columns for a ledger's rows (same rows, same order); see the module docstring."""
    cfg = config or FlowConfig()
    delta = round(cfg.delta_days * DAY_MINUTES)
    minute = (tx.get_column("timestamp").dt.epoch("s").to_numpy() // 60).astype(np.int64)
    src = tx.get_column("src").to_numpy().astype(np.int64)
    dst = tx.get_column("dst").to_numpy().astype(np.int64)
    n = int(max(src.max(initial=0), dst.max(initial=0))) + 1
    rows = first_contacts(src, dst)
    in_ptr, in_idx = account_rows(dst[rows], rows, n)
    out_ptr, out_idx = account_rows(src[rows], rows, n)
    values = _kernel(src, dst, minute, in_ptr, in_idx, out_ptr, out_idx, n, delta, cfg.max_scan)
    cols = {name: values[k].astype(np.float32) for k, name in enumerate(list(FRESH)[:5])}
    paid = tx.get_column("amount_paid").to_numpy().astype(np.float64)
    received = tx.get_column("amount_received").to_numpy().astype(np.float64)
    fwd = _fresh_forwards(minute, paid, received, src, in_ptr, in_idx, delta, cfg.low, cfg.high)
    cols["flow_fresh_fwd_n"] = fwd.astype(np.float32)
    return pl.DataFrame(cols)
