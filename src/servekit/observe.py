"""ASGI middleware: one JSON log line, a request count and a latency sample per request."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

__all__ = ["RequestLog"]


class RequestLog:
    """Wrap an ASGI app; `requests` is a Prometheus counter labelled (method, route, status),
    `latency` a histogram labelled (method, route), `log` the service's logger.
    """

    def __init__(self, app: Any, *, requests: Any, latency: Any, log: logging.Logger) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self.log = log
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
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(seconds)
            self.log.info(
                "request",
                extra={"event": "request", "id": uuid.uuid4().hex[:12], "method": method,
                       "path": scope["path"], "route": route, "status": status,
                       "ms": round(seconds * 1000, 2)},
            )  # fmt: skip
