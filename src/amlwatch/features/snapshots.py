"""PageRank and community snapshots of the graph window, optionally in a second process.

The snapshots are the graph family's slowest calls (Leiden above all) and they do
not depend on the per-day features, so `Snapshots` can compute them in one worker
process while the main process computes everything else; the values are the same
either way (each refresh reseeds igraph's random number generator).
"""

from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

__all__ = ["PairWindow", "Snapshots", "rank_and_communities", "refresh_days"]


class PairWindow:
    """Distinct pairs by their last day paid, fed one day at a time (replaces a per-day sort).

    Pair ids are the ranks of the sorted distinct keys, so `window` returns keys in
    ascending order with each key's last day, exactly as sorting the window would.
    """

    def __init__(self, day: np.ndarray, key: np.ndarray) -> None:
        self.keys, self._pid = np.unique(key, return_inverse=True)
        self._day = day  # day-sorted
        self._last = np.full(len(self.keys), np.iinfo(np.int64).min, dtype=np.int64)
        self._fed = 0  # records of days < self._upto applied
        self._upto = int(day[0]) if len(day) else 0

    def window(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Distinct pair keys paid on days [lo, hi] and each one's last day; hi must not decrease."""
        while self._upto <= hi:
            end = int(np.searchsorted(self._day, self._upto, side="right"))
            # One day at a time: every record in the chunk has the same day, so repeats agree.
            self._last[self._pid[self._fed : end]] = self._upto
            self._fed, self._upto = end, self._upto + 1
        sel = np.flatnonzero(self._last >= lo)
        return self.keys[sel], self._last[sel]


def rank_and_communities(
    n: int, u: np.ndarray, v: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """PageRank (times n) on the directed graph and community sizes on its undirected twin."""
    import igraph as ig

    # A list of tuples converts about twice as fast as a NumPy array (same edge list).
    g = ig.Graph(n=n, edges=list(zip(u.tolist(), v.tolist(), strict=True)), directed=True)
    rank = np.asarray(g.pagerank(damping=0.85), dtype=np.float64) * n
    ig.set_random_number_generator(random.Random(seed))
    und = g.as_undirected(mode="collapse")
    membership = np.asarray(
        und.community_leiden(objective_function="modularity", n_iterations=2).membership
    )
    return rank.astype(np.float32), np.bincount(membership)[membership].astype(np.float32)


def refresh_days(days: list[int], every: int) -> list[int]:
    """The days (of those with transactions) on which the snapshots are refreshed."""
    out: list[int] = []
    for d in days:
        if not out or d - out[-1] >= every:
            out.append(d)
    return out


def snapshots(
    day: np.ndarray, key: np.ndarray, n: int, refresh: list[int], window_days: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per refresh day r, PageRank and community sizes of G_W over days [r - W, r - 1].

    `day` (sorted) and `key` (src * n + dst) list every payment between distinct accounts.
    """
    pairs = PairWindow(day, key)
    ranks = np.zeros((len(refresh), n), dtype=np.float32)
    sizes = np.zeros((len(refresh), n), dtype=np.float32)
    for i, r in enumerate(refresh):
        keys, _ = pairs.window(r - window_days, r - 1)
        ranks[i], sizes[i] = rank_and_communities(n, keys // n, keys % n, seed)
    return ranks, sizes


def _context() -> multiprocessing.context.BaseContext:
    """Fork where there is one: the worker touches only NumPy and igraph (no Polars, no
    Numba threads), and unlike spawn it does not re-import the caller's main module,
    so a script without a `__main__` guard still works. Spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class Snapshots:
    """`snapshots(...)`, computed in one worker process when `background`, else on `result()`."""

    def __init__(
        self,
        day: np.ndarray,
        key: np.ndarray,
        n: int,
        refresh: list[int],
        *,
        window_days: int,
        seed: int,
        background: bool,
    ) -> None:
        self._args = (day, key, n, refresh, window_days, seed)
        self._pool: ProcessPoolExecutor | None = None
        self._future: Future[tuple[np.ndarray, np.ndarray]] | None = None
        if background:
            self._pool = ProcessPoolExecutor(1, mp_context=_context())
            self._future = self._pool.submit(snapshots, *self._args)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(ranks, sizes), each (refreshes, accounts) float32."""
        if self._future is None:
            return snapshots(*self._args)
        try:
            return self._future.result()
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
