"""The HTTP surface against a real server: bad input, keys, health, metrics, OpenAPI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import polars as pl
import pytest

from basketcast.client import ServiceError
from tests.offline_docs import assert_docs_are_served_offline

from .conftest import API_KEY, Run, Server


@pytest.fixture(scope="module")
def ids(run: Run) -> dict[str, Any]:
    orders = run.orders()
    products = pl.read_parquet(run.data / "products.parquet").get_column("product_id")
    test_user = run.test_users()[0]
    return {
        "user": test_user,
        "known": products.head(3).to_list(),
        "unknown": int(products.max()) + 1000,  # type: ignore[operator]
        "taken_order": int(orders.get_column("order_id")[0]),
        "new_order": int(orders.get_column("order_id").max()) + 10_000,  # type: ignore[operator]
    }


def _body(ids: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "order_id": ids["new_order"],
        "product_ids": ids["known"],
        "order_dow": 2,
        "order_hour_of_day": 10,
        "days_since_prior_order": 7.0,
    }
    return body | changes


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"order_id": 1, "product_ids": ['
    for _ in range(size // 1000):
        yield b"1," * 500
    yield b"1]}"


JSON = {"Content-Type": "application/json"}

# (name, method, path template, request kwargs builder, expected status)
CASES: list[tuple[str, str, str, Any, int]] = [
    ("malformed JSON", "POST", "/v1/users/{user}/orders", lambda i: {"content": b'{"order_id": 1,', "headers": JSON}, 422),
    ("a JSON list, not an object", "POST", "/v1/users/{user}/orders", lambda i: {"json": [1, 2]}, 422),
    ("order_id of the wrong type", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_id="abc")}, 422),
    ("order_id as a numeric string", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_id=str(i["new_order"]))}, 422),
    ("product_ids not a list", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, product_ids="1,2")}, 422),
    ("a boolean day of week", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_dow=True)}, 422),
    ("a field missing", "POST", "/v1/users/{user}/orders", lambda i: {"json": {k: v for k, v in _body(i).items() if k != "order_dow"}}, 422),
    ("a negative quantity (unknown field)", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, quantities=[-1, 1, 1])}, 422),
    ("a huge body", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, product_ids=list(range(50_000)))}, 413),
    ("a huge chunked body", "POST", "/v1/users/{user}/orders", lambda i: {"content": _chunks(200_000)}, 413),
    ("unknown products", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, product_ids=[i["known"][0], i["unknown"]])}, 422),
    ("a negative product id", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, product_ids=[-5])}, 422),
    ("a negative order id", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_id=-1)}, 422),
    ("an order id of 2**64", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_id=2**64)}, 422),
    ("a duplicate order id (in the data)", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_id=i["taken_order"])}, 422),
    ("an empty product list", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, product_ids=[])}, 422),
    ("a product listed twice", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, product_ids=[i["known"][0]] * 2)}, 422),
    ("day of week 7", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_dow=7)}, 422),
    ("hour 24", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, order_hour_of_day=24)}, 422),
    ("a gap of 31 days", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, days_since_prior_order=31)}, 422),
    ("a NaN gap", "POST", "/v1/users/{user}/orders", lambda i: {"content": json.dumps(_body(i, days_since_prior_order=float("nan"))).encode(), "headers": JSON}, 422),
    ("a text/plain body", "POST", "/v1/users/{user}/orders", lambda i: {"content": json.dumps(_body(i)), "headers": {"Content-Type": "text/plain"}}, 415),
    ("a body without a content type", "POST", "/v1/users/{user}/orders", lambda i: {"content": json.dumps(_body(i))}, 415),
    ("a form, not JSON", "POST", "/v1/users/{user}/orders", lambda i: {"data": {"order_id": "1"}}, 415),
    ("no gap for a user with orders", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i, days_since_prior_order=None)}, 422),
    ("user id 2**64", "GET", "/v1/users/18446744073709551616/next-basket", lambda i: {}, 422),
    ("a negative user id", "GET", "/v1/users/-3/next-basket", lambda i: {}, 422),
    ("a user id that is not a number", "GET", "/v1/users/abc/next-basket", lambda i: {}, 422),
    ("user id 2**64 in a post", "POST", "/v1/users/18446744073709551616/orders", lambda i: {"json": _body(i)}, 422),
    ("a day without an hour", "GET", "/v1/users/{user}/next-basket?order_dow=3", lambda i: {}, 422),
    ("a gap without day and hour", "GET", "/v1/users/{user}/next-basket?days_since_prior_order=7.5", lambda i: {}, 422),
    ("an hour of 25 in the query", "GET", "/v1/users/{user}/next-basket?order_dow=3&order_hour_of_day=25", lambda i: {}, 422),
    ("no API key", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i), "headers": {"X-API-Key": ""}}, 401),
    ("a wrong API key", "POST", "/v1/users/{user}/orders", lambda i: {"json": _body(i), "headers": {"X-API-Key": "nope"}}, 401),
    ("no API key and a bad body", "POST", "/v1/users/{user}/orders", lambda i: {"json": {"order_id": "x"}, "headers": {"X-API-Key": ""}}, 401),
    ("a reload without the key", "POST", "/v1/admin/reload", lambda i: {"headers": {"X-API-Key": ""}}, 401),
    ("an unknown route", "GET", "/v1/nothing", lambda i: {}, 404),
]  # fmt: skip


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "status"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_gets_a_4xx_with_reasons_and_the_server_stays_up(
    server: Server,
    http: httpx.Client,
    ids: dict[str, Any],
    name: str,
    method: str,
    path: str,
    kwargs: Any,
    status: int,
) -> None:
    headers = {"X-API-Key": API_KEY} | kwargs(ids).pop("headers", {})
    request = kwargs(ids)
    request.pop("headers", None)
    headers = {k: v for k, v in headers.items() if v}
    response = http.request(method, path.format(user=ids["user"]), headers=headers, **request)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body["reasons"] and all(isinstance(r, str) for r in body["reasons"])
    assert server.alive()
    assert http.get("/v1/health").json()["status"] == "ok"


def test_reasons_name_what_is_wrong(server: Server, ids: dict[str, Any]) -> None:
    with server.client() as client, pytest.raises(ServiceError) as caught:
        client.post_order(
            ids["user"],
            order_id=ids["new_order"],
            product_ids=[ids["unknown"], ids["known"][0], ids["known"][0]],
            order_dow=1,
            order_hour_of_day=3,
            days_since_prior_order=4.0,
        )
    reasons = " | ".join(caught.value.reasons)
    assert caught.value.status == 422
    assert "unknown product" in reasons and str(ids["unknown"]) in reasons
    assert "listed twice" in reasons and str(ids["known"][0]) in reasons
    with server.client() as client:  # nothing of the refused order was kept
        assert client.health()["posted_orders"] == 0


def test_a_body_that_is_not_json_is_a_415_before_it_is_read(
    server: Server, http: httpx.Client, ids: dict[str, Any]
) -> None:
    path = f"/v1/users/{ids['user']}/orders"
    key = {"X-API-Key": API_KEY}
    # Not even valid JSON, and invalid fields: the media type is refused first, naming both types.
    plain = http.post(path, content=b"order_id=1", headers=key | {"Content-Type": "text/plain"})
    assert plain.status_code == 415, plain.text
    assert plain.json()["error"] == "unsupported media type"
    assert "text/plain" in plain.json()["reasons"][0]
    assert "application/json" in plain.json()["reasons"][0]
    # JSON with a charset is JSON: the usual answer (here 422: unknown product).
    typed = key | {"Content-Type": "Application/JSON; charset=utf-8"}
    body = json.dumps(_body(ids, product_ids=[ids["unknown"]]))
    assert http.post(path, content=body, headers=typed).status_code == 422
    # GETs and a write without a body are not concerned.
    basket = http.get(
        f"/v1/users/{ids['user']}/next-basket", headers={"Content-Type": "text/plain"}
    )
    assert basket.status_code == 200
    assert http.post("/v1/admin/reload", headers=key).status_code == 200
    assert server.alive() and http.get("/v1/health").json()["posted_orders"] == 0
    # Counted under the route it was sent to; only a path no route has is "unmatched".
    nowhere = http.post("/v1/nowhere", content=b"x", headers={"Content-Type": "text/plain"})
    assert nowhere.status_code == 415
    text = http.get("/metrics").text
    route = "/v1/users/{user_id}/orders"
    assert f'basketcast_requests_total{{method="POST",route="{route}",status="415"}}' in text
    assert 'basketcast_requests_total{method="POST",route="unmatched",status="415"}' in text
    # The size limit answers before routing too; its 413 is still logged and counted.
    huge = json.dumps(_body(ids, product_ids=list(range(50_000))))
    assert http.post(path, content=huge, headers=typed).status_code == 413
    text = http.get("/metrics").text
    assert f'basketcast_requests_total{{method="POST",route="{route}",status="413"}}' in text


def test_health_metrics_and_openapi(server: Server, ids: dict[str, Any]) -> None:
    with server.client() as client:
        health = client.health()
        client.next_basket(ids["user"])
        text = client.metrics()
    assert health["status"] == "ok" and len(health["model_version"]) == 12
    assert (
        'basketcast_requests_total{method="GET",route="/v1/users/{user_id}/next-basket",status="200"}'
        in text
    )
    assert "basketcast_request_seconds_bucket" in text
    assert 'basketcast_model_info{run_id="' in text and health["model_version"] in text
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    assert {
        "/v1/users/{user_id}/next-basket",
        "/v1/users/{user_id}/orders",
        "/v1/health",
        "/v1/admin/reload",
    } <= set(spec["paths"])


def test_a_user_without_history_gets_the_empty_basket_and_a_reason(server: Server) -> None:
    with server.client() as client:
        answer = client.next_basket(10**15)
    assert answer["products"] == [] and answer["basket"] == ["None"]
    assert "no orders" in answer["reason"] and answer["history_orders"] == 0


def test_the_default_context_is_the_test_order_then_the_query(
    server: Server, run: Run, ids: dict[str, Any]
) -> None:
    test = (
        run.orders()
        .filter((pl.col("user_id") == ids["user"]) & (pl.col("eval_set") == "test"))
        .row(0, named=True)
    )
    with server.client() as client:
        default = client.next_basket(ids["user"])
        given = client.next_basket(
            ids["user"],
            order_dow=(test["order_dow"] + 3) % 7,
            order_hour_of_day=3,
            days_since_prior_order=29,
        )
    assert default["context"] == {
        "order_dow": test["order_dow"],
        "order_hour_of_day": test["order_hour_of_day"],
        "days_since_prior_order": test["days_since_prior_order"],
        "source": "test order",
    }
    assert given["context"]["source"] == "query"
    assert {c["product_id"] for c in given["candidates"]} == {
        c["product_id"] for c in default["candidates"]
    }
    assert [c["p"] for c in given["candidates"]] != [c["p"] for c in default["candidates"]]


def test_a_post_is_rebuilt_in_the_background_without_a_get(
    server: Server, run: Run, ids: dict[str, Any]
) -> None:
    """A post wakes the background rebuild: the user's rows are fresh before anyone asks."""
    user = run.test_users()[1]
    with server.client() as client:
        before = _rebuilt(client.metrics())
        client.post_order(
            user,
            order_id=ids["new_order"] + 1,
            product_ids=ids["known"],
            order_dow=1,
            order_hour_of_day=9,
            days_since_prior_order=3.0,
        )
        deadline = time.monotonic() + 10
        while client.health()["stale_users"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.health()["stale_users"] == 0
        assert _rebuilt(client.metrics()) == before + 1  # by the background task: no GET came


def _rebuilt(metrics: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith("basketcast_user_rebuilds_total"))
    return float(line.split()[-1])


def test_the_api_docs_load_nothing_from_outside_the_server(http: httpx.Client) -> None:
    assert_docs_are_served_offline(http)
