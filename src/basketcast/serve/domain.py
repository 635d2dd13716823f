"""The service's values (a posted order, a context, an answer) and its errors.

Every error a client can cause is a `ServeError` with an HTTP status and a
list of reasons; the app maps them to responses in one handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Context",
    "DuplicateOrder",
    "InvalidOrder",
    "NextBasket",
    "NotReady",
    "OrderConflict",
    "PostedOrder",
    "ServeError",
    "Unauthorized",
]

MAX_ID = 2**63 - 1
"""Ids are Int64 end to end (`basketcast.data.schema.ID`); the service takes 0..MAX_ID."""


@dataclass(frozen=True)
class PostedOrder:
    """An order received by the service, as stored: ids, context and its products in cart order."""

    order_id: int
    user_id: int
    product_ids: tuple[int, ...]
    order_dow: int
    order_hour_of_day: int
    days_since_prior_order: float | None
    received_at: str = ""

    def differences(self, other: PostedOrder) -> list[str]:
        """The fields a client posts (all but `received_at`) whose values differ from `other`'s."""
        names = ("order_id", "user_id", "product_ids", "order_dow", "order_hour_of_day",
                 "days_since_prior_order")  # fmt: skip
        return [n for n in names if getattr(self, n) != getattr(other, n)]


@dataclass(frozen=True)
class Context:
    """The next order's day of week, hour of day and days since the user's previous order.

    `source` says where it came from: ``query``, ``test order`` (the user's
    pending test order in the loaded data) or ``typical`` (the user's most
    frequent day and hour and median gap).
    """

    order_dow: int
    order_hour_of_day: int
    days_since_prior_order: float | None
    source: str = "query"

    @property
    def key(self) -> tuple[int, int, float | None]:
        return (self.order_dow, self.order_hour_of_day, self.days_since_prior_order)


@dataclass(frozen=True)
class NextBasket:
    """The answer for one user: the F1-optimal basket and the probabilities behind it.

    `products` is the basket by descending probability; `none` says whether
    the ``None`` token is in it (alone, when `products` is empty).
    `candidates` maps every candidate product to its probability.
    """

    user_id: int
    products: tuple[int, ...]
    none: bool
    expected_f1: float
    p_none: float
    candidates: dict[int, float]
    context: Context | None
    model_version: str
    reason: str | None = None
    history_orders: int = 0


@dataclass
class ServeError(Exception):
    """An error the client caused (or must wait out): status code and reasons."""

    reasons: list[str] = field(default_factory=list)
    status: int = 400

    def __str__(self) -> str:
        return "; ".join(self.reasons)


class InvalidOrder(ServeError):
    """The posted order breaks the data contract (422)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(reasons=reasons, status=422)


class DuplicateOrder(InvalidOrder):
    """The order id is taken, by the loaded data or by an earlier post (422).

    A client gets it only for an id of the loaded data: posting a stored id again
    is a retry (answered as the first time) or, with another body, an `OrderConflict`.
    """


class OrderConflict(ServeError):
    """The order id was posted before with another body (409): a retry must repeat it exactly."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(reasons=reasons, status=409)


class Unauthorized(ServeError):
    """A write or reload without the right API key (401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reasons=[reason], status=401)


class NotReady(ServeError):
    """The model is not loaded (503)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reasons=[reason], status=503)
