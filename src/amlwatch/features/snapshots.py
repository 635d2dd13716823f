"""PageRank and community snapshots of the graph window, optionally in a second process.

The snapshots are the graph family's slowest calls (Leiden above all) and they do
not depend on the per-day features, so `Snapshots` can compute them in a worker
process while the main process computes everything else; the values are the same
either way (each refresh reseeds igraph's random number generator).

The worker is a fresh interpreter (``python -m amlwatch.features.snapshots``), not
a fork: a process forked after an OpenMP thread pool has started (XGBoost's, as
`amlwatch score` loads its boosters before it computes features) deadlocks in
igraph's PageRank. A fresh interpreter does not re-run the caller's main module
either, as multiprocessing's spawn would. Inputs and results pass through an
``.npz`` file in a temporary folder.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _worker_env() -> dict[str, str]:
    """The caller's environment, with this copy of amlwatch first on the path, so the
    worker runs the same code even when the caller put it on `sys.path` itself."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[2])  # the folder holding the amlwatch package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


class Snapshots:
    """`snapshots(...)`, computed in a worker process when `background`, else on `result()`."""

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
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        if background:
            self._folder = tempfile.TemporaryDirectory(prefix="amlwatch-snapshots-")
            inputs = Path(self._folder.name, "inputs.npz")
            np.savez(inputs, day=day, key=key, n=n, refresh=np.asarray(refresh, dtype=np.int64),
                     window_days=window_days, seed=seed)  # fmt: skip
            self._worker = subprocess.Popen(
                [sys.executable, "-m", "amlwatch.features.snapshots", self._folder.name],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_worker_env(),
            )

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(ranks, sizes), each (refreshes, accounts) float32."""
        if self._worker is None or self._folder is None:
            return snapshots(*self._args)
        try:
            _, err = self._worker.communicate()
            if self._worker.returncode != 0:
                tail = err.decode(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(
                    f"the graph snapshot worker failed (exit {self._worker.returncode}): "
                    + " | ".join(tail)
                )
            with np.load(Path(self._folder.name, "results.npz")) as results:
                return results["ranks"], results["sizes"]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker if it still runs, and remove its files."""
        if self._worker is not None:
            if self._worker.poll() is None:
                self._worker.kill()
            self._worker.wait()
            if self._worker.stderr is not None:
                self._worker.stderr.close()
            self._worker = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def _work(folder: str) -> None:
    """The worker's job: read the inputs, compute, write the results (then rename, so a
    killed worker never leaves a half-written file to be read)."""
    with np.load(Path(folder, "inputs.npz")) as inputs:
        ranks, sizes = snapshots(
            inputs["day"], inputs["key"], int(inputs["n"]), inputs["refresh"].tolist(),
            int(inputs["window_days"]), int(inputs["seed"]),
        )  # fmt: skip
    partial = Path(folder, "results.partial.npz")
    np.savez(partial, ranks=ranks, sizes=sizes)
    partial.replace(Path(folder, "results.npz"))


if __name__ == "__main__":
    _work(sys.argv[1])
