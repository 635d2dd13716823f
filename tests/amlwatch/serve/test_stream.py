"""Streaming features equal the batch features, bit for bit, through restarts from SQLite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from amlwatch.data.ledger import Ledger
from amlwatch.detectors.rules import RulesDetector
from amlwatch.features import build_features, feature_names
from amlwatch.serve.row import transaction_values
from amlwatch.serve.rules import RowRules
from amlwatch.serve.service import replay_history
from amlwatch.serve.store import StateStore
from amlwatch.serve.stream import AccountBook, OutOfOrder, StreamTransaction, account_key
from amlwatch.synth import World, to_ledger

from .._ledgers import make_ledger

STREAMABLE = feature_names(streamable_only=True)
EPOCH = dt.datetime(1970, 1, 1)


def _stream(ledger: Ledger, *, db: Path | None = None, cuts: tuple[int, ...] = ()) -> pl.DataFrame:
    """Every transaction's streamable features and rule values, one at a time in ledger order.

    At each cut the state goes to a new SQLite file and is read back, as on a restart.
    """
    tx = ledger.transactions
    book, directory, _ = replay_history(
        Ledger(tx.head(0), ledger.accounts, ledger.has_labels, ledger.source)
    )
    rows = []
    for seq, r in enumerate(tx.iter_rows(named=True)):
        if seq in cuts:
            assert db is not None
            store = StateStore(db.with_suffix(f".{seq}.sqlite3"))
            store.initialise(book, directory, next_seq=seq, meta={})
            book, directory, next_seq = store.load()
            store.close()
            assert next_seq == seq
        src = account_key(r["from_bank"], r["from_account"])
        dst = account_key(r["to_bank"], r["to_account"])
        when = r["timestamp"]
        st = StreamTransaction(
            src, dst, (when - EPOCH) // dt.timedelta(microseconds=1),
            r["amount_paid"], r["amount_received"],
        )  # fmt: skip
        feats, _ = book.observe(st, seq)
        (src_kind, src_country), (dst_kind, dst_country) = directory[src], directory[dst]
        per_txn = transaction_values(
            when=when, amount_paid=r["amount_paid"], amount_received=r["amount_received"],
            payment_currency=r["payment_currency"], receiving_currency=r["receiving_currency"],
            payment_format=r["payment_format"], from_bank=r["from_bank"], to_bank=r["to_bank"],
            same_account=src == dst, src_kind=src_kind, dst_kind=dst_kind,
            src_country=src_country, dst_country=dst_country,
        )  # fmt: skip
        rows.append({**per_txn, **feats, "src_country": src_country, "dst_country": dst_country,
                     "amount_paid": r["amount_paid"]})  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None)


def _assert_equal(streamed: pl.DataFrame, batch: pl.DataFrame) -> None:
    assert streamed.height == batch.height
    differing = {
        c: int((streamed.get_column(c).cast(pl.Float32) != batch.get_column(c)).sum())
        for c in STREAMABLE
    }
    assert {c: n for c, n in differing.items() if n} == {}


def test_stream_equals_batch_on_a_synthetic_world_through_two_restarts(
    world: World, tmp_path: Path
) -> None:
    # The first 3,000 transactions: features are past-only, so a prefix is a world of its own.
    ledger = to_ledger(World(world.transactions.head(3000), world.accounts, world.config))
    batch = build_features(ledger, families=["transaction", "account", "pair"])
    streamed = _stream(ledger, db=tmp_path / "state", cuts=(800, 2100))
    _assert_equal(streamed, batch)
    # Not vacuous: windows and pairs are busy in this world.
    assert batch.get_column("src_out_n_30d").max() >= 20  # type: ignore[operator]
    assert batch.get_column("pair_n_before").max() >= 3  # type: ignore[operator]
    assert (batch.get_column("dst_amount_z_30d") != 0).mean() > 0.5  # type: ignore[operator]
    # The rules on the streamed row hit exactly where the batch rules hit.
    rules = RulesDetector()
    expected = rules.hits(batch)
    row_rules = RowRules(rules)
    got = [row_rules.hits(r) for r in streamed.iter_rows(named=True)]
    for name in expected.columns:
        hit = np.array([name in g for g in got])
        assert np.array_equal(hit, expected.get_column(name).to_numpy()), name
    assert expected.to_numpy().any()


def test_stream_equals_batch_on_window_edges_ties_and_self_transfers(tmp_path: Path) -> None:
    # Same-minute ties (file order decides), a payment exactly 60 minutes later (out of the
    # 1 h window), self-transfers, a reverse pair, and a long gap that empties every window.
    src = [0, 0, 1, 0, 2, 2, 0, 1, 0, 2, 1, 0]
    dst = [1, 1, 0, 0, 2, 0, 1, 0, 2, 1, 1, 1]
    minutes = [0, 0, 0, 60, 60, 61, 1440, 1440, 1500, 10_080, 50_000, 50_000]
    amounts = [100.0, 250.0, 7.5, 3000.0, 1.0, 99.99, 5000.0, 12.0, 800.0, 0.0, 60.0, 61.0]
    ledger = make_ledger(src, dst, minutes, amounts, countries={2: "KY"})
    batch = build_features(ledger, families=["transaction", "account", "pair"])
    _assert_equal(_stream(ledger, db=tmp_path / "edges", cuts=(3, 7)), batch)


def test_a_transaction_earlier_than_its_accounts_last_is_refused_and_changes_nothing() -> None:
    book = AccountBook()
    t0 = 1_700_000_000_000_000
    book.observe(StreamTransaction("a", "b", t0, 10.0, 10.0), 0)
    before = book.features(StreamTransaction("a", "b", t0 + 60_000_000, 1.0, 1.0))
    # The refusal names both moments as a person reads them (t0 is 2023-11-14 22:13:20 UTC).
    said = "2023-11-14 22:13:19.999999 is earlier than the receiver's last transaction, at 2023-11-14 22:13:20;"
    with pytest.raises(OutOfOrder, match=f"^timestamp: {said}"):
        book.observe(StreamTransaction("c", "b", t0 - 1, 5.0, 5.0), 1)
    assert book.features(StreamTransaction("a", "b", t0 + 60_000_000, 1.0, 1.0)) == before
    # A late transaction of other accounts changes neither account's features: accepted.
    book.observe(StreamTransaction("c", "d", t0 - 1, 5.0, 5.0), 2)
    assert book.features(StreamTransaction("a", "b", t0 + 60_000_000, 1.0, 1.0)) == before
