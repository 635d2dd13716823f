"""The next-basket fast path sends FastAPI's bytes, and leaves every doubtful request to FastAPI."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcast.serve.app import create_app
from basketcast.serve.domain import MAX_ID, Context
from basketcast.serve.fastpath import parse_next_basket
from basketcast.serve.settings import ServeSettings
from basketcast.serve.state import ServiceState

from .conftest import Run

ROUTE = "/v1/users/{}/next-basket"


@settings(max_examples=200, deadline=None)
@given(
    user=st.integers(0, MAX_ID),
    dow=st.integers(0, 6),
    hour=st.integers(0, 23),
    gap=st.none() | st.integers(0, 30) | st.sampled_from([0.5, 7.25, 29.999]),
)
def test_plain_queries_parse_to_their_values(
    user: int, dow: int, hour: int, gap: float | None
) -> None:
    query = f"order_dow={dow}&order_hour_of_day={hour}"
    if gap is not None:
        query += f"&days_since_prior_order={gap}"
    parsed = parse_next_basket(ROUTE.format(user), query.encode())
    expected_gap = None if gap is None else float(gap)
    assert parsed == (user, Context(dow, hour, expected_gap, "query"))
    assert parse_next_basket(ROUTE.format(user), b"") == (user, None)


# Each left to FastAPI (valid or not, it decides): signs, zeros, exponents, ranges, repeats.
DOUBTFUL = [
    (ROUTE.format(1), "order_dow=07&order_hour_of_day=1"),
    (ROUTE.format(1), "order_dow=%2B1&order_hour_of_day=1"),
    (ROUTE.format(1), "order_dow=1"),
    (ROUTE.format(1), "order_dow=-1&order_hour_of_day=2"),
    (ROUTE.format(1), "order_dow=7&order_hour_of_day=2"),
    (ROUTE.format(1), "order_dow=1&order_hour_of_day=24"),
    (ROUTE.format(1), "order_dow=1&order_hour_of_day=2&days_since_prior_order=1e1"),
    (ROUTE.format(1), "order_dow=1&order_hour_of_day=2&days_since_prior_order=30.001"),
    (ROUTE.format(1), "order_dow=1&order_hour_of_day=2&days_since_prior_order=nan"),
    (ROUTE.format(1), "order_dow=1&order_dow=2&order_hour_of_day=2"),
    (ROUTE.format(1), "foo=1"),
    (ROUTE.format(1), "order_dow=&order_hour_of_day=2"),
    (ROUTE.format(2**64), ""),
    (ROUTE.format(MAX_ID + 1), ""),
    (ROUTE.format("007"), ""),
    (ROUTE.format("-1"), ""),
    ("/v1/users/1/next-basket/", ""),
]


def test_doubtful_requests_are_left_to_fastapi() -> None:
    for path, query in DOUBTFUL:
        assert parse_next_basket(path, query.encode()) is None, (path, query)


async def _answers(app: Any, requests: list[tuple[str, str]]) -> list[tuple[int, bytes]]:
    inner = app.app.app  # RequestLog -> BodyLimit -> JsonBody -> fast path or FastAPI
    while not hasattr(inner, "router"):
        inner = inner.app
    transport = httpx.ASGITransport(app=app)
    out = []
    async with (
        inner.router.lifespan_context(inner),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        for path, query in requests:
            response = await client.get(f"{path}?{query}" if query else path)
            out.append((response.status_code, response.content))
    return out


def test_the_fast_path_sends_fastapis_bytes(run: Run) -> None:
    users = sorted(run.test_users())
    rng = np.random.default_rng(3)
    plain: list[tuple[str, str]] = []
    for user in [*rng.choice(users, 25).tolist(), 10**9]:  # and a user with no history
        query = ""
        if rng.random() < 0.8:
            query = f"order_dow={rng.integers(7)}&order_hour_of_day={rng.integers(24)}"
            if rng.random() < 0.7:
                query += f"&days_since_prior_order={rng.choice([0, 3, 7.5, 30])}"
        plain.append((ROUTE.format(user), query))
    assert all(parse_next_basket(p, q.encode()) is not None for p, q in plain)
    requests = plain + DOUBTFUL

    def serve(fast_path: bool) -> list[tuple[int, bytes]]:
        db = Path(tempfile.mkdtemp()) / "orders.sqlite3"
        base = ServeSettings(run.out, data_dir=run.data, db=str(db))
        settings_ = replace(base, fast_path=fast_path)
        state = ServiceState.start(settings_)
        return asyncio.run(_answers(create_app(settings_, state=state), requests))

    fast, slow = serve(True), serve(False)
    assert [s for s, _ in fast[: len(plain)]] == [200] * len(plain)
    assert 422 in {s for s, _ in fast[len(plain) :]}  # some are invalid, some FastAPI accepts
    for request, a, b in zip(requests, fast, slow, strict=True):
        assert a == b, request
