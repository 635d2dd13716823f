"""Graph features (batch only): the transaction graph in daily snapshots that end the day before.

For a transaction u -> v on calendar day d (days counted from the ledger's
first day), every graph is built from the *distinct* directed pairs (a, b),
a != b, paid on days in a window ending with day d - 1, so graph features are
past-only by construction (same-day history is the account windows' job):

- G_W: days [d - W, d - 1] (W = `window_days`, default 30), for degrees,
  PageRank and community size;
- G_Δ: days [d - Δ, d - 1] (Δ = `delta_days`, default 14), for fan-in/out,
  gather-scatter, scatter-gather and cycles;
- G_1: day d - 1 alone, for bursts.

PageRank and community size are the slow calls, so they are computed on the
snapshot of the most recent refresh day r <= d (refreshed every
`snapshot_every_days`, default 7; set 1 for daily), from G_W ending with day
r - 1: still past-only, at most a week staler.

Whole-graph calls: igraph for PageRank and Leiden (modularity) communities; compiled
(Numba) walks over CSR neighbour lists for cycles (a bidirectional breadth-first search)
and two-step paths (scatter-gather); the Python loop is over days. The snapshot refreshes (`amlwatch.features.snapshots`) run in a worker
process beside everything else for big ledgers, with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from amlwatch.features.registry import register
from amlwatch.features.snapshots import PairWindow, Snapshots, refresh_days

__all__ = ["GraphConfig", "GraphJob", "graph_features"]

DAY_MINUTES = 1440

_GRAPH = {
    "g_src_out_deg": "sender's distinct payees in G_W",
    "g_src_in_deg": "sender's distinct payers in G_W",
    "g_dst_in_deg": "receiver's distinct payers in G_W",
    "g_dst_out_deg": "receiver's distinct payees in G_W",
    "g_src_out_burst": "sender's distinct payees on day d-1 minus its G_W daily average",
    "g_dst_in_burst": "receiver's distinct payers on day d-1 minus its G_W daily average",
    "g_src_fan_out": "fan-out: sender's distinct payees in G_Δ",
    "g_dst_fan_in": "fan-in: receiver's distinct payers in G_Δ",
    "g_gather_scatter": "gather then scatter through the sender: min(payers in G_Δ, payees in G_Δ + 1)",
    "g_scatter_gather": "scatter-gather: accounts m != sender with s->sender, s->m, m->receiver in G_Δ",
    "g_cycle_len": "length of the shortest cycle (<= k) this payment closes through G_Δ; 0 if none",
    "g_src_pagerank": "sender's PageRank in the last refreshed G_W, times the number of accounts",
    "g_dst_pagerank": "receiver's PageRank in the last refreshed G_W, times the number of accounts",
    "g_src_community": "size of the sender's Leiden community in the last refreshed G_W (undirected)",
    "g_dst_community": "size of the receiver's Leiden community in the last refreshed G_W (undirected)",
}
for _name, _text in _GRAPH.items():
    register(_name, "graph", _text)


@dataclass(frozen=True)
class GraphConfig:
    """Graph windows (days), the longest cycle searched (k) and the snapshot refreshes.

    PageRank and communities are refreshed every `snapshot_every_days`; with
    `snapshot_workers` = 1 they are computed in a second process beside the other
    graph features when the ledger has at least `snapshot_workers_from`
    transactions (below that, starting a process costs more than it saves).
    The values are the same either way; 0 keeps everything in one process.
    """

    window_days: int = 30
    delta_days: int = 14
    max_cycle: int = 5
    snapshot_every_days: int = 7
    seed: int = 0
    snapshot_workers: int = 1
    snapshot_workers_from: int = 1_000_000

    def __post_init__(self) -> None:
        if self.window_days < 1 or self.delta_days < 1:
            raise ValueError("window_days and delta_days must be >= 1")
        if self.snapshot_every_days < 1:
            raise ValueError("snapshot_every_days must be >= 1")
        if self.snapshot_workers not in (0, 1):
            raise ValueError(f"snapshot_workers must be 0 or 1, got {self.snapshot_workers}")
        if not 2 <= self.max_cycle <= 8:
            raise ValueError(f"max_cycle must be in [2, 8], got {self.max_cycle}")


class _Adjacency:
    """Out- and in-neighbour lists (CSR) of distinct pairs given sorted by (u, v)."""

    def __init__(self, u: np.ndarray, v: np.ndarray, n: int) -> None:
        self.out_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=n), out=self.out_ptr[1:])
        self.out_idx = v.astype(np.int64)
        by_v = np.argsort(v, kind="stable")  # payers ascending within each receiver
        self.in_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(v, minlength=n), out=self.in_ptr[1:])
        self.in_idx = u[by_v].astype(np.int64)


@numba.njit(cache=True)
def _cycle_kernel(
    out_ptr: np.ndarray,
    out_idx: np.ndarray,
    in_ptr: np.ndarray,
    in_idx: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    by_u: np.ndarray,
    k: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested through graph_features
    n = len(out_ptr) - 1
    ahead, behind = k // 2, (k - 1) // 2  # BFS depths from v (forward) and u (backward)
    back_of = np.full(n, -1, dtype=np.int64)  # back_of[x] == a: back_d[x] is x's hops to a
    back_d = np.zeros(n, dtype=np.int64)
    seen = np.full(n, -1, dtype=np.int64)  # seen[x] == i: reached from pair i's receiver
    queue = np.empty(n, dtype=np.int64)
    out = np.zeros(len(u), dtype=np.float32)
    current = -1
    # Pairs in sender order: the backward ball around a sender is built once for all its pairs.
    for i in by_u:
        a, b = u[i], v[i]
        if a == b:
            continue
        if a != current:
            current = a
            back_of[a], back_d[a] = a, 0
            queue[0], head, tail = a, 0, 1
            for depth in range(1, behind + 1):
                end = tail
                while head < end:
                    x = queue[head]
                    head += 1
                    for p in range(in_ptr[x], in_ptr[x + 1]):
                        y = in_idx[p]
                        if back_of[y] != a:
                            back_of[y], back_d[y] = a, depth
                            queue[tail] = y
                            tail += 1
        # Forward from the receiver, level by level; the shortest v -> u path meets the ball.
        best = k  # any length >= k is "no cycle"
        seen[b] = i
        queue[0], head, tail = b, 0, 1
        if back_of[b] == a:
            best = back_d[b]
        for depth in range(1, ahead + 1):
            if depth >= best:
                break
            end = tail
            while head < end:
                x = queue[head]
                head += 1
                for p in range(out_ptr[x], out_ptr[x + 1]):
                    y = out_idx[p]
                    if seen[y] != i:
                        seen[y] = i
                        queue[tail] = y
                        tail += 1
                        if back_of[y] == a and depth + back_d[y] < best:
                            best = depth + back_d[y]
        if 1 <= best <= k - 1:
            out[i] = best + 1
    return out


def _cycle_len(g: _Adjacency, u: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    """Shortest L+1 <= k with a path v -> ... -> u of length L in `g`; 0 when none or u == v.

    A compiled bidirectional breadth-first search (depth k // 2 from v, (k - 1) // 2
    back from u), so every path of length <= k - 1 meets in the middle.
    """
    return _cycle_kernel(
        g.out_ptr,
        g.out_idx,
        g.in_ptr,
        g.in_idx,
        u.astype(np.int64),
        v.astype(np.int64),
        np.argsort(u, kind="stable").astype(np.int64),
        k,
    )


@numba.njit(cache=True)
def _scatter_gather_kernel(
    out_ptr: np.ndarray,
    out_idx: np.ndarray,
    in_ptr: np.ndarray,
    in_idx: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    by_v: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tested through graph_features
    n = len(out_ptr) - 1
    payer = np.full(n, -1, dtype=np.int64)  # payer[m] == b: m pays receiver b
    seen = np.full(n, -1, dtype=np.int64)  # seen[m] == i: m already counted for pair i
    counts = np.zeros(len(u), dtype=np.float32)
    current = -1
    # Pairs in receiver order: a receiver's payers are marked once for all its pairs (a
    # popular shop has tens of thousands of payers and thousands of paying pairs a day).
    for i in by_v:
        b = v[i]
        if b != current:
            current = b
            for p in range(in_ptr[b], in_ptr[b + 1]):
                payer[in_idx[p]] = b
        c = 0
        for p in range(in_ptr[u[i]], in_ptr[u[i] + 1]):
            s = in_idx[p]
            for q in range(out_ptr[s], out_ptr[s + 1]):
                m = out_idx[q]
                if m != u[i] and payer[m] == b and seen[m] != i:
                    seen[m] = i
                    c += 1
        counts[i] = c
    return counts


def _scatter_gather(g: _Adjacency, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per pair u -> v: distinct m != u with s -> u, s -> m and m -> v for some s (edges of `g`).

    A compiled walk over the neighbour lists: no sibling matrix is materialised, which
    at 5M transactions held tens of millions of (pair, sibling) entries per day.
    """
    return _scatter_gather_kernel(
        g.out_ptr,
        g.out_idx,
        g.in_ptr,
        g.in_idx,
        u.astype(np.int64),
        v.astype(np.int64),
        np.argsort(v, kind="stable").astype(np.int64),
    )


