"""The NumPy request path (`FastFinish`) gives the Polars feature plan's matrices and answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from basketcast.config import PNone
from basketcast.data.load import load_dataset
from basketcast.serve.domain import Context
from basketcast.serve.scorer import ModelScorer, _Models

from .conftest import Run


@pytest.fixture(scope="module")
def scorer_and_rows(run: Run) -> tuple[ModelScorer, dict[int, pl.DataFrame]]:
    scorer = ModelScorer(run.out)
    if scorer.none is None:  # exercise the order aggregate whatever p(None) the run chose
        scorer.none = _Models(run.out / "models", "none")
        scorer.p_none = PNone.MODEL
    rows = scorer.base_rows(load_dataset(run.data))
    per_user = {int(k[0]): v for k, v in rows.partition_by("user_id", as_dict=True).items()}
    return scorer, per_user


def _contexts(rng: np.random.Generator, n: int) -> list[Context]:
    out = []
    for _ in range(n):
        gap = None if rng.random() < 0.2 else float(rng.choice([0.0, 0.5, 7.0, 30.0]))
        out.append(Context(int(rng.integers(7)), int(rng.integers(24)), gap, "query"))
    return out


def test_matrices_equal_the_query_plan(
    scorer_and_rows: tuple[ModelScorer, dict[int, pl.DataFrame]],
) -> None:
    scorer, per_user = scorer_and_rows
    assert scorer._fast is not None, "the default families must take the NumPy path"
    rng = np.random.default_rng(0)
    users = rng.choice(sorted(per_user), size=40)  # repeats: a user twice with two contexts
    jobs = list(zip([per_user[int(u)] for u in users], _contexts(rng, users.size), strict=True))
    lengths = np.array([r.height for r, _ in jobs])
    rows = pl.concat([r for r, _ in jobs])
    items, orders = scorer._fast.matrices(rows, lengths, [c for _, c in jobs])

    ids = -np.arange(1, len(jobs) + 1)
    plan_rows = rows.with_columns(order_id=pl.Series(np.repeat(ids, lengths), dtype=pl.Int64))
    targets = pl.DataFrame(
        {
            "order_id": ids,
            "order_dow": [c.order_dow for _, c in jobs],
            "order_hour_of_day": [c.order_hour_of_day for _, c in jobs],
            "days_since_prior_order": [c.days_since_prior_order for _, c in jobs],
        },
        schema={"order_id": pl.Int64, "order_dow": pl.Int8, "order_hour_of_day": pl.Int8,
                "days_since_prior_order": pl.Float32},
    )  # fmt: skip
    plan_items, plan_orders = scorer.features.finish(plan_rows, targets)
    expected = plan_items.select(scorer.items.names).to_numpy().astype(np.float32)
    np.testing.assert_array_equal(items, expected)  # NaN where missing, bit for bit elsewhere
    assert orders is not None and scorer.none is not None
    by_order = plan_orders.sort("order_id", descending=True)  # -1, -2, ...: job order
    expected_orders = by_order.select(scorer.none.names).to_numpy().astype(np.float32)
    np.testing.assert_allclose(orders, expected_orders, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("p_none", [PNone.MODEL, PNone.BLEND])
def test_answers_equal_the_query_plan(
    scorer_and_rows: tuple[ModelScorer, dict[int, pl.DataFrame]], p_none: PNone
) -> None:
    scorer, per_user = scorer_and_rows
    scorer.p_none = p_none
    rng = np.random.default_rng(1)
    users = rng.choice(sorted(per_user), size=25)
    jobs = list(zip([per_user[int(u)] for u in users], _contexts(rng, users.size), strict=True))
    fast = scorer.score_many(jobs)
    saved, scorer._fast = scorer._fast, None
    try:
        planned = scorer.score_many(jobs)
    finally:
        scorer._fast = saved
    for a, b in zip(fast, planned, strict=True):
        assert a.products == b.products and a.none == b.none
        assert a.p_none == pytest.approx(b.p_none, abs=1e-6)
        assert a.candidates.keys() == b.candidates.keys()
        assert max(abs(a.candidates[k] - b.candidates[k]) for k in a.candidates) <= 1e-6


def _run_with(tmp_path_factory: pytest.TempPathFactory, family: str) -> Run:
    """A small run with one opt-in family switched on."""
    from basketcast import pipeline
    from basketcast.config import load_config
    from basketcast.data.sources.synthetic import synthetic, write_synthetic

    from .conftest import FAST

    root = tmp_path_factory.mktemp(f"serve-{family}")
    data, out = root / "data", root / "run"
    write_synthetic(synthetic(120, seed=11, threads=1), data, format="parquet")
    config = {**FAST, "model.num_boost_round": 10, "features.include": [family]}
    pipeline.run(data, out, config=load_config(**config))
    return Run(data=data, out=out)


@pytest.fixture(scope="module")
def tifu_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The tifu family's statistic (a neighbour index over every user) must never be
    sliced to a user's products."""
    return _run_with(tmp_path_factory, "tifu")


