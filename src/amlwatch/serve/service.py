"""The service's state: the served model, the account state (memory + SQLite), group commits.

A request is scored under one lock, so the stream has one order: the
account state in memory moves on, and the transaction's changes join the
commit queue in that same order. The answer waits until its group is
committed, so an answer is only ever given for a committed transaction (one
that survives a kill of the server; with `Durability.POWER`, a power cut too),
and every transaction it depended on (earlier in the queue) is committed too.
If a commit fails, memory is ahead of disk: the service stops scoring (503)
until it is restarted from the file. A reload (`Service.reload`) replaces the
served run (`LoadedRun`: model, threshold, rules) between two requests and
keeps the account state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlwatch.features.registry import feature_names
from amlwatch.serve.commit import Committer
from amlwatch.serve.errors import ServeError
from amlwatch.serve.inputs import InputWarning
from amlwatch.serve.loaded import LoadedRun, StateConflict, load_run, state_conflict
from amlwatch.serve.model import ServedModel
from amlwatch.serve.row import transaction_values
from amlwatch.serve.rules import RowRules
from amlwatch.serve.schemas import TransactionBody, parse_timestamp
from amlwatch.serve.settings import ServeSettings
from amlwatch.serve.store import AccountRow, Directory, StateStore, Write
from amlwatch.serve.stream import (
    STREAM_FEATURES,
    AccountBook,
    OutOfOrder,
    StreamTransaction,
    account_key,
)

__all__ = ["Scored", "Service", "replay_history"]

log = logging.getLogger("amlwatch.serve")

_EPOCH = dt.datetime(1970, 1, 1)
STREAMABLE: tuple[str, ...] = tuple(feature_names(streamable_only=True))
"""What the service computes: every streamable feature, in registry order."""


@dataclass(frozen=True)
class Scored:
    """A scored transaction's answer (sent once its write is committed)."""

    seq: int
    detector: str  # the model that scored it (a reload may swap models before the answer)
    threshold: float
    score: float
    model_alert: bool
    rules: list[str]
    features: dict[str, float]
    reasons: list[str]
    warnings: list[InputWarning]


def replay_history(ledger: Any) -> tuple[AccountBook, Directory, int]:
    """Run a ledger through the streaming state in ledger order (features not computed)."""
    book = AccountBook()
    tx = ledger.transactions
    cols = ("from_bank", "from_account", "to_bank", "to_account", "amount_paid", "amount_received")
    us = tx.get_column("timestamp").dt.epoch("us").to_list()
    for seq, (row, ts_us) in enumerate(zip(tx.select(cols).iter_rows(), us, strict=True)):
        fb, fa, tb, ta, paid, received = row
        st = StreamTransaction(account_key(fb, fa), account_key(tb, ta), ts_us, paid, received)
        book.observe(st, seq, features=False)
    directory: Directory = {
        account_key(b, a): (kind, country)
        for b, a, kind, country in ledger.accounts.select(
            "bank", "account", "kind", "country"
        ).iter_rows()
    }
    return book, directory, tx.height


def _warn_if_warmed_elsewhere(
    store: StateStore, settings: ServeSettings, metrics: dict[str, Any]
) -> None:
    """An existing state keeps its history: say so when the run or --data now name other data.

    The account windows are the warm-up data plus every transaction since, which a
    restart must keep; a re-run on other data does not change them by itself.
    """
    warmed = store.meta("data") or ""
    if settings.data_dir is not None:
        log.warning(
            "--data ignored: the state file exists",
            extra={"event": "data_ignored", "state": str(settings.db_path), "warmed_from": warmed},
        )
    named = metrics.get("source") or ""
    if settings.history and warmed and named and Path(named).resolve() != Path(warmed).resolve():
        log.warning(
            "the state was warmed from other data than the run's",
            extra={"event": "state_data_differs", "state": str(settings.db_path),
                   "warmed_from": warmed, "run_data": named,
                   "fix": "give --db a new file (or delete this one) to warm from the run's data"},
        )  # fmt: skip


MAX_AHEAD = dt.timedelta(days=1)
"""How far past the service's clock (UTC) a timestamp may lie: clock skew, not typos."""