def graph_features(tx: pl.DataFrame, config: GraphConfig | None = None) -> pl.DataFrame:
    """Graph features for a ledger's transactions (same rows, same order); see the module docstring."""
    with GraphJob(tx, config) as job:
        return job.features()


class GraphJob:
    """The graph family in two steps: the constructor starts the snapshot refreshes (in a
    worker process for big ledgers), `features()` computes the rest and collects them.

    `build_features` starts the job before the other families so that the refreshes
    overlap them too. Use as a context manager (or call `close()`) to stop the worker.
    """

    def __init__(self, tx: pl.DataFrame, config: GraphConfig | None = None) -> None:
        self.cfg = cfg = config or GraphConfig()
        self.height = tx.height
        minutes = tx.get_column("timestamp").dt.epoch("s").to_numpy() // 60
        first_day = int(minutes.min()) // DAY_MINUTES if len(minutes) else 0
        day_all = minutes // DAY_MINUTES - first_day
        self.src = src = tx.get_column("src").to_numpy().astype(np.int64)
        self.dst = dst = tx.get_column("dst").to_numpy().astype(np.int64)
        self.n = n = int(max(src.max(initial=0), dst.max(initial=0))) + 1
        keep = src != dst
        order = np.argsort(day_all[keep], kind="stable")
        self.day = day_all[keep][order]
        self.key = src[keep][order] * n + dst[keep][order]
        self.by_day = np.argsort(day_all, kind="stable")
        self.days, starts = np.unique(day_all[self.by_day], return_index=True)
        self.bounds = np.append(starts, len(self.by_day))
        self.refresh = refresh_days(self.days.tolist(), cfg.snapshot_every_days)
        background = cfg.snapshot_workers > 0 and tx.height >= cfg.snapshot_workers_from
        self.snapshots = Snapshots(
            self.day,
            self.key,
            n,
            self.refresh,
            window_days=cfg.window_days,
            seed=cfg.seed,
            background=background,
        )

    def __enter__(self) -> GraphJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.snapshots.close()

    def features(self) -> pl.DataFrame:
        """The graph columns, one row per transaction (ledger order)."""
        cfg, n, src, dst, by_day = self.cfg, self.n, self.src, self.dst, self.by_day
        pairs = PairWindow(self.day, self.key)
        out = {name: np.zeros(self.height, dtype=np.float32) for name in _GRAPH}
        for i, d in enumerate(self.days.tolist()):
            rows = by_day[self.bounds[i] : self.bounds[i + 1]]  # ascending within the day
            u, v = src[rows], dst[rows]
            keys, last = pairs.window(d - cfg.window_days, d - 1)
            wu, wv = keys // n, keys % n
            in_delta = last >= d - cfg.delta_days
            du, dv = wu[in_delta], wv[in_delta]
            yesterday = last == d - 1
            pu, pv = wu[yesterday], wv[yesterday]
            out_w, in_w = np.bincount(wu, minlength=n), np.bincount(wv, minlength=n)
            out_d, in_d = np.bincount(du, minlength=n), np.bincount(dv, minlength=n)
            out_1, in_1 = np.bincount(pu, minlength=n), np.bincount(pv, minlength=n)
            span = min(cfg.window_days, int(d)) or 1
            out["g_src_out_deg"][rows] = out_w[u]
            out["g_src_in_deg"][rows] = in_w[u]
            out["g_dst_in_deg"][rows] = in_w[v]
            out["g_dst_out_deg"][rows] = out_w[v]
            out["g_src_out_burst"][rows] = out_1[u] - out_w[u] / span
            out["g_dst_in_burst"][rows] = in_1[v] - in_w[v] / span
            out["g_src_fan_out"][rows] = out_d[u]
            out["g_dst_fan_in"][rows] = in_d[v]
            out["g_gather_scatter"][rows] = np.minimum(in_d[u], out_d[u] + 1)
            g_delta = _Adjacency(du, dv, n)  # du, dv: distinct pairs sorted by (u, v)
            # Both depend on the pair and the day only: compute once per distinct pair.
            pair_key, pair_row = np.unique(u * n + v, return_inverse=True)
            pu_, pv_ = pair_key // n, pair_key % n
            out["g_scatter_gather"][rows] = _scatter_gather(g_delta, pu_, pv_)[pair_row]
            out["g_cycle_len"][rows] = _cycle_len(g_delta, pu_, pv_, cfg.max_cycle)[pair_row]
        # PageRank and communities come from the last refresh on or before each row's day,
        # a graph that ends the day before that refresh (past-only, at most a few days staler).
        ranks, sizes = self.snapshots.result()
        row_day = np.repeat(self.days, np.diff(self.bounds))
        snap = np.searchsorted(np.asarray(self.refresh, dtype=np.int64), row_day, side="right") - 1
        u, v = src[by_day], dst[by_day]
        out["g_src_pagerank"][by_day] = ranks[snap, u]
        out["g_dst_pagerank"][by_day] = ranks[snap, v]
        out["g_src_community"][by_day] = sizes[snap, u]
        out["g_dst_community"][by_day] = sizes[snap, v]
        return pl.DataFrame(out)