@pytest.fixture(scope="module")
def embedding_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The embedding family's product vectors are sliced to a user's products
    (`joins_product_stats`)."""
    return _run_with(tmp_path_factory, "embedding")


@pytest.mark.parametrize("which", ["default", "tifu", "embedding"])
def test_a_few_users_rows_from_sliced_tables_equal_the_whole_tables(
    which: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild joins product statistics and the catalogue cut to the users' products:
    the same rows as the whole tables give."""
    import basketcast.serve.features as serving
    from basketcast.serve.history import OrderHistory

    chosen: Run = request.getfixturevalue({"default": "run"}.get(which, f"{which}_run"))
    history = OrderHistory(load_dataset(chosen.data))
    scorer = ModelScorer(chosen.out)
    users = sorted(chosen.test_users())[:7]
    tables = history.tables(users)
    catalogue = tables.dataset.products
    assert catalogue is not None and history.catalogue is not None
    bought = set(tables.dataset.prior.get_column("product_id").to_list())
    assert set(catalogue.get_column("product_id").to_list()) == bought  # the slice, exactly
    assert catalogue.height < history.catalogue.height

    sliced = scorer.base_rows(tables.dataset)
    if which == "embedding":
        assert {"emb_user_cos", "emb_other_max_cos"} <= set(sliced.columns)
        assert sliced["emb_user_cos"].drop_nulls().len() > 0
    if which == "tifu":  # a per-request family here: the request's rows equal the batch's
        _assert_finished_rows_equal_the_batch_transform(scorer, tables.dataset, sliced)
    monkeypatch.setattr(serving, "_FEW_LINES", -1)  # whole statistics tables
    whole = ModelScorer(chosen.out).base_rows(replace(tables.dataset, products=history.catalogue))
    assert sliced.height > 0
    _assert_same_rows(sliced, whole, exact=which != "tifu")


def _assert_finished_rows_equal_the_batch_transform(
    scorer: ModelScorer, dataset: object, rows: pl.DataFrame
) -> None:
    from basketcast.features.build import transform_users

    test = dataset.orders.filter(pl.col("eval_set") == "test")  # type: ignore[attr-defined]
    targets = test.select("order_id", "order_dow", "order_hour_of_day", "days_since_prior_order")
    served, _ = scorer.features.finish(rows, targets)
    batch = transform_users(dataset, scorer.features.stats, config=scorer.config.features).items  # type: ignore[arg-type]
    assert any(c.startswith("tifu") for c in served.columns)
    keys = ["user_id", "product_id"]
    _assert_same_rows(served.sort(keys), batch.select(served.columns).sort(keys), exact=False)


def _assert_same_rows(a: pl.DataFrame, b: pl.DataFrame, *, exact: bool) -> None:
    # TIFU's neighbour sums are not bit-reproducible from one call to the next (the order of
    # a sparse product's terms varies), so the tifu case compares to float precision, and
    # leaves out the within-user rank of those sums, whose near-ties may swap.
    from polars.testing import assert_frame_equal

    if not exact:
        a, b = a.drop("tifu_rank", strict=False), b.drop("tifu_rank", strict=False)
    assert_frame_equal(a, b, check_exact=exact, rel_tol=1e-6, abs_tol=1e-9)
