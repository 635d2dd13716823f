"""A small Python client of `basketcast serve` (httpx), used by the tests and the benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["AsyncBasketClient", "BasketClient", "ServiceError"]


class ServiceError(Exception):
    """A 4xx/5xx answer: its status code and the service's reasons."""

    def __init__(self, status: int, error: str, reasons: Sequence[str]) -> None:
        self.status = status
        self.error = error
        self.reasons = list(reasons)
        super().__init__(f"{status} {error}: {'; '.join(self.reasons)}")


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("basketcast.client needs httpx: pip install 'basketcast[serve]'") from exc
    return httpx


def _context(
    order_dow: int | None, order_hour_of_day: int | None, days_since_prior_order: float | None
) -> dict[str, Any]:
    given = {
        "order_dow": order_dow,
        "order_hour_of_day": order_hour_of_day,
        "days_since_prior_order": days_since_prior_order,
    }
    return {k: v for k, v in given.items() if v is not None}


def _order(
    order_id: int,
    product_ids: Sequence[int],
    order_dow: int,
    order_hour_of_day: int,
    days_since_prior_order: float | None,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "product_ids": list(product_ids),
        "order_dow": order_dow,
        "order_hour_of_day": order_hour_of_day,
        "days_since_prior_order": days_since_prior_order,
    }


def _json(response: Any) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            error, reasons = body["error"], body["reasons"]
        except (ValueError, KeyError, TypeError):
            raise ServiceError(response.status_code, response.reason_phrase, []) from None
        raise ServiceError(response.status_code, error, reasons)
    return response.json()


class BasketClient:
    """Calls to one service; a context manager that closes its connection pool.

    Parameters
    ----------
    base_url
        For example ``http://127.0.0.1:8000``.
    api_key
        Sent as ``X-API-Key`` with writes and reloads.
    timeout
        Seconds per request.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0) -> None:
        httpx = _httpx()
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"X-API-Key": api_key} if api_key else {}

    def __enter__(self) -> BasketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def next_basket(
        self,
        user_id: int,
        *,
        order_dow: int | None = None,
        order_hour_of_day: int | None = None,
        days_since_prior_order: float | None = None,
    ) -> dict[str, Any]:
        """The next basket of a user; give the context or leave it to the service."""
        params = _context(order_dow, order_hour_of_day, days_since_prior_order)
        return dict(_json(self._http.get(f"/v1/users/{user_id}/next-basket", params=params)))

    def post_order(
        self,
        user_id: int,
        *,
        order_id: int,
        product_ids: Sequence[int],
        order_dow: int,
        order_hour_of_day: int,
        days_since_prior_order: float | None,
    ) -> dict[str, Any]:
        """Store a new order; returns once the service has it on disk (201).

        Safe to retry: the same order again returns the first answer (200).
        """
        body = _order(order_id, product_ids, order_dow, order_hour_of_day, days_since_prior_order)
        response = self._http.post(f"/v1/users/{user_id}/orders", json=body, headers=self._headers)
        return dict(_json(response))

    def reload(self) -> dict[str, Any]:
        """Make the service re-read its run folder."""
        return dict(_json(self._http.post("/v1/admin/reload", headers=self._headers)))

    def health(self) -> dict[str, Any]:
        return dict(_json(self._http.get("/v1/health")))

    def metrics(self) -> str:
        response = self._http.get("/metrics")
        response.raise_for_status()
        return str(response.text)


class AsyncBasketClient:
    """The same calls for asyncio (httpx.AsyncClient); the load benchmark drives it."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_connections: int = 100,
    ) -> None:
        httpx = _httpx()
        limits = httpx.Limits(max_connections=max_connections)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)
        self._headers = {"X-API-Key": api_key} if api_key else {}

    async def __aenter__(self) -> AsyncBasketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def next_basket(
        self,
        user_id: int,
        *,
        order_dow: int | None = None,
        order_hour_of_day: int | None = None,
        days_since_prior_order: float | None = None,
    ) -> dict[str, Any]:
        params = _context(order_dow, order_hour_of_day, days_since_prior_order)
        response = await self._http.get(f"/v1/users/{user_id}/next-basket", params=params)
        return dict(_json(response))

    async def post_order(
        self,
        user_id: int,
        *,
        order_id: int,
        product_ids: Sequence[int],
        order_dow: int,
        order_hour_of_day: int,
        days_since_prior_order: float | None,
    ) -> dict[str, Any]:
        body = _order(order_id, product_ids, order_dow, order_hour_of_day, days_since_prior_order)
        response = await self._http.post(
            f"/v1/users/{user_id}/orders", json=body, headers=self._headers
        )
        return dict(_json(response))
