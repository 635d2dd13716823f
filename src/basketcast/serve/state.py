"""The running service: history, order store, loaded model and rows, and their updates.

Reads (next baskets) come from many threads at once. A post is checked,
stored durably, added to the history, and marks its user stale; the user's
rows are rebuilt before their next answer (batched with every other stale
user, so a burst of posts costs one feature transform, not one each). A
reload builds the new model and every user's rows beside the old ones and
swaps them in one assignment: requests never see a half-loaded model.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import polars as pl

from basketcast.data.load import load_dataset
from basketcast.serve.domain import (
    Context,
    InvalidOrder,
    NextBasket,
    NotReady,
    OrderConflict,
    PostedOrder,
)
from basketcast.serve.history import OrderHistory
from basketcast.serve.rows import UserRows
from basketcast.serve.scorer import ModelScorer, Scored, Scorer
from basketcast.serve.settings import ServeSettings
from basketcast.serve.store import OrderStore, open_store

__all__ = ["Loaded", "Pending", "Posted", "ServiceState", "data_folder"]

log = logging.getLogger("basketcast.serve")


@dataclass(frozen=True)
class Loaded:
    """A model and every user's rows under it: swapped as one value."""

    scorer: Scorer
    rows: UserRows
    loaded_at: float


def data_folder(settings: ServeSettings) -> Path:
    """The order history to load: --data, else the folder the run was trained on."""
    if settings.data_dir is not None:
        return settings.data_dir
    metrics = settings.run_dir / "metrics.json"
    if not metrics.exists():
        raise FileNotFoundError(
            f"{metrics}: missing, so the run's data folder is unknown; pass --data"
        )
    return Path(json.loads(metrics.read_text())["data"])


