"""The order store on a real SQLite file (and a real PostgreSQL when one is given)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from basketcast.serve.domain import DuplicateOrder, PostedOrder
from basketcast.serve.store import SQLiteStore, open_store

from .conftest import free_port


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


def test_get_gives_the_stored_order_or_none(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "o.sqlite3")
    stored = store.append(_order(4, products=(9, 2, 5)))
    assert store.get(4) == stored and store.get(5) is None
    store.close()
    again = SQLiteStore(tmp_path / "o.sqlite3")  # from the file, as after a restart
    assert again.get(4) == stored
    again.close()


@pytest.mark.parametrize("target", ["mysql://host/x", "sqlite:///o.sqlite3", "redis://h:1"])
def test_open_store_refuses_a_url_it_cannot_use_and_creates_nothing(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from basketcast.errors import UsageError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="SQLite file path or a postgresql:// URL") as caught:
        open_store(target)
    assert target in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    # A path is still a path, with or without a colon in it.
    open_store("orders:2026.sqlite3").close()
    assert (tmp_path / "orders:2026.sqlite3").is_file()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """BASKETCAST_TEST_POSTGRES_URL, or a throwaway local cluster (initdb + pg_ctl, unix socket)."""
    given = os.environ.get("BASKETCAST_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    pytest.importorskip("psycopg")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server programs (initdb, pg_ctl) on PATH")
    folder = Path(tempfile.mkdtemp(prefix="basketcast-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as `postgres`
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)  # fmt: skip
        options = f"-k {folder} -p {port} -c listen_addresses=''"
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"),
                        "-w", "start"], check=True, capture_output=True)  # fmt: skip
        yield f"postgresql://postgres@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_store(postgres_url: str) -> None:
    store = open_store(postgres_url)
    base = 10**12 + os.getpid() * 1000
    for k in (2, 1, 3):
        store.append(_order(base + k, products=(k, k + 10)))
    with pytest.raises(DuplicateOrder, match=f"order_id {base + 1}"):
        store.append(_order(base + 1))
    store.close()
    again = open_store(postgres_url)  # a new connection sees every committed order, in order
    mine = [o for o in again.orders() if o.order_id > base]
    assert [o.order_id - base for o in mine] == [2, 1, 3] and mine[2].product_ids == (3, 13)
    assert again.get(base + 3) == mine[2] and again.get(base + 4) is None
    again.close()


def test_one_service_per_sqlite_file_and_a_clear_error_for_a_wrong_one(tmp_path: Path) -> None:
    import os

    from basketcast.errors import UsageError
    from runkit.locks import LockBusy

    first = SQLiteStore(tmp_path / "o.sqlite3")
    with pytest.raises(LockBusy, match=rf"another basketcast serve \(PID {os.getpid()}\)"):
        SQLiteStore(tmp_path / "o.sqlite3")  # its users would not see the first one's orders
    first.close()
    SQLiteStore(tmp_path / "o.sqlite3").close()  # free again once closed
    with pytest.raises(UsageError, match="--db names the orders file itself"):
        SQLiteStore(tmp_path)
    (tmp_path / "notes.txt").write_text("not a database, but long enough to be read as one " * 40)
    with pytest.raises(UsageError, match="not a basketcast orders file"):
        SQLiteStore(tmp_path / "notes.txt")


def test_replay_skips_posted_orders_that_a_rerun_put_in_the_data(run, tmp_path: Path) -> None:
    import polars as pl

    from basketcast.serve.settings import ServeSettings
    from basketcast.serve.state import ServiceState

    orders = run.orders()
    in_data = orders.filter(pl.col("eval_set") == "prior").row(0, named=True)
    db = tmp_path / "o.sqlite3"
    store = SQLiteStore(db)
    # Posted before a re-run whose data now holds it (same order id), and one truly new.
    store.append(_order(int(in_data["order_id"]), user_id=int(in_data["user_id"])))
    store.append(_order(10**9, user_id=int(in_data["user_id"])))
    store.close()
    state = ServiceState.start(ServeSettings(run_dir=run.out, db=str(db)))
    try:
        assert (state.replayed, state.already_in_data) == (1, 1)
        assert state.history.in_data(int(in_data["order_id"]))
        assert not state.history.in_data(10**9)
        # Posting it again is no retry of the client's: the data's order has the id (422).
        with pytest.raises(DuplicateOrder, match="in the loaded data"):
            state.post(_order(int(in_data["order_id"]), user_id=int(in_data["user_id"])))
        assert state.post(_order(10**9, user_id=int(in_data["user_id"]))).replayed
    finally:
        state.close()
