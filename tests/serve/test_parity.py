"""The service answers exactly what `basketcast predict` answers, before and after a posted order."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from basketcast import pipeline
from basketcast.serve.domain import Context, InvalidOrder, PostedOrder
from basketcast.serve.schemas import BasketResponse
from basketcast.serve.settings import ServeSettings
from basketcast.serve.state import Pending, ServiceState

from .conftest import Run, Server

TOL = 1e-6


def batch_probabilities(
    run: Run, data: Path
) -> tuple[dict[tuple[int, int], float], dict[int, float]]:
    """(order, product) → p and order → p_none from `basketcast.pipeline.predict_probabilities`."""
    items, none = pipeline.predict_probabilities(run.out, data)
    assert none is not None
    item_p = {
        (o, q): float(v) for o, q, v in items.select("order_id", "product_id", "p").iter_rows()
    }
    return item_p, {int(o): float(v) for o, v in none.iter_rows()}


def baskets(run: Run, data: Path, out: Path) -> dict[int, str]:
    return dict(pipeline.predict(run.out, data, out).iter_rows())


def _tokens(answer: dict[str, Any]) -> str:
    return " ".join(str(t) for t in answer["basket"])


def test_50_test_users_match_predict(server: Server, run: Run, tmp_path: Path) -> None:
    test = run.orders().filter(pl.col("eval_set") == "test").sort("user_id").head(50)
    expected = baskets(run, run.data, tmp_path / "predict.csv")
    item_p, none_p = batch_probabilities(run, run.data)
    with server.client() as client:
        answers = {u: client.next_basket(u) for u in test.get_column("user_id")}
    for user, order_id in test.select("user_id", "order_id").iter_rows():
        answer = answers[user]
        assert answer["context"]["source"] == "test order"
        assert _tokens(answer) == expected[order_id], user
        got = {c["product_id"]: c["p"] for c in answer["candidates"]}
        want = {q: v for (o, q), v in item_p.items() if o == order_id}
        assert got.keys() == want.keys()
        assert max(abs(got[q] - want[q]) for q in want) <= TOL
        assert abs(answer["p_none"] - none_p[order_id]) <= TOL


def _posted_copy(
    run: Run, folder: Path, user: int, posted: dict[str, Any], context: dict[str, Any], next_id: int
) -> Path:
    """The data as a batch would see it: the posted order replaces the user's test order as a
    prior order, and a new test order with `context` follows it."""
    shutil.copytree(run.data, folder)
    orders = pl.read_parquet(folder / "orders.parquet")
    test = orders.filter((pl.col("user_id") == user) & (pl.col("eval_set") == "test")).row(
        0, named=True
    )
    added = pl.DataFrame(
        [
            {**test, "order_id": posted["order_id"], "eval_set": "prior", "order_dow": posted["order_dow"],
             "order_hour_of_day": posted["order_hour_of_day"], "days_since_prior_order": posted["days_since_prior_order"]},
            {**test, "order_id": next_id, "order_number": test["order_number"] + 1, **context},
        ],
        schema=orders.schema,
    )  # fmt: skip
    orders = pl.concat([orders.filter(pl.col("order_id") != test["order_id"]), added])
    orders.write_parquet(folder / "orders.parquet")
    prior = pl.read_parquet(folder / "order_products__prior.parquet")
    lines = pl.DataFrame(
        {
            "order_id": [posted["order_id"]] * len(posted["product_ids"]),
            "product_id": posted["product_ids"],
            "add_to_cart_order": list(range(1, len(posted["product_ids"]) + 1)),
            "reordered": [0] * len(posted["product_ids"]),  # never read: labels come from history
        },
        schema=prior.schema,
    )
    pl.concat([prior, lines]).write_parquet(folder / "order_products__prior.parquet")
    (folder / "truth.csv").unlink(missing_ok=True)
    (folder / "true_probs.parquet").unlink(missing_ok=True)
    return folder


def test_a_posted_order_updates_that_user_exactly_and_nobody_else(
    server: Server, run: Run, tmp_path: Path
) -> None:
    users = run.test_users()
    user = users[-1]
    others = [
        *users[61:66],
        *run.orders().filter(pl.col("eval_set") == "train").get_column("user_id").head(5),
    ]
    products = pl.read_parquet(run.data / "products.parquet").get_column("product_id")
    context = {"order_dow": 5, "order_hour_of_day": 9, "days_since_prior_order": 12.0}
    with server.client() as client:
        before = {u: client.next_basket(u, **context) for u in others}
        mine = client.next_basket(user)
        bought = [c["product_id"] for c in mine["candidates"][:3]]
        new = int(products.filter(~products.is_in(bought))[-1])
        posted = {
            "order_id": int(run.orders().get_column("order_id").max()) + 500,  # type: ignore[arg-type]
            "product_ids": [*bought, new],
            "order_dow": 3,
            "order_hour_of_day": 14,
            "days_since_prior_order": 5.0,
        }
        client.post_order(user, **posted)
        after = client.next_basket(user, **context)
        others_after = {u: client.next_basket(u, **context) for u in others}

    next_id = posted["order_id"] + 1
    copy = _posted_copy(run, tmp_path / "data", user, posted, context, next_id)
    expected = baskets(run, copy, tmp_path / "predict.csv")[next_id]
    item_p, none_p = batch_probabilities(run, copy)
    assert _tokens(after) == expected
    got = {c["product_id"]: c["p"] for c in after["candidates"]}
    want = {q: v for (o, q), v in item_p.items() if o == next_id}
    assert new in got and got.keys() == want.keys()
    assert max(abs(got[q] - want[q]) for q in want) <= TOL
    assert abs(after["p_none"] - none_p[next_id]) <= TOL
    assert after["history_orders"] == mine["history_orders"] + 1
    assert others_after == before


def test_batched_scoring_equals_one_job_at_a_time(run: Run, tmp_path: Path) -> None:
    """Requests are scored in batches; a user may come twice with two contexts."""
    state = ServiceState.start(
        ServeSettings(run.out, data_dir=run.data, db=str(tmp_path / "orders.sqlite3"))
    )
    users = run.test_users()[-30:] + run.test_users()[-30:-25]
    rng = np.random.default_rng(3)
    jobs = [
        (state.loaded.rows.get(u), Context(int(rng.integers(7)), int(rng.integers(24)), float(rng.integers(31))))
        for u in users
    ]  # fmt: skip
    scorer = state.loaded.scorer
    together = scorer.score_many(jobs)
    assert together == [scorer.score_many([job])[0] for job in jobs]
    assert together[0] != together[30]  # same user, another context: another answer
    # The hot path's plain JSON has the documented shape and values.
    for job, scored in zip(jobs[:3], together, strict=False):
        pending = state.prepare(int(job[0].get_column("user_id")[0]), job[1])
        assert isinstance(pending, Pending)
        answer = state.complete(pending, scored)
        assert BasketResponse.body(answer) == BasketResponse.of(answer).model_dump()

    # A new customer: the first order has no gap; the next answer's candidates are its products.
    users_before = state.history.users()
    products = tuple(int(p) for p in jobs[0][0].get_column("product_id").head(3))
    first = PostedOrder(10**12, 10**12, products, 1, 9, 4.0)
    with pytest.raises(InvalidOrder, match="must be null on a user's first order"):
        state.post(first)
    state.post(replace(first, days_since_prior_order=None))
    answer = state.next_basket(10**12, None)
    assert set(answer.candidates) == set(products) and answer.history_orders == 1
    assert answer.context is not None and answer.context.source == "typical"
    assert answer.context.days_since_prior_order is None
    assert state.history.users() == users_before + 1
    state.close()