class Service:
    """The loaded run, the account state and the writer; `start` builds it."""

    def __init__(
        self,
        settings: ServeSettings,
        loaded: LoadedRun,
        store: StateStore,
        book: AccountBook,
        directory: Directory,
        next_seq: int,
    ) -> None:
        self.settings = settings
        self.loaded = loaded
        self.store = store
        self.book = book
        self.directory = directory
        self.next_seq = next_seq
        self.history = int(store.meta("history_transactions") or 0)
        self.broken: str | None = None
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.committer: Committer | None = None

    @property
    def model(self) -> ServedModel:
        return self.loaded.model

    @property
    def rules(self) -> RowRules:
        return self.loaded.rules

    @classmethod
    def start(cls, settings: ServeSettings) -> Service:
        """Load the model; warm the state from the history on first start; load it from disk."""
        loaded = load_run(settings.run_dir, detector=settings.detector)
        store = StateStore(settings.db_path, durability=settings.durability)
        if store.is_new():
            cls._initialise(store, settings, loaded.metrics.get("source"))
        else:
            _warn_if_warmed_elsewhere(store, settings, loaded.metrics)
        book, directory, next_seq = store.load()
        service = cls(settings, loaded, store, book, directory, next_seq)
        # Fail at startup, not on the first request, if the model or a rule needs a column
        # the service does not compute (a graph feature, say).
        service._probe(loaded)
        return service

    def _probe(self, loaded: LoadedRun) -> None:
        """Score one made-up row with `loaded`: ValueError if it reads a column not computed here."""
        probe_tx = StreamTransaction("a", "b", 0, 1.0, 1.0)
        probe = self._values(probe_tx, _EPOCH, _probe_body(), dict.fromkeys(STREAM_FEATURES, 0.0))
        try:
            loaded.model.score(probe)
            loaded.rules.hits(probe)
        except Exception as exc:
            raise ValueError(
                f"{loaded.folder}: the served detector or rules cannot be computed "
                f"from the streamable features: {exc}"
            ) from None

    def reload(self) -> tuple[LoadedRun, LoadedRun]:
        """Load the run folder's newly published invocation and serve it; (old, new).

        Everything is loaded and checked beside the served run, then swapped in
        one assignment under the scoring lock: a request scores wholly with one
        or the other, and the account state is kept. Raises (the served run
        stays) on a damaged folder, a model the service cannot compute, or
        `StateConflict` when the new run was made from other data.
        """
        with self._reload_lock:  # a SIGHUP and a POST at once: one after the other
            fresh = load_run(self.settings.run_dir, detector=self.settings.detector)
            conflict = state_conflict(self.loaded, fresh, run=self.settings.run_dir)
            if conflict is not None:
                raise StateConflict(conflict)
            self._probe(fresh)
            with self._lock:
                old, self.loaded = self.loaded, fresh
            return old, fresh

    @staticmethod
    def _initialise(store: StateStore, settings: ServeSettings, source: str | None) -> None:
        data = settings.data_dir
        if data is None and settings.history:
            data = Path(source) if source else None
        if settings.history and data is not None:
            from amlwatch.data.load import load_ledger

            started = time.perf_counter()
            ledger = load_ledger(data)
            book, directory, n = replay_history(ledger)
            log.info(
                "history replayed",
                extra={"event": "history", "data": str(data), "transactions": n,
                       "seconds": round(time.perf_counter() - started, 2)},
            )  # fmt: skip
        else:
            book, directory, n = AccountBook(), {}, 0
        meta = {"run_dir": str(settings.run_dir), "data": str(data or ""),
                "history_transactions": str(n)}  # fmt: skip
        store.initialise(book, directory, next_seq=n, meta=meta)

    # -- the hot path ----------------------------------------------------------------------
    def _values(
        self,
        tx: StreamTransaction,
        when: dt.datetime,
        body: TransactionBody,
        feats: dict[str, float],
    ) -> dict[str, Any]:
        """The row the model and the rules read: raw fields, countries, every streamable feature."""
        src_kind, src_country = self.directory.get(tx.src, (None, None))
        dst_kind, dst_country = self.directory.get(tx.dst, (None, None))
        per_txn = transaction_values(
            when=when, amount_paid=body.amount_paid, amount_received=body.amount_received,
            payment_currency=body.payment_currency, receiving_currency=body.receiving_currency,
            payment_format=body.payment_format, from_bank=body.from_bank, to_bank=body.to_bank,
            same_account=tx.src == tx.dst, src_kind=src_kind, dst_kind=dst_kind,
            src_country=src_country, dst_country=dst_country,
        )  # fmt: skip
        return {
            "amount_paid": body.amount_paid, "amount_received": body.amount_received,
            "payment_currency": body.payment_currency, "payment_format": body.payment_format,
            "src_country": src_country, "dst_country": dst_country,
            **per_txn, **feats,
        }  # fmt: skip

    def score(
        self, body: TransactionBody, *, when: dt.datetime | None = None
    ) -> tuple[Scored, asyncio.Future[None] | concurrent.futures.Future[None]]:
        """Features, score and rules for one transaction; its write joins the commit queue.

        `when` is `body.timestamp` already parsed (the fast path has done it), else None.
        """
        if when is None:
            when = parse_timestamp(body.timestamp)
        ts_us = (when - _EPOCH) // dt.timedelta(microseconds=1)
        # A typo such as 9999/12/31 would otherwise become both accounts' last transaction,
        # and every later one a 409: refuse what lies beyond the service's own clock.
        latest = dt.datetime.now(dt.UTC).replace(tzinfo=None) + MAX_AHEAD
        if when > latest:
            raise ServeError(
                [f"timestamp: {when:%Y-%m-%d %H:%M} is more than a day after this service's "
                 f"clock ({latest - MAX_AHEAD:%Y-%m-%d %H:%M} UTC)"],
                status=422,
            )  # fmt: skip
        tx = StreamTransaction(
            account_key(body.from_bank, body.from_account),
            account_key(body.to_bank, body.to_account),
            ts_us,
            body.amount_paid,
            body.amount_received,
        )
        assert self.committer is not None
        with self._lock:
            if self.broken:
                raise ServeError([self.broken], status=503)
            try:
                feats = self.book.features(tx)
            except OutOfOrder as exc:
                raise ServeError([str(exc)], status=409) from None
            values = self._values(tx, when, body, feats)
            loaded = self.loaded  # one run's model and rules for this request, even across a reload
            score = loaded.model.score(values)
            rules = loaded.rules.hits(values)
            seq = self.next_seq
            touched = self.book.apply(tx, seq)
            self.next_seq = seq + 1
            model_alert = score > loaded.model.threshold
            rows = tuple(
                AccountRow.of(k, self.book.accounts[k], 2 * (seq + 1))
                for k in dict.fromkeys(touched.accounts)
            )
            scored = (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                body.model_dump_json(),
                loaded.model.detector,
                score,
                int(model_alert or bool(rules)),
                json.dumps(rules),
            )
            future = self.committer.submit(Write(seq, touched, rows, scored))
        features = {k: values[k] for k in STREAMABLE}
        # Out of the lock, and only for alerts (SHAP or a second graph run: ~1 ms). The write
        # is queued: a failure here must not turn a committed transaction's answer into a 500.
        reasons: list[str] = []
        if model_alert:
            try:
                reasons = loaded.model.explain(values)
            except Exception:
                log.exception("reasons failed", extra={"event": "reasons_failed", "seq": seq})
        warnings = loaded.inputs.warnings(
            payment_format=body.payment_format, payment_currency=body.payment_currency,
            receiving_currency=body.receiving_currency,
        )  # fmt: skip
        model = loaded.model
        answer = Scored(
            seq, model.detector, model.threshold, score, model_alert, rules, features, reasons,
            warnings,
        )  # fmt: skip
        return answer, future

    def fail(self, reason: str) -> None:
        self.broken = f"the state file could not be written ({reason}); restart the service"

    def close(self) -> None:
        if self.committer is not None:
            self.committer.stop()
        self.store.close()


def _probe_body() -> TransactionBody:
    return TransactionBody(
        timestamp="1970/01/01 00:00", from_bank="0", from_account="a", to_bank="0",
        to_account="b", amount_received=1.0, receiving_currency="US Dollar",
        amount_paid=1.0, payment_currency="US Dollar", payment_format="ACH",
    )  # fmt: skip