class ServiceState:
    """Everything a request handler touches, behind thread-safe methods."""

    def __init__(self, settings: ServeSettings, history: OrderHistory, store: OrderStore) -> None:
        self.settings = settings
        self.history = history
        self.store = store
        self._loaded: Loaded | None = None
        self._answers: OrderedDict[tuple[int, tuple[object, ...]], NextBasket] = OrderedDict()
        self._answers_lock = threading.Lock()
        # Each user's cached keys, so a post forgets them without scanning the cache.
        self._answer_keys: dict[int, set[tuple[int, tuple[object, ...]]]] = {}
        self._rebuild_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._posted_during_reload: set[int] | None = None
        self.replayed = 0
        self.already_in_data = 0  # posted orders the data now holds (skipped at replay)

    # --- startup and reload ----------------------------------------------------------------------

    @classmethod
    def start(cls, settings: ServeSettings) -> ServiceState:
        """Load the data, replay every stored order, load the model and build every user's rows."""
        started = time.perf_counter()
        dataset = load_dataset(data_folder(settings))
        history = OrderHistory(dataset)
        store = open_store(settings.db_target)
        del dataset  # the history keeps what it needs, indexed by user
        state = cls(settings, history, store)
        for order in store.orders():
            # A re-run on data that now holds posted orders has them twice: the data's copy wins.
            if history.in_data(order.order_id):
                state.already_in_data += 1
                continue
            history.add(order)
            state.replayed += 1
        if state.already_in_data:
            log.warning(
                "posted orders already in the data",
                extra={"event": "replay_skipped", "orders": state.already_in_data},
            )
        state._loaded = state._load()
        state.warm_up()
        log.info(
            "loaded",
            extra={
                "event": "loaded",
                "model_version": state.loaded.scorer.version,
                "replayed_orders": state.replayed,
                "rows": state.loaded.rows.rows,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return state

    def _load(self) -> Loaded:
        scorer = ModelScorer(self.settings.run_dir)
        rows = UserRows(scorer.base_rows(self.history.tables().dataset))
        return Loaded(scorer=scorer, rows=rows, loaded_at=time.time())

    def warm_up(self, loaded: Loaded | None = None) -> None:
        """Score one user before serving: the first call of the scoring path costs ~0.3 s
        (compiled code loaded on first use), which would otherwise fall on the first requests."""
        loaded = loaded or self.loaded
        user = loaded.rows.first_user()
        if user is None:
            return
        context = self.history.default_context(user)
        if context is not None:
            loaded.scorer.score_many([(loaded.rows.get(user), context)])

    @property
    def loaded(self) -> Loaded:
        if self._loaded is None:
            raise NotReady("the model is not loaded yet")
        return self._loaded

    def reload(self) -> str:
        """Re-read the run folder given at startup; swap once everything is built."""
        with self._reload_lock:
            self._posted_during_reload = set()
            try:
                fresh = self._load()
                self.warm_up(fresh)
            finally:
                posted, self._posted_during_reload = self._posted_during_reload, None
            for user in posted:  # their orders may have missed the new rows
                fresh.rows.mark_stale(user)
            self._loaded = fresh
            with self._answers_lock:
                self._answers.clear()
                self._answer_keys.clear()
            log.info("reloaded", extra={"event": "reloaded", "model_version": fresh.scorer.version})
            return fresh.scorer.version

    def close(self) -> None:
        self.store.close()

    # --- writes ------------------------------------------------------------------------------------

    def post(self, order: PostedOrder) -> Posted:
        """Check, store durably, then apply: the order counts once `store.append` returned.

        An order already stored under its id is a client's retry: answered with the
        stored order, changing nothing. Another body under that id is an `OrderConflict`.
        """
        try:
            self.history.check(order)
            stored = self.store.append(order)
        except InvalidOrder:
            # The store decides whether this is a repeat, so a retry that raced its first
            # attempt (stored but not yet in the history) is recognised too. An id of the
            # loaded data stays a 422 (its stored copy, if any, is not what is served).
            earlier = (
                None if self.history.in_data(order.order_id) else self.store.get(order.order_id)
            )
            if earlier is None:
                raise
            return Posted(_repeated(order, earlier), replayed=True)
        self.history.add(stored)
        # After the history has the order (see UserRows.mark_stale).
        self.loaded.rows.mark_stale(order.user_id)
        if self._posted_during_reload is not None:
            self._posted_during_reload.add(order.user_id)
        self._forget(order.user_id)
        return Posted(stored, replayed=False)

    def _forget(self, user_id: int) -> None:
        with self._answers_lock:
            for key in self._answer_keys.pop(user_id, ()):
                self._answers.pop(key, None)

    def rebuild_stale(self) -> int:
        """Rebuild the rows of every stale user in one transform; returns how many."""
        loaded = self.loaded
        with self._rebuild_lock:
            seen = loaded.rows.stale()
            if not seen:
                return 0
            tables = self.history.tables(seen)
            frame = loaded.scorer.base_rows(tables.dataset)
            loaded.rows.replace(seen, frame, seen=seen)
            return len(seen)

    # --- reads -------------------------------------------------------------------------------------

    def prepare(self, user_id: int, context: Context | None) -> NextBasket | Pending:
        """Everything before the model: fresh rows, the context, the cache, the no-history case.

        Returns the answer when it needs no scoring, else the `Pending` job to score.
        """
        loaded = self.loaded
        if loaded.rows.is_stale(user_id):
            self.rebuild_stale()
        context = context or self.history.default_context(user_id)
        key = (user_id, (context.key if context else None, loaded.scorer.version))
        with self._answers_lock:
            cached = self._answers.get(key)
            if cached is not None:
                self._answers.move_to_end(key)
                return cached
        orders = self.history.history_size(user_id)
        rows = loaded.rows.get(user_id)
        if context is None or orders == 0 or rows.height == 0:
            reason = (
                f"user {user_id} has no orders with products: nothing to reorder"
                if orders == 0
                else f"user {user_id} has no earlier products to reorder"
            )
            return NextBasket(
                user_id=user_id,
                products=(),
                none=True,
                expected_f1=1.0,
                p_none=1.0,
                candidates={},
                context=context,
                model_version=loaded.scorer.version,
                reason=reason,
                history_orders=orders,
            )
        return Pending(loaded, user_id, rows, context, orders, key)

    def complete(self, job: Pending, scored: Scored) -> NextBasket:
        """The answer from a scored job; kept for the same user and context."""
        answer = NextBasket(
            user_id=job.user_id,
            products=scored.products,
            none=scored.none,
            expected_f1=scored.expected_f1,
            p_none=scored.p_none,
            candidates=scored.candidates,
            context=job.context,
            model_version=job.loaded.scorer.version,
            history_orders=job.orders,
        )
        with self._answers_lock:
            if job.loaded is self._loaded and not job.loaded.rows.is_stale(job.user_id):
                self._answers[job.key] = answer
                self._answer_keys.setdefault(job.user_id, set()).add(job.key)
                while len(self._answers) > self.settings.answer_cache:
                    old, _ = self._answers.popitem(last=False)
                    keys = self._answer_keys.get(old[0])
                    if keys is not None:
                        keys.discard(old)
                        if not keys:
                            del self._answer_keys[old[0]]
        return answer

    @staticmethod
    def score(jobs: Sequence[Pending]) -> list[Scored]:
        """Score jobs in batches per loaded model (a reload may fall between two jobs)."""
        results: dict[int, Scored] = {}
        groups: dict[int, list[int]] = {}
        for k, job in enumerate(jobs):
            groups.setdefault(id(job.loaded), []).append(k)
        for members in groups.values():
            scorer = jobs[members[0]].loaded.scorer
            scored = scorer.score_many([(jobs[k].rows, jobs[k].context) for k in members])
            results.update(zip(members, scored, strict=True))
        return [results[k] for k in range(len(jobs))]

    def next_basket(self, user_id: int, context: Context | None) -> NextBasket:
        """`prepare`, `score` and `complete` in one call (no batching)."""
        prepared = self.prepare(user_id, context)
        if isinstance(prepared, NextBasket):
            return prepared
        return self.complete(prepared, self.score([prepared])[0])


class Posted(NamedTuple):
    """A post's outcome: the stored order, and whether it was stored by an earlier post."""

    order: PostedOrder
    replayed: bool


def _repeated(order: PostedOrder, earlier: PostedOrder) -> PostedOrder:
    """`earlier` if `order` repeats it field for field; else the conflict, naming every field."""
    fields = order.differences(earlier)
    if not fields:
        return earlier
    reasons = [
        f"order_id {order.order_id} was already posted with other values ({', '.join(fields)}); "
        "a retry must repeat the stored order exactly"
    ]
    reasons += [
        f"{name}: {_shown(getattr(order, name))} posted, {_shown(getattr(earlier, name))} stored"
        for name in fields
    ]
    raise OrderConflict(reasons)


def _shown(value: object) -> str:
    """A value as the client wrote it in JSON (a list, null)."""
    if value is None:
        return "null"
    return str(list(value)) if isinstance(value, tuple) else str(value)


@dataclass(frozen=True, eq=False)
class Pending:
    """A request that needs the model: whose rows, which context, under which loaded model."""

    loaded: Loaded
    user_id: int
    rows: pl.DataFrame
    context: Context
    orders: int
    key: tuple[int, tuple[object, ...]]
