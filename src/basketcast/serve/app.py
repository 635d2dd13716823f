"""The ASGI app (FastAPI): routes, the one error handler, request logs and metrics.

FastAPI because the service is a handful of typed JSON endpoints: Pydantic
models validate the bodies and give the OpenAPI document for free, and the
loaded run reaches every handler as a dependency. Handlers that compute are
plain functions, so they run in the worker thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from basketcast._entry import ALLOCATOR_VARIABLE
from basketcast.serve.batcher import Batcher
from basketcast.serve.domain import MAX_ID, Context, NextBasket, PostedOrder, ServeError
from basketcast.serve.fastpath import NextBasketFastPath, render_json
from basketcast.serve.metrics import Metrics
from basketcast.serve.schemas import (
    BasketResponse,
    ErrorResponse,
    HealthResponse,
    OrderBody,
    OrderCreated,
    ReloadResponse,
)
from basketcast.serve.scorer import Scored
from basketcast.serve.security import API_KEY_HEADER, BodyLimit, check_api_key
from basketcast.serve.settings import ServeSettings
from basketcast.serve.state import Pending, ServiceState
from servekit.media import JsonBody
from servekit.observe import RequestLog

__all__ = ["REPLAYED_HEADER", "create_app"]

log = logging.getLogger("basketcast.serve")

_REBUILD_AFTER_S = 0.25
"""A post's user's rows are rebuilt in the background this long after the post, together with
every user who posted meanwhile: one feature transform costs ~20 ms whatever its users, so
a burst of posts shares one, and a GET that follows its post finds the rows ready."""

_REBUILD_EVERY_S = 1.0
"""The background rebuild also looks for stale users this often (a post wakes it sooner)."""

UserId = Annotated[int, Path(ge=0, le=MAX_ID, description="The user's id (0 to 2^63 - 1).")]
ApiKey = Annotated[str | None, Header(alias=API_KEY_HEADER)]
_ERROR: dict[str, Any] = {"model": ErrorResponse}
_ERRORS: dict[int | str, dict[str, Any]] = {code: _ERROR for code in (401, 404, 413, 422, 503)}

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on the 200 answering a retried post of a stored order."""
_REPLAYED: dict[str, Any] = {
    "model": OrderCreated,
    "description": "A retry: the order was stored by an earlier post with the same body; "
    "nothing changed.",
    "headers": {REPLAYED_HEADER: {"description": "true", "schema": {"type": "string"}}},
}


def _state(request: Request) -> ServiceState:
    state: ServiceState | None = request.app.state.service
    if state is None:
        raise ServeError(["the service is still loading"], status=503)
    return state


State = Annotated[ServiceState, Depends(_state)]


