"""Request and response bodies (Pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from basketcast.serve.domain import MAX_ID, NextBasket

__all__ = [
    "BasketResponse",
    "ContextBody",
    "ErrorResponse",
    "HealthResponse",
    "OrderBody",
    "OrderCreated",
    "ReloadResponse",
]

Id = Annotated[int, Field(ge=0, le=MAX_ID)]
MAX_PRODUCTS = 1000
"""The most products one posted order may list (the largest Instacart basket has 145)."""


class OrderBody(BaseModel):
    """A new order of the user: its id, products in cart order, and context."""

    model_config = ConfigDict(strict=True, extra="forbid")

    order_id: Id
    product_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_PRODUCTS)]
    order_dow: Annotated[int, Field(ge=0, le=6)]
    order_hour_of_day: Annotated[int, Field(ge=0, le=23)]
    days_since_prior_order: Annotated[float, Field(ge=0, le=30, allow_inf_nan=False)] | None


class OrderCreated(BaseModel):
    user_id: int
    order_id: int
    products: int
    received_at: str


class ContextBody(BaseModel):
    order_dow: int
    order_hour_of_day: int
    days_since_prior_order: float | None
    source: Literal["query", "test order", "typical"]


class Candidate(BaseModel):
    product_id: int
    p: float


class BasketResponse(BaseModel):
    """The F1-optimal next basket (products by descending probability, then "None" if chosen)."""

    user_id: int
    basket: list[int | Literal["None"]]
    products: list[int]
    none: bool
    expected_f1: float
    p_none: float
    candidates: list[Candidate]
    context: ContextBody | None
    model_version: str
    history_orders: int
    reason: str | None = None

    @staticmethod
    def body(answer: NextBasket) -> dict[str, Any]:
        """The response as plain JSON values, in this model's shape (the hot path skips
        building ~60 Candidate models per answer; a test checks the two agree)."""
        basket: list[int | str] = [*answer.products]
        if answer.none:
            basket.append("None")
        c = answer.context
        ranked = sorted(answer.candidates.items(), key=lambda kv: (-kv[1], kv[0]))
        return {
            "user_id": answer.user_id,
            "basket": basket,
            "products": list(answer.products),
            "none": answer.none,
            "expected_f1": answer.expected_f1,
            "p_none": answer.p_none,
            "candidates": [{"product_id": k, "p": v} for k, v in ranked],
            "context": None
            if c is None
            else {
                "order_dow": c.order_dow,
                "order_hour_of_day": c.order_hour_of_day,
                "days_since_prior_order": c.days_since_prior_order,
                "source": c.source,
            },
            "model_version": answer.model_version,
            "history_orders": answer.history_orders,
            "reason": answer.reason,
        }

    @classmethod
    def of(cls, answer: NextBasket) -> BasketResponse:
        basket: list[int | Literal["None"]] = [*answer.products]
        if answer.none:
            basket.append("None")
        context = None
        if answer.context is not None:
            c = answer.context
            context = ContextBody(
                order_dow=c.order_dow,
                order_hour_of_day=c.order_hour_of_day,
                days_since_prior_order=c.days_since_prior_order,
                source=c.source,  # type: ignore[arg-type]
            )
        ranked = sorted(answer.candidates.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(
            user_id=answer.user_id,
            basket=basket,
            products=list(answer.products),
            none=answer.none,
            expected_f1=answer.expected_f1,
            p_none=answer.p_none,
            candidates=[Candidate(product_id=k, p=v) for k, v in ranked],
            context=context,
            model_version=answer.model_version,
            history_orders=answer.history_orders,
            reason=answer.reason,
        )


class HealthResponse(BaseModel):
    status: Literal["ok", "loading"]
    model_version: str | None
    run_id: str | None
    loaded_at: float | None
    users: int
    posted_orders: int
    stale_users: int


class ReloadResponse(BaseModel):
    model_version: str
    seconds: float


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a short error and the reasons behind it."""

    error: str
    reasons: list[str]
