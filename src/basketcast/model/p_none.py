"""Where p(None) comes from, chosen per run by out-of-fold F1 (`basket.p_none`).

The item model's probabilities and a p(None) per order make a basket
(`basketcast.basket.select_baskets`). p(None) can be the None model's, the
independence estimate prod(1 - p_i), or their mean. Which is best differs by
data set (the None model gains 0.029 F1 on The Complete Journey and costs F1
on real Instacart users), so ``p_none = "auto"`` scores each on the run's own
train orders out of fold (depth 0, the quantity a run is scored on) and keeps
the best. The choice is made on the same orders it is reported on, so the
chosen figure is optimistic by the selection among three (typically far less
than its bootstrap interval's width).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from basketcast import evaluate
from basketcast.basket import select_baskets
from basketcast.basket.p_none import p_none_values
from basketcast.config import PNone

__all__ = ["CHOICES", "choose_p_none", "p_none_values"]

CHOICES: tuple[PNone, ...] = (PNone.MODEL, PNone.INDEPENDENT, PNone.BLEND)
"""What ``auto`` picks among, in order of preference on an exact tie."""


def choose_p_none(
    items: pl.DataFrame,
    none: pl.DataFrame | None,
    truth: pl.DataFrame,
    *,
    requested: PNone,
) -> tuple[PNone, dict[str, Any]]:
    """The p(None) source to use, and the out-of-fold F1 of every candidate.

    Parameters
    ----------
    items, none
        Out-of-fold ``order_id, product_id, p`` and ``order_id, p_none`` of the
        scored train orders.
    truth
        ``order_id, products`` of (at least) those orders.
    requested
        `basket.p_none`; anything but ``auto`` is kept as asked (and still scored).

    Returns
    -------
    (PNone, dict)
        The choice, and ``{"requested", "chosen", "orders", "oof_f1": {choice: mean F1}}``
        for metrics.json. Without a None model the choice is always ``independent``.
    """
    orders = items.select("order_id").unique()
    scored = truth.join(orders, on="order_id", how="semi")
    candidates = CHOICES if none is not None else (PNone.INDEPENDENT,)
    figures: dict[str, float] = {}
    for choice in candidates:
        if scored.is_empty():
            break
        baskets = select_baskets(items, p_none_values(items, none, choice))
        f1 = evaluate.per_order_f1(baskets.select("order_id", "products"), scored)
        figures[choice.value] = float(f1.get_column("f1").mean())  # type: ignore[arg-type]
    chosen: PNone
    if requested is not PNone.AUTO:
        chosen = requested if none is not None else PNone.INDEPENDENT
    elif figures:
        # max keeps the first of equal scores: the order of CHOICES breaks ties.
        chosen = PNone(max(figures, key=lambda k: figures[k]))
    else:
        chosen = PNone.MODEL if none is not None else PNone.INDEPENDENT
    info = {
        "requested": requested.value,
        "chosen": chosen.value,
        "orders": scored.height,
        "oof_f1": figures,
    }
    return chosen, info
