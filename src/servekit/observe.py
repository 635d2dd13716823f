"""ASGI middleware: one JSON log line, a request count and a latency sample per request.

Requests are labelled by route (its path template), as FastAPI's router put it
in the scope. A middleware that answers before the router runs (the 415 of
`servekit.media.JsonBody`) leaves none there, so the route the router would
have chosen is looked up in `routes`; "unmatched" is a path no route has.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

__all__ = ["RequestLog", "route_label"]


def route_label(scope: Any, routes: Sequence[Any]) -> str:
    """The path template of the request's route, as the router chooses it (a full match,
    else the first partial one: a wrong method), or "unmatched"."""
    route = scope.get("route")
    if route is None and routes:
        from starlette.routing import Match  # the serve extra, as every caller has

        matches = [(r.matches(scope)[0], r) for r in routes]
        full = [r for m, r in matches if m is Match.FULL]
        partial = [r for m, r in matches if m is Match.PARTIAL]
        route = (full or partial or [None])[0]
    return getattr(route, "path", "unmatched")


class RequestLog:
    """Wrap an ASGI app; `requests` is a Prometheus counter labelled (method, route, status),
    `latency` a histogram labelled (method, route), `log` the service's logger; `routes`
    (the FastAPI app's) name the route of a request answered before routing.
    """

    def __init__(
        self,
        app: Any,
        *,
        requests: Any,
        latency: Any,
        log: logging.Logger,
        routes: Sequence[Any] = (),
    ) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self.log = log
        self.routes = routes
        self.state = app.state  # so tests and the server can reach the app's state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            seconds = time.perf_counter() - started
            route = route_label(scope, self.routes)
            method = scope["method"]
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(seconds)
            self.log.info(
                "request",
                extra={"event": "request", "id": uuid.uuid4().hex[:12], "method": method,
                       "path": scope["path"], "route": route, "status": status,
                       "ms": round(seconds * 1000, 2)},
            )  # fmt: skip
