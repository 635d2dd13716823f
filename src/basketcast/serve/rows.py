"""Every user's context-free candidate rows, built once in bulk and refreshed per user.

The bulk frame is sorted by user, so a user's rows are an O(log n) slice of it
(no copy). A user who posts gets their own small frame that shadows the bulk
one; until it is rebuilt the user is *stale* and must not be scored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import polars as pl

__all__ = ["UserRows"]


class UserRows:
    """A user → rows map over one bulk frame plus per-user replacements."""

    def __init__(self, bulk: pl.DataFrame) -> None:
        if not bulk.get_column("user_id").is_sorted():
            bulk = bulk.sort("user_id", "product_id")
        self._bulk = bulk
        self._users = bulk.get_column("user_id").to_numpy()
        self._fresh: dict[int, pl.DataFrame] = {}
        self._stale: dict[int, int] = {}  # user -> posts not yet in their rows (a generation)
        self._lock = threading.Lock()
        self.empty = bulk.clear()

    @property
    def rows(self) -> int:
        return self._bulk.height

    def first_user(self) -> int | None:
        """A user with rows in the bulk frame (None when it is empty)."""
        return int(self._users[0]) if self._users.size else None

    def get(self, user_id: int) -> pl.DataFrame:
        """The user's rows (empty for a user without candidates)."""
        with self._lock:
            fresh = self._fresh.get(user_id)
        if fresh is not None:
            return fresh
        start = int(np.searchsorted(self._users, user_id, side="left"))
        end = int(np.searchsorted(self._users, user_id, side="right"))
        return self._bulk.slice(start, end - start)

    def mark_stale(self, user_id: int) -> None:
        """Call after the user's new order is in the history, never before."""
        with self._lock:
            self._stale[user_id] = self._stale.get(user_id, 0) + 1

    def is_stale(self, user_id: int) -> bool:
        with self._lock:
            return user_id in self._stale

    def stale(self) -> dict[int, int]:
        """A snapshot of the stale users and their generations; take it before reading history."""
        with self._lock:
            return dict(self._stale)

    def replace(self, users: Iterable[int], frame: pl.DataFrame, *, seen: dict[int, int]) -> None:
        """Install rebuilt rows of `users` (those absent from `frame` have none).

        Only the staleness `seen` when the rebuild started is cleared: a user who
        posted again meanwhile stays stale and is rebuilt once more.
        """
        parts = {
            int(key[0]): part for key, part in frame.partition_by("user_id", as_dict=True).items()
        }
        with self._lock:
            for user in users:
                self._fresh[int(user)] = parts.get(int(user), self.empty)
            for user, generation in seen.items():
                if self._stale.get(user) == generation:
                    del self._stale[user]
