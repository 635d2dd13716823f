"""The order store on a real SQLite file (and a real PostgreSQL when one is given)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from basketcast.serve.domain import DuplicateOrder, PostedOrder
from basketcast.serve.store import SQLiteStore, open_store


def _order(order_id: int, user_id: int = 7, products: tuple[int, ...] = (3, 1, 2)) -> PostedOrder:
    return PostedOrder(order_id, user_id, products, 2, 13, 6.5)


def test_sqlite_is_wal_with_full_sync_and_keeps_orders_in_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "o.sqlite3")
    assert (store.journal_mode, store.synchronous) == ("wal", 2)  # 2 = FULL
    for k in (5, 3, 9):
        store.append(_order(k, products=(k, k + 1)))
    store.close()
    again = SQLiteStore(tmp_path / "o.sqlite3")
    stored = list(again.orders())
    assert [o.order_id for o in stored] == [5, 3, 9]  # posting order, not id order
    assert stored[1].product_ids == (3, 4) and stored[1].days_since_prior_order == 6.5
    assert stored[0].received_at.endswith("Z")


def test_a_duplicate_order_id_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "o.sqlite3")
    store.append(_order(1))
    with pytest.raises(DuplicateOrder, match="order_id 1"):
        store.append(_order(1, user_id=8, products=(9,)))
    assert store.count() == 1 and next(iter(store.orders())).user_id == 7
    store.append(_order(2))  # the store still takes orders
    assert store.count() == 2


def test_postgres_store_when_a_server_is_given() -> None:
    url = os.environ.get("BASKETCAST_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set BASKETCAST_TEST_POSTGRES_URL to test the PostgreSQL store")
    pytest.importorskip("psycopg")
    store = open_store(url)
    base = 10**12 + os.getpid() * 1000
    store.append(_order(base))
    with pytest.raises(DuplicateOrder):
        store.append(_order(base))
    assert any(o.order_id == base for o in store.orders())
    store.close()
