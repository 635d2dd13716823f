"""Account trailing-window and pair features (streamable), computed in one compiled pass.

Window definition (exact; a streaming scorer reproduces it): for a transaction
q at minute t_q, an account's window of width w holds that account's earlier
transactions e (sent or received) with

    position(e) < position(q)   and   t_q - w < t_e <= t_q,

where position is the ledger's total order (timestamp, then file order). So a
window is the half-open time interval (t_q - w, t_q], cut at q itself:
same-minute transactions that come before q in the file are in it, q and
later ones are not. Eviction is by time only, so a streaming scorer keeps per
account a queue of (t, direction, counterparty, amount, new-pair flag) for
the widest window, drops entries with t <= t_q - w from each window's view,
then updates after scoring. Sums are in each transaction's own currency
(Amount Paid when sending, Amount Received when receiving).
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl

from amlwatch.features.registry import WINDOWS, register

__all__ = ["STATS", "pair_features", "window_features"]

STATS: dict[str, str] = {
    "out_n": "transactions sent",
    "out_sum": "amount sent",
    "in_n": "transactions received",
    "in_sum": "amount received",
    "out_cp": "distinct accounts paid",
    "in_cp": "distinct accounts that paid it",
    "out_new": "payments to a counterparty never paid before (at that time)",
    "in_new": "receipts from a counterparty that never paid it before (at that time)",
}
ROLES = {"src": "sender", "dst": "receiver"}

for _role, _who in ROLES.items():
    for _w in WINDOWS:
        for _stat, _text in STATS.items():
            register(f"{_role}_{_stat}_{_w}", "account", f"{_who}'s {_text} in the trailing {_w}")
    _way = "sent" if _role == "src" else "received"
    register(
        f"{_role}_amount_z_30d",
        "account",
        f"z-score of log(1 + amount) against the {_who}'s amounts {_way} in the trailing 30d "
        "(0 with fewer than 2; std floored at 0.1)",
    )
register("pair_new", "pair", "first transaction from this sender to this receiver")
register("pair_n_before", "pair", "earlier transactions from this sender to this receiver")
register("pair_reverse_seen", "pair", "the receiver has paid the sender before (a two-way flow)")

_N_STATS = len(STATS)
Z_STD_FLOOR = 0.1


@numba.njit(cache=True, inline="always")
def _update(w, e, sign, direction, slot, amt, logamt, new, cnt, total, ncp, nnew, slots, lsum, lsq):
    d = direction[e]
    s = slot[e]
    if sign > 0:
        if slots[s, w] == 0:
            ncp[w, d] += 1
        slots[s, w] += 1
    else:
        slots[s, w] -= 1
        if slots[s, w] == 0:
            ncp[w, d] -= 1
    cnt[w, d] += sign
    total[w, d] += sign * amt[e]
    nnew[w, d] += sign * new[e]
    lsum[w, d] += sign * logamt[e]
    lsq[w, d] += sign * logamt[e] * logamt[e]


@numba.njit(cache=True)
def _kernel(acc, pos, t, direction, slot, amt, logamt, new, widths, n_slots):
    n = acc.shape[0]
    nw = widths.shape[0]
    # State is float64; results are stored as float32, the feature frame's dtype (half the memory).
    out = np.zeros((n, nw, 8), dtype=np.float32)
    z = np.zeros(n, dtype=np.float64)
    slots = np.zeros((n_slots, nw), dtype=np.int32)  # a slot's windows share a cache line
    cnt = np.zeros((nw, 2), dtype=np.int64)
    nnew = np.zeros((nw, 2), dtype=np.int64)
    ncp = np.zeros((nw, 2), dtype=np.int64)
    total = np.zeros((nw, 2), dtype=np.float64)
    lsum = np.zeros((nw, 2), dtype=np.float64)
    lsq = np.zeros((nw, 2), dtype=np.float64)
    left = np.zeros(nw, dtype=np.int64)
    i = 0
    while i < n:
        a = acc[i]
        for w in range(nw):
            left[w] = i
            for d in range(2):
                cnt[w, d] = 0
                nnew[w, d] = 0
                ncp[w, d] = 0
                total[w, d] = 0.0
                lsum[w, d] = 0.0
                lsq[w, d] = 0.0
        added = i
        j = i
        while j < n and acc[j] == a:
            k = j
            while k < n and acc[k] == a and pos[k] == pos[j]:
                k += 1
            # Everything of this account strictly earlier in the total order enters the state...
            for e in range(added, j):
                for w in range(nw):
                    _update(
                        w,
                        e,
                        1,
                        direction,
                        slot,
                        amt,
                        logamt,
                        new,
                        cnt,
                        total,
                        ncp,
                        nnew,
                        slots,
                        lsum,
                        lsq,
                    )
            added = j
            # ...and leaves it once it is w or more minutes older than the query.
            for w in range(nw):
                while left[w] < added and t[left[w]] <= t[j] - widths[w]:
                    _update(
                        w,
                        left[w],
                        -1,
                        direction,
                        slot,
                        amt,
                        logamt,
                        new,
                        cnt,
                        total,
                        ncp,
                        nnew,
                        slots,
                        lsum,
                        lsq,
                    )
                    left[w] += 1
            for q in range(j, k):
                for w in range(nw):
                    out[q, w, 0] = cnt[w, 0]
                    out[q, w, 1] = total[w, 0]
                    out[q, w, 2] = cnt[w, 1]
                    out[q, w, 3] = total[w, 1]
                    out[q, w, 4] = ncp[w, 0]
                    out[q, w, 5] = ncp[w, 1]
                    out[q, w, 6] = nnew[w, 0]
                    out[q, w, 7] = nnew[w, 1]
                d = direction[q]
                m = cnt[nw - 1, d]
                if m >= 2:
                    mean = lsum[nw - 1, d] / m
                    var = max(lsq[nw - 1, d] / m - mean * mean, 0.0)
                    z[q] = (logamt[q] - mean) / max(np.sqrt(var), 0.1)
            j = k
        # Leave the slot counters clean for the next account (slots are per account anyway).
        for e in range(i, j):
            for w in range(nw):
                slots[slot[e], w] = 0
        i = j
    return out, z


def window_features(tx: pl.DataFrame) -> pl.DataFrame:
    """Account-window features for a ledger's transactions (same rows, same order).

    `tx` needs `src`, `dst`, `timestamp`, `amount_paid`, `amount_received` and
    must be in ledger order (timestamp, then file order).
    """
    n = tx.height
    minutes = tx.get_column("timestamp").dt.epoch("s").to_numpy() // 60
    src = tx.get_column("src").to_numpy().astype(np.int64)
    dst = tx.get_column("dst").to_numpy().astype(np.int64)
    n_acc = int(max(src.max(initial=0), dst.max(initial=0))) + 1
    new = _pair_new(src, dst).astype(np.int64)
    pos = np.arange(n, dtype=np.int64)
    acc = np.concatenate([src, dst])
    cp = np.concatenate([dst, src])
    direction = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    amt = np.concatenate(
        [tx.get_column("amount_paid").to_numpy(), tx.get_column("amount_received").to_numpy()]
    ).astype(np.float64)
    # By account, then position, then direction: one int64 key (unique) instead of a lexsort.
    order = np.argsort((acc * n + np.concatenate([pos, pos])) * 2 + direction)
    key = (acc * 2 + direction) * n_acc + cp
    _, slot = np.unique(key, return_inverse=True)
    widths = np.array(list(WINDOWS.values()), dtype=np.int64)
    out, z = _kernel(
        acc[order],
        np.concatenate([pos, pos])[order],
        np.concatenate([minutes, minutes])[order],
        direction[order],
        slot[order].astype(np.int64),
        amt[order],
        np.log1p(amt[order]),
        np.concatenate([new, new])[order],
        widths,
        int(slot.max(initial=0)) + 1,
    )
    back = np.empty_like(order)
    back[order] = np.arange(order.shape[0])
    table = _to_columns(out.reshape(out.shape[0], -1), back, n)
    zs = z[back].astype(np.float32)
    columns: dict[str, np.ndarray] = {}
    per_role = len(WINDOWS) * _N_STATS
    for r, role in enumerate(ROLES):
        for wi, w in enumerate(WINDOWS):
            for si, stat in enumerate(STATS):
                columns[f"{role}_{stat}_{w}"] = table[r * per_role + wi * _N_STATS + si]
        columns[f"{role}_amount_z_30d"] = zs[r * n : (r + 1) * n]
    return pl.DataFrame(columns)


@numba.njit(cache=True)
def _to_columns(out: np.ndarray, back: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover
    """Kernel rows (account order) -> one contiguous column per (role, statistic).

    Reads one kernel row per (role, transaction) and appends to every column in
    transaction order: sequential writes, instead of a row gather plus one strided copy
    per column (which read the whole table once per column).
    """
    width = out.shape[1]
    res = np.empty((2 * width, n), dtype=np.float32)
    for r in range(2):
        for t in range(n):
            q = back[r * n + t]
            for j in range(width):
                res[r * width + j, t] = out[q, j]
    return res


def _pair_new(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    frame = pl.DataFrame({"src": src, "dst": dst})
    return frame.select(pl.struct("src", "dst").is_first_distinct()).to_series().to_numpy()


def pair_features(tx: pl.DataFrame) -> pl.DataFrame:
    """Pair features: first-time pair, earlier count, two-way flow (all over the whole past)."""
    frame = tx.select("src", "dst").with_row_index("pos")
    first = frame.group_by("src", "dst").agg(pl.col("pos").min().alias("first_pos"))
    reverse = first.rename({"src": "dst", "dst": "src", "first_pos": "rev_pos"})
    out = frame.with_columns(
        pl.int_range(pl.len()).over("src", "dst").alias("pair_n_before"),
    ).join(reverse, on=["src", "dst"], how="left", maintain_order="left")
    return out.select(
        (pl.col("pair_n_before") == 0).cast(pl.Float32).alias("pair_new"),
        pl.col("pair_n_before").cast(pl.Float32),
        (pl.col("rev_pos") < pl.col("pos"))
        .fill_null(False)
        .cast(pl.Float32)
        .alias("pair_reverse_seen"),
    )
