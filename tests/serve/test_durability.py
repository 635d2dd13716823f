"""kill -9 after a 201 loses nothing; an order without a 201 is whole or absent; SIGTERM is graceful."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

import httpx
import polars as pl

from basketcast.client import ServiceError

from .conftest import API_KEY, Run


def _new_product(run: Run, user: int) -> int:
    """A product the user never bought: it can only become a candidate through a posted order."""
    orders = run.orders().filter(pl.col("user_id") == user).select("order_id")
    bought = pl.read_parquet(run.data / "order_products__prior.parquet").join(orders, on="order_id")
    products = pl.read_parquet(run.data / "products.parquet").get_column("product_id")
    return int(products.filter(~products.is_in(bought.get_column("product_id").implode()))[0])


def test_kill_9_right_after_a_201_loses_nothing(server_factory: Any, run: Run) -> None:
    user = run.test_users()[3]
    new = _new_product(run, user)
    order_id = int(run.orders().get_column("order_id").max()) + 1  # type: ignore[arg-type]
    server = server_factory().start()
    with server.client() as client:
        before = client.next_basket(user)
        created = client.post_order(
            user, order_id=order_id, product_ids=[new, before["candidates"][0]["product_id"]],
            order_dow=4, order_hour_of_day=9, days_since_prior_order=6.0,
        )  # fmt: skip
    server.kill()  # SIGKILL the moment the 201 is in: no shutdown code runs
    assert created["order_id"] == order_id

    again = server_factory(db=server.db).start()
    with again.client() as client:
        assert client.health()["posted_orders"] == 1
        after = client.next_basket(user, order_dow=4, order_hour_of_day=9, days_since_prior_order=6)
        try:  # the order is there: its id is taken (by other values: a conflict)
            client.post_order(
                user, order_id=order_id, product_ids=[new], order_dow=4,
                order_hour_of_day=9, days_since_prior_order=1.0,
            )  # fmt: skip
            raise AssertionError("a replayed order id was accepted twice")
        except ServiceError as exc:
            assert exc.status == 409 and "already posted" in " ".join(exc.reasons)
    assert after["history_orders"] == before["history_orders"] + 1
    assert new in {c["product_id"] for c in after["candidates"]}
    assert new not in {c["product_id"] for c in before["candidates"]}
    assert after["context"]["source"] == "query"


def test_an_order_without_a_201_is_whole_or_absent(server_factory: Any, run: Run) -> None:
    """Posts race a SIGKILL: each acknowledged order is stored, none is stored in part."""
    users = run.test_users()[10:40]
    products = pl.read_parquet(run.data / "products.parquet").get_column("product_id").to_list()
    first_id = int(run.orders().get_column("order_id").max()) + 100  # type: ignore[arg-type]
    sent: dict[int, list[int]] = {}
    acknowledged: set[int] = set()
    server = server_factory().start()

    def post(n: int) -> None:
        order_id, user = first_id + n, users[n % len(users)]
        basket = products[n : n + 1 + n % 40]
        sent[order_id] = basket
        body = {"order_id": order_id, "product_ids": basket, "order_dow": n % 7,
                "order_hour_of_day": n % 24, "days_since_prior_order": float(n % 30)}  # fmt: skip
        try:
            r = httpx.post(f"{server.url}/v1/users/{user}/orders", json=body,
                           headers={"X-API-Key": API_KEY}, timeout=10)  # fmt: skip
            if r.status_code == 201:
                acknowledged.add(order_id)
        except httpx.TransportError:
            pass  # the server died mid-request: no 201

    threads = [threading.Thread(target=post, args=(n,)) for n in range(40)]
    for t in threads[:15]:
        t.start()
    for t in threads[:15]:
        t.join()
    for t in threads[15:]:
        t.start()
    server.kill()
    for t in threads[15:]:
        t.join()

    with sqlite3.connect(server.db) as db:
        stored = {oid: json.loads(p) for oid, p in db.execute("SELECT order_id, product_ids FROM posted_orders")}  # fmt: skip
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acknowledged) >= 15 and acknowledged <= set(stored)
    assert all(stored[oid] == sent[oid] for oid in stored)  # whole, never a part
    again = server_factory(db=server.db).start()
    with again.client() as client:
        assert client.health()["posted_orders"] == len(stored)
    # SIGTERM: a graceful stop (uvicorn re-raises the signal once it has shut down, so the
    # exit status says "terminated"); the log's last event says the store was closed.
    assert again.stop() in (0, -15)
    events = [
        json.loads(line).get("event") for line in again.tail().splitlines() if line.startswith("{")
    ]
    assert "stopped" in events and events.index("serving") < events.index("stopped")
