"""Retrying a POST is safe: the same order again is answered as the first time and changes
nothing (also after a restart); another order under a posted id is a 409 naming each field."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import polars as pl

from basketcast.serve.app import REPLAYED_HEADER

from .conftest import API_KEY, Run


def _products(run: Run) -> list[int]:
    return pl.read_parquet(run.data / "products.parquet").get_column("product_id").to_list()


def _basket(http: httpx.Client, user: int) -> dict[str, Any]:
    r = http.get(
        f"/v1/users/{user}/next-basket",
        params={"order_dow": 3, "order_hour_of_day": 11, "days_since_prior_order": 5},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_retried_post_is_answered_as_the_first_and_a_changed_one_is_a_409(
    server_factory: Any, run: Run
) -> None:
    user, other_user, racer = run.test_users()[5:8]
    products = _products(run)
    order_id = int(run.orders().get_column("order_id").max()) + 50_000  # type: ignore[arg-type]
    body = {"order_id": order_id, "product_ids": products[3:8], "order_dow": 2,
            "order_hour_of_day": 10, "days_since_prior_order": 7.0}  # fmt: skip
    # A new customer's first order has no gap: its retry must not be refused for having none.
    newcomer, first_order = 10**12, order_id + 1
    first_body = {**body, "order_id": first_order, "days_since_prior_order": None}
    path, newcomer_path = f"/v1/users/{user}/orders", f"/v1/users/{newcomer}/orders"
    server = server_factory().start()
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30) as http:
        first = http.post(path, json=body)
        assert first.status_code == 201, first.text
        assert REPLAYED_HEADER not in first.headers
        assert http.post(newcomer_path, json=first_body).status_code == 201
        documented = http.get("/openapi.json").json()["paths"]["/v1/users/{user_id}/orders"]
        assert REPLAYED_HEADER in documented["post"]["responses"]["200"]["headers"]
        assert "409" in documented["post"]["responses"]
        before, health = _basket(http, user), http.get("/v1/health").json()
        assert health["posted_orders"] == 2

        # The client's retries: the same values, also spelled otherwise in JSON (7 for 7.0).
        for retry in (body, {**body, "days_since_prior_order": 7}):
            again = http.post(path, json=retry)
            assert again.status_code == 200, again.text
            assert again.headers[REPLAYED_HEADER] == "true"
            assert again.json() == first.json()  # received_at included: the stored order's
        newcomer_again = http.post(newcomer_path, json=first_body)
        assert newcomer_again.status_code == 200, newcomer_again.text
        after = http.get("/v1/health").json()
        assert after["posted_orders"] == 2 and after["stale_users"] == 0
        assert _basket(http, user) == before
        assert _basket(http, newcomer)["history_orders"] == 1

        # Retries racing each other: one order stored, every answer the same body.
        with ThreadPoolExecutor(8) as pool:
            race_body = {**body, "order_id": order_id + 2}
            race_path = f"/v1/users/{racer}/orders"
            raced = list(pool.map(lambda _: http.post(race_path, json=race_body), range(8)))
        assert sorted(r.status_code for r in raced) == [200] * 7 + [201], [r.text for r in raced]
        assert len({r.text for r in raced}) == 1
        assert http.get("/v1/health").json()["posted_orders"] == 3

        # The same id with other values: one 409 naming the id and every field that differs.
        changed = {**body, "product_ids": products[3:7], "order_dow": 5}
        conflict = http.post(path, json=changed)
        assert conflict.status_code == 409, conflict.text
        answer = conflict.json()
        assert answer["error"] == "conflict"
        assert str(order_id) in answer["reasons"][0]
        assert "product_ids" in answer["reasons"][0] and "order_dow" in answer["reasons"][0]
        assert "order_hour_of_day" not in " ".join(answer["reasons"])
        assert [r.split(":")[0] for r in answer["reasons"][1:]] == ["product_ids", "order_dow"]
        elsewhere = http.post(f"/v1/users/{other_user}/orders", json=body)
        assert elsewhere.status_code == 409 and "user_id" in elsewhere.json()["reasons"][0]
        assert http.get("/v1/health").json()["posted_orders"] == 3
        assert _basket(http, user) == before and server.alive()
        # The service goes on: a new order is stored.
        assert http.post(path, json={**body, "order_id": order_id + 3}).status_code == 201
    server.kill()

    restarted = server_factory(db=server.db).start()  # the retry comes after a crash
    with httpx.Client(base_url=restarted.url, headers={"X-API-Key": API_KEY}, timeout=30) as http:
        again = http.post(path, json=body)
        assert again.status_code == 200 and again.headers[REPLAYED_HEADER] == "true"
        assert again.json() == first.json()
        assert http.post(newcomer_path, json=first_body).status_code == 200
        assert http.post(path, json=changed).status_code == 409
        assert http.get("/v1/health").json()["posted_orders"] == 4
