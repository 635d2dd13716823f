"""The ASGI app (FastAPI): routes, the one error handler, request logs and metrics.

The same choices as `basketcast serve` (borrowed, not imported: amlwatch
stands alone): typed Pydantic bodies and OpenAPI, the loaded state as a
dependency, one error shape for every 4xx/5xx, a body size limit, an API key
for writes when bound beyond loopback, JSON logs, Prometheus metrics and a
lifespan that flushes the commit queue on shutdown. `POST /v1/admin/reload` and
SIGHUP re-read the run folder and swap the model in (`Service.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from amlwatch.serve.commit import make_committer
from amlwatch.serve.errors import ServeError
from amlwatch.serve.fastpath import PATH, TransactionFastPath, render_json
from amlwatch.serve.loaded import StateConflict
from amlwatch.serve.metrics import Metrics
from amlwatch.serve.schemas import (
    ErrorResponse,
    HealthResponse,
    ReloadResponse,
    ScoreResponse,
    TransactionBody,
)
from amlwatch.serve.security import API_KEY_HEADER, BodyLimit, check_api_key
from amlwatch.serve.service import Service
from amlwatch.serve.settings import ServeSettings
from servekit.media import JsonBody
from servekit.observe import RequestLog

__all__ = ["create_app"]

log = logging.getLogger("amlwatch.serve")

ApiKey = Annotated[str | None, Header(alias=API_KEY_HEADER)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 409, 413, 422, 503)
}
_RELOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 409, 500, 503)
}
_TITLES = {
    401: "unauthorized",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request body too large",
    422: "invalid request",
    500: "internal error",
    503: "not ready",
}


async def _service(request: Request) -> Service:
    # async: a plain `def` dependency costs a worker-thread hop per request.
    service: Service | None = request.app.state.service
    if service is None:
        raise ServeError(["the service is still loading"], status=503)
    return service


State = Annotated[Service, Depends(_service)]


def create_app(settings: ServeSettings, *, service: Service) -> Any:
    """The service as an ASGI app around a started `Service`."""
    metrics = Metrics()

    def show_model() -> None:
        model = service.model
        metrics.set_model(detector=model.detector, kind=model.kind, threshold=model.threshold,
                          invocation=service.loaded.invocation_id or "")  # fmt: skip

    show_model()
    durability = service.store.durability
    metrics.state.info({"durability": durability.value, "synchronous": durability.synchronous})

    def committed(n: int, seconds: float, synced: float) -> None:
        metrics.group.observe(n)
        metrics.commit.observe(seconds)
        metrics.commit_sync.observe(synced)

    async def reload() -> ReloadResponse:
        """Re-read the run folder and serve its published run; on failure the old one keeps serving."""
        started = time.perf_counter()
        try:
            # Off the event loop: loading a model takes ~0.1-1 s; requests keep being scored.
            old, new = await asyncio.to_thread(service.reload)
        except StateConflict as exc:
            # 409, not basketcast's 500: nothing is broken and a retry cannot succeed; the
            # request conflicts with the state this service holds (restart with a new --db).
            metrics.reloads.labels("state_conflict").inc()
            log.warning("reload refused; the old model keeps serving",
                        extra={"event": "reload_refused", "reason": str(exc)})  # fmt: skip
            raise ServeError([f"reload refused, the loaded model keeps serving: {exc}"],
                             status=409) from None  # fmt: skip
        except Exception as exc:  # a damaged or half-published folder, a model not servable
            metrics.reloads.labels("error").inc()
            log.exception("reload failed; the old model keeps serving",
                          extra={"event": "reload_failed", "reason": str(exc)})  # fmt: skip
            raise ServeError([f"reload failed, the loaded model keeps serving: {exc}"],
                             status=500) from None  # fmt: skip
        seconds = time.perf_counter() - started
        metrics.reloads.labels("ok").inc()
        show_model()
        log.info(
            "reloaded",
            extra={"event": "reloaded", "invocation_id": new.invocation_id,
                   "previous_invocation_id": old.invocation_id, "detector": new.model.detector,
                   "kind": new.model.kind, "threshold": new.model.threshold,
                   "seconds": round(seconds, 3)},
        )  # fmt: skip
        return ReloadResponse(
            invocation_id=new.invocation_id, previous_invocation_id=old.invocation_id,
            detector=new.model.detector, kind=new.model.kind, threshold=new.model.threshold,
            seconds=seconds,
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        # SIGHUP reloads, as in `basketcast serve`; a failed one is logged by `reload`. Not in
        # the main thread (an app run by a test's server thread): no handler, no reload by signal.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_quiet(reload())))
        service.store.background_checkpoints(on_checkpoint=metrics.checkpointed)
        service.committer = make_committer(service.store, on_commit=committed)
        gc.callbacks.append(metrics.gc_callback)
        app.state.service = service
        log.info(
            "serving",
            extra={"event": "serving", "host": settings.host, "port": settings.port,
                   "detector": service.model.detector, "kind": service.model.kind,
                   "db": str(settings.db_path), "durability": durability.value},
        )  # fmt: skip
        try:
            yield
        finally:
            gc.callbacks.remove(metrics.gc_callback)
            service.close()  # commits what is queued, then closes the file
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            log.info("stopped", extra={"event": "stopped"})

    # /docs and /redoc from the package's own copy of Swagger UI and ReDoc, not a CDN:
    # a bank's or a shop's server often has no way out to the internet.
    app = FastAPIOffline(
        title="amlwatch",
        summary="Real-time money-laundering scores from a finished amlwatch run.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = None

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return _error(exc.status, exc.reasons)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":  # its loc is a character position, not a field
                reasons.append(f"body: not valid JSON ({e.get('ctx', {}).get('error', '')})")
                continue
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            reasons.append(f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}")
        return _error(422, reasons)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, [f"{request.method} {request.url.path}: {exc.detail}"])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"event": "error", "path": request.url.path})
        return _error(500, ["see the server log"])

    async def answer(body: TransactionBody, when: dt.datetime | None, features: bool) -> Any:
        """Score one transaction and wait until its write is committed (both paths call this)."""
        scored, future = service.score(body, when=when)
        try:
            await asyncio.wrap_future(future)
        except Exception as exc:
            service.fail(f"{type(exc).__name__}: {exc}")
            log.exception("commit failed", extra={"event": "commit_failed"})
            raise ServeError([service.broken or "commit failed"], status=503) from None
        metrics.scored.inc()
        for warning in scored.warnings:
            metrics.input_warnings.labels(warning.kind).inc()
        alert = scored.model_alert or bool(scored.rules)
        if alert:
            metrics.alerts.inc()
        return {
            "seq": scored.seq,
            "detector": scored.detector,
            "score": scored.score,
            "threshold": scored.threshold,
            "model_alert": scored.model_alert,
            "rules": scored.rules,
            "alert": alert,
            "reasons": scored.reasons,
            "features": scored.features if features else None,
            "warnings": [w.message for w in scored.warnings],
        }

    def require_key(x_api_key: ApiKey = None) -> None:
        # A dependency runs before the body is validated: a client without the key learns
        # nothing about the fields (401, not a 422 listing them).
        check_api_key(settings.api_key, x_api_key)

    @app.post(
        PATH, response_model=ScoreResponse, responses=_ERRORS, dependencies=[Depends(require_key)]
    )
    async def score(
        body: TransactionBody,
        service: State,
        features: Annotated[bool, Query(description="Include the streamable features.")] = False,
    ) -> Any:
        """Score one transaction; answer once its accounts' new state is committed.

        Per account, transactions must arrive in time order (409 otherwise):
        that is the order the batch features assume.
        """
        # Scoring is ~1 ms of CPU on the event loop: the state is one stream with one order.
        # The documented shape, without a second validation pass.
        return JSONResponse(await answer(body, None, features))

    @app.get("/v1/health", response_model=HealthResponse, responses=_ERRORS)
    def health(service: State) -> HealthResponse:
        """Liveness and what is loaded (503 once a failed commit has stopped scoring)."""
        if service.broken:
            raise ServeError([service.broken], status=503)
        return HealthResponse(
            status="ok",
            detector=service.model.detector,
            kind=service.model.kind,
            threshold=service.model.threshold,
            accounts=len(service.book.accounts),
            pairs=len(service.book.pairs),
            history_transactions=service.history,
            scored_transactions=service.next_seq - service.history,
            durability=durability.value,
            invocation_id=service.loaded.invocation_id,
        )

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResponse,
        responses=_RELOAD_ERRORS,
        dependencies=[Depends(require_key)],
    )
    async def reload_route(service: State) -> ReloadResponse:
        """Re-read the run folder and serve the run it publishes now; the account state is kept.

        409 when that run was made from other data than the served one (the state
        would not fit it); 500 when its files are damaged or its model cannot be
        served. Either way the loaded model keeps serving.
        """
        return await reload()

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    inner: Any = app
    if settings.fast_path:
        inner = TransactionFastPath(
            app,
            answer=answer,
            route=next(r for r in app.routes if getattr(r, "path", None) == PATH),
            on_error=lambda exc: (exc.status, render_json(_error_body(exc.status, exc.reasons))),
            api_key=settings.api_key,
            ready=lambda: app.state.service is not None,
            counter=metrics.fast_path,
        )
    inner = JsonBody(inner)  # 415 for a body that is not JSON, before anything reads it
    inner = BodyLimit(inner, max_bytes=settings.max_body_bytes)
    # Outermost, so that every answer (a 413 or a 415 too) is logged and counted.
    return RequestLog(
        inner, requests=metrics.requests, latency=metrics.latency, log=log, routes=app.routes
    )


async def _quiet(job: Any) -> None:
    with contextlib.suppress(Exception):  # a failed SIGHUP reload is logged by `reload`
        await job


def _error_body(status: int, reasons: list[str]) -> dict[str, Any]:
    return ErrorResponse(error=_TITLES.get(status, "error"), reasons=reasons).model_dump()


def _error(status: int, reasons: list[str]) -> JSONResponse:
    return JSONResponse(_error_body(status, reasons), status_code=status)
