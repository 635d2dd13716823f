"""415 for a request body that is not JSON (ASGI middleware), before the app reads it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from servekit.asgi import send_json

__all__ = ["JSON", "JsonBody", "content_type_problem"]

JSON = "application/json"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def content_type_problem(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a request's body is refused as not JSON (a 415's reason), or None.

    `headers` are the ASGI scope's. Parameters such as ``charset=utf-8`` are
    allowed; a request without a body needs no content type.
    """
    content_type: bytes | None = None
    has_body = False
    for name, value in headers:
        if name == b"content-type" and content_type is None:  # the one the app would read
            content_type = value
        elif name == b"content-length":
            has_body = has_body or value.strip() not in (b"", b"0")
        elif name == b"transfer-encoding":
            has_body = True
    if not has_body:
        return None
    if content_type is None:
        return f"no Content-Type: the body must be JSON, sent with Content-Type: {JSON}"
    received = content_type.decode("latin-1")
    if received.split(";", 1)[0].strip().lower() == JSON:
        return None
    return f"Content-Type {received}: the body must be JSON, sent with Content-Type: {JSON}"


class JsonBody:
    """ASGI middleware: a POST, PUT or PATCH with a body must be ``application/json`` (else 415).

    FastAPI parses a body without a content type as JSON anyway, and answers a
    body of another type with a 422 about its fields. Checked here, before any
    route reads the body, in the services' error shape. GETs, and writes
    without a body (a reload), pass.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state  # so tests and the server can reach the app's state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY:
            problem = content_type_problem(scope.get("headers", ()))
            if problem is not None:
                body = {"error": "unsupported media type", "reasons": [problem]}
                await send_json(send, 415, json.dumps(body).encode())
                return
        await self.app(scope, receive, send)
