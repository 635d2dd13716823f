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

Whole-graph calls: igraph for PageRank and Leiden (modularity) communities, SciPy sparse
products for reachability and two-step paths; the Python loop is over days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from amlwatch.features.registry import register

__all__ = ["GraphConfig", "graph_features"]

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
    """Graph windows (days) and the longest cycle searched (k)."""

    window_days: int = 30
    delta_days: int = 14
    max_cycle: int = 5
    snapshot_every_days: int = 7
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window_days < 1 or self.delta_days < 1:
            raise ValueError("window_days and delta_days must be >= 1")
        if self.snapshot_every_days < 1:
            raise ValueError("snapshot_every_days must be >= 1")
        if not 2 <= self.max_cycle <= 8:
            raise ValueError(f"max_cycle must be in [2, 8], got {self.max_cycle}")


def _adjacency(u: np.ndarray, v: np.ndarray, n: int) -> sp.csr_matrix:
    """Boolean adjacency (as int8 0/1) of the distinct pairs."""
    data = np.ones(len(u), dtype=np.int8)
    a = sp.csr_matrix((data, (u, v)), shape=(n, n))
    a.data[:] = 1  # duplicates were summed
    return a


def _one_hot(nodes: np.ndarray, n: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.ones(len(nodes), dtype=np.int8), (np.arange(len(nodes)), nodes)), shape=(len(nodes), n)
    )


def _reach(start: sp.csr_matrix, step: sp.csr_matrix, hops: int) -> list[sp.csr_matrix]:
    """Rows: the nodes reachable from each start within 0..hops steps (cumulative, 0/1)."""
    out = [start]
    for _ in range(hops):
        nxt = out[-1] + out[-1] @ step
        nxt.data[:] = 1
        out.append(nxt.tocsr())
    return out


def _meets(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    return np.asarray(a.multiply(b).sum(axis=1)).reshape(-1) > 0


def _cycle_len(a: sp.csr_matrix, u: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    """Shortest L+1 <= k with a path v -> ... -> u of length L in `a`; 0 when none or u == v."""
    n = a.shape[0]
    # Reach sets per distinct start account, then one row per payment.
    starts_v, row_v = np.unique(v, return_inverse=True)
    starts_u, row_u = np.unique(u, return_inverse=True)
    fwd = [m[row_v] for m in _reach(_one_hot(starts_v, n), a, (k - 1 + 1) // 2)]
    bwd = [m[row_u] for m in _reach(_one_hot(starts_u, n), a.T.tocsr(), (k - 1) // 2)]
    out = np.zeros(len(u), dtype=np.float32)
    for length in range(1, k):
        found = _meets(fwd[(length + 1) // 2], bwd[length // 2]) & (out == 0)
        out[found] = length + 1
    out[u == v] = 0
    return out


def _scatter_gather(a: sp.csr_matrix, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    n = a.shape[0]
    siblings = ((_one_hot(u, n) @ a.T.tocsr()) @ a).tocoo()  # m with s -> u and s -> m
    row, m = siblings.row.astype(np.int64), siblings.col.astype(np.int64)
    keep = m != u[row]  # m == u does not count
    row, m = row[keep], m[keep]
    # Does m pay the receiver? Look the pair up among the edges instead of multiplying by the
    # receiver's payers, which for a busy shop are thousands per row.
    edges = a.tocoo()
    edge_keys = np.sort(edges.row.astype(np.int64) * n + edges.col)
    keys = m * n + v[row]
    at = np.minimum(np.searchsorted(edge_keys, keys), max(len(edge_keys) - 1, 0))
    hit = edge_keys[at] == keys if len(edge_keys) else np.zeros(len(keys), dtype=bool)
    return np.bincount(row[hit], minlength=len(u)).astype(np.float32)


def _rank_and_communities(
    n: int, u: np.ndarray, v: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """PageRank (times n) on the directed graph and community sizes on its undirected twin."""
    import igraph as ig

    g = ig.Graph(n=n, edges=np.column_stack([u, v]), directed=True)
    rank = np.asarray(g.pagerank(damping=0.85), dtype=np.float64) * n
    ig.set_random_number_generator(random.Random(seed))
    und = g.as_undirected(mode="collapse")
    membership = np.asarray(
        und.community_leiden(objective_function="modularity", n_iterations=2).membership
    )
    return rank, np.bincount(membership)[membership].astype(np.float32)


def _window_pairs(
    day: np.ndarray, key: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pair keys paid on days [lo, hi] and the last day each was paid (day-sorted input)."""
    a, b = np.searchsorted(day, [lo, hi + 1])
    k, d = key[a:b], day[a:b]
    order = np.lexsort((d, k))
    k, d = k[order], d[order]
    last = np.ones(len(k), dtype=bool)
    last[:-1] = k[1:] != k[:-1]
    return k[last], d[last]


def graph_features(tx: pl.DataFrame, config: GraphConfig | None = None) -> pl.DataFrame:
    """Graph features for a ledger's transactions (same rows, same order); see the module docstring."""
    cfg = config or GraphConfig()
    minutes = tx.get_column("timestamp").dt.epoch("s").to_numpy() // 60
    first_day = int(minutes.min()) // DAY_MINUTES if len(minutes) else 0
    day_all = minutes // DAY_MINUTES - first_day
    src = tx.get_column("src").to_numpy().astype(np.int64)
    dst = tx.get_column("dst").to_numpy().astype(np.int64)
    n = int(max(src.max(initial=0), dst.max(initial=0))) + 1
    keep = src != dst
    order = np.argsort(day_all[keep], kind="stable")
    day = day_all[keep][order]
    key_all = src[keep][order] * n + dst[keep][order]
    refreshed = -1
    out = {name: np.zeros(tx.height, dtype=np.float32) for name in _GRAPH}
    for d in np.unique(day_all):
        rows = np.nonzero(day_all == d)[0]
        u, v = src[rows], dst[rows]
        keys, last = _window_pairs(day, key_all, d - cfg.window_days, d - 1)
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
        a_delta = _adjacency(du, dv, n)
        # Both depend on the pair and the day only: compute once per distinct pair.
        pair_key, pair_row = np.unique(u * n + v, return_inverse=True)
        pu_, pv_ = pair_key // n, pair_key % n
        out["g_scatter_gather"][rows] = _scatter_gather(a_delta, pu_, pv_)[pair_row]
        out["g_cycle_len"][rows] = _cycle_len(a_delta, pu_, pv_, cfg.max_cycle)[pair_row]
        if refreshed < 0 or d - refreshed >= cfg.snapshot_every_days:
            # PageRank and communities are the slowest calls: refresh them every few days,
            # always from a graph that ends the day before the refresh day.
            rank, size = _rank_and_communities(n, wu, wv, cfg.seed)
            refreshed = int(d)
        out["g_src_pagerank"][rows] = rank[u]
        out["g_dst_pagerank"][rows] = rank[v]
        out["g_src_community"][rows] = size[u]
        out["g_dst_community"][rows] = size[v]
    return pl.DataFrame(out)