def create_app(settings: ServeSettings, *, state: ServiceState | None = None) -> Any:
    """The service as an ASGI app; `state` given: use it instead of loading at startup."""
    metrics = Metrics()
    batcher: Batcher[Pending, Scored] = Batcher(
        ServiceState.score, workers=settings.workers, on_batch=metrics.batch.observe
    )

    async def reload(app: FastAPI) -> ReloadResponse:
        service: ServiceState = app.state.service
        started = time.perf_counter()
        try:
            version = await anyio.to_thread.run_sync(service.reload)
        except Exception as exc:
            metrics.reloads.labels("error").inc()
            log.exception("reload failed; the old model keeps serving", extra={"event": "reload"})
            raise ServeError(
                [f"reload failed, the loaded model keeps serving: {exc}"], status=500
            ) from exc
        metrics.reloads.labels("ok").inc()
        metrics.set_model(version, getattr(service.loaded.scorer, "run_id", ""))
        return ReloadResponse(model_version=version, seconds=time.perf_counter() - started)

    posted = asyncio.Event()  # set on the loop by each post: wakes the background rebuild

    async def rebuild_forever(service: ServiceState) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(posted.wait(), _REBUILD_EVERY_S)
            await asyncio.sleep(_REBUILD_AFTER_S)
            posted.clear()
            try:
                rebuilt = await anyio.to_thread.run_sync(service.rebuild_stale)
                metrics.rebuilt.inc(rebuilt)
                metrics.stale.set(len(service.loaded.rows.stale()))
            except Exception:  # keep the loop alive; the GET path rebuilds on demand too
                log.exception("background rebuild failed", extra={"event": "rebuild"})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = state
        if service is None:
            service = await anyio.to_thread.run_sync(ServiceState.start, settings)
        app.state.service = service
        metrics.set_model(
            service.loaded.scorer.version, getattr(service.loaded.scorer, "run_id", "")
        )
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_quiet(reload(app))))
        rebuilder = asyncio.create_task(rebuild_forever(service))
        await batcher.start()
        log.info(
            "serving",
            extra={
                "event": "serving",
                "host": settings.host,
                "port": settings.port,
                # jemalloc's setting as Polars loaded it (see basketcast._entry)
                "allocator": os.environ.get(ALLOCATOR_VARIABLE),
            },
        )
        try:
            yield
        finally:
            await batcher.stop()
            rebuilder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rebuilder
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            service.close()
            log.info("stopped", extra={"event": "stopped"})

    # /docs and /redoc from the package's own copy of Swagger UI and ReDoc, not a CDN:
    # a bank's or a shop's server often has no way out to the internet.
    app = FastAPIOffline(
        title="basketcast",
        summary="Next-basket predictions from a finished basketcast run, updated per posted order.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = state

    # --- errors: one shape for every 4xx/5xx ---------------------------------------------------

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return _error(exc.status, _TITLES.get(exc.status, "error"), exc.reasons)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return _error(422, "invalid request", reasons)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), [f"{request.method} {request.url.path}"])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"event": "error", "path": request.url.path})
        return _error(500, "internal error", ["see the server log"])

    # --- routes ----------------------------------------------------------------------------------

    async def answer(app: Any, user_id: int, context: Context | None) -> dict[str, Any]:
        """A next basket as JSON values: the route's work, shared with the fast path."""
        service: ServiceState | None = app.state.service
        if service is None:
            raise ServeError(["the service is still loading"], status=503)
        # Preparing is a few dictionary and index look-ups: on the event loop, unless the
        # user's rows must be rebuilt first (a feature transform: a worker thread).
        if service.loaded.rows.is_stale(user_id):
            prepared = await anyio.to_thread.run_sync(service.prepare, user_id, context)
        else:
            prepared = service.prepare(user_id, context)
        if not isinstance(prepared, NextBasket):
            prepared = service.complete(prepared, await batcher.submit(prepared))
        return BasketResponse.body(prepared)

    @app.get("/v1/users/{user_id}/next-basket", response_model=BasketResponse, responses=_ERRORS)
    async def next_basket(
        user_id: UserId,
        request: Request,
        order_dow: Annotated[int | None, Query(ge=0, le=6)] = None,
        order_hour_of_day: Annotated[int | None, Query(ge=0, le=23)] = None,
        days_since_prior_order: Annotated[
            float | None, Query(ge=0, le=30, allow_inf_nan=False)
        ] = None,
    ) -> BasketResponse:
        """The F1-optimal basket of the user's next order, with every candidate's probability.

        Give the next order's context in the query (day and hour together; the
        gap may be left out when unknown); without one, the user's pending test
        order's context is used, else their most frequent day and hour and
        median gap. `context.source` says which.
        """
        context = None
        given = (order_dow, order_hour_of_day, days_since_prior_order)
        if any(v is not None for v in given):
            if order_dow is None or order_hour_of_day is None:
                missing = [
                    n
                    for n, v in (("order_dow", order_dow), ("order_hour_of_day", order_hour_of_day))
                    if v is None
                ]
                raise ServeError(
                    [f"query: {' and '.join(missing)} missing: a context gives order_dow and "
                     "order_hour_of_day (days_since_prior_order optional), or nothing at all"],
                    status=422,
                )  # fmt: skip
            context = Context(order_dow, order_hour_of_day, days_since_prior_order, "query")
        # Plain JSON in the documented shape: no per-candidate models on the hot path.
        return JSONResponse(await answer(request.app, user_id, context))  # type: ignore[return-value]

    async def require_key(x_api_key: ApiKey = None) -> None:
        # A dependency runs before the body is validated: a client without the key learns
        # nothing about the fields (401, not a 422 listing them). Async, so it costs no
        # hop to a worker thread.
        check_api_key(settings.api_key, x_api_key)

    @app.post(
        "/v1/users/{user_id}/orders",
        status_code=201,
        response_model=OrderCreated,
        responses={**_ERRORS, 200: _REPLAYED, 409: _ERROR, 415: _ERROR},
        dependencies=[Depends(require_key)],
    )
    async def post_order(
        user_id: UserId,
        body: OrderBody,
        request: Request,
        response: Response,
    ) -> OrderCreated:
        """Store a new order of the user durably (201 only once it is on disk) and update them.

        Retries are safe: the same order again (every field equal) changes nothing and
        gets 200, the first answer's body and the header `Idempotent-Replayed: true`.
        Another order under a posted order_id is a 409 naming each field that differs.
        """
        # Async with one hop to a worker thread for the store's fsync: a sync route with a
        # sync dependency cost two thread hand-offs per POST under the GIL.
        service = _state(request)
        order = PostedOrder(
            order_id=body.order_id,
            user_id=user_id,
            product_ids=tuple(body.product_ids),
            order_dow=body.order_dow,
            order_hour_of_day=body.order_hour_of_day,
            days_since_prior_order=body.days_since_prior_order,
        )
        stored, replayed = await anyio.to_thread.run_sync(service.post, order)
        if replayed:
            response.status_code = 200
            response.headers[REPLAYED_HEADER] = "true"
        else:
            posted.set()
            metrics.posted.inc()
        return OrderCreated(
            user_id=user_id,
            order_id=stored.order_id,
            products=len(stored.product_ids),
            received_at=stored.received_at,
        )

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResponse,
        responses=_ERRORS,
        dependencies=[Depends(require_key)],
    )
    async def reload_route(request: Request) -> ReloadResponse:
        """Re-read the run folder given at startup (models and statistics); no downtime."""
        _state(request)
        return await reload(request.app)

    @app.get("/v1/health", response_model=HealthResponse)
    def health(service: State) -> HealthResponse:
        """Liveness and what is loaded."""
        loaded = service.loaded
        return HealthResponse(
            status="ok",
            model_version=loaded.scorer.version,
            run_id=getattr(loaded.scorer, "run_id", None),
            loaded_at=loaded.loaded_at,
            users=service.history.users(),
            posted_orders=service.store.count(),
            stale_users=len(loaded.rows.stale()),
        )

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    route = next(r for r in app.routes if getattr(r, "name", None) == "next_basket")
    fast = NextBasketFastPath(
        app,
        answer=lambda user_id, context: answer(app, user_id, context),
        route=route,
        on_error=lambda exc: (exc.status, _error_body(exc.status, exc.reasons)),
    )
    limited = BodyLimit(
        JsonBody(fast if settings.fast_path else app), max_bytes=settings.max_body_bytes
    )
    # Outermost, so that every answer (a 413 or a 415 too) is logged and counted.
    return RequestLog(
        limited, requests=metrics.requests, latency=metrics.latency, log=log, routes=app.routes
    )


_TITLES = {
    500: "internal error",
    401: "unauthorized",
    404: "not found",
    409: "conflict",
    413: "request body too large",
    415: "unsupported media type",
    422: "invalid request",
    503: "not ready",
}


def _error(status: int, title: str, reasons: list[str]) -> JSONResponse:
    return JSONResponse(
        ErrorResponse(error=title, reasons=reasons).model_dump(), status_code=status
    )


def _error_body(status: int, reasons: list[str]) -> bytes:
    """`_error`'s body, for the fast path."""
    title = _TITLES.get(status, "error")
    return render_json(ErrorResponse(error=title, reasons=reasons).model_dump())


async def _quiet(job: Any) -> None:
    with contextlib.suppress(Exception):  # a failed SIGHUP reload is logged by `reload`
        await job
