"""The API key check (constant time) and the request body size limit (ASGI middleware)."""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

from servekit.asgi import replay_body

__all__ = ["API_KEY_HEADER", "BodyLimit", "api_key_problem", "is_loopback"]

API_KEY_HEADER = "X-API-Key"


def api_key_problem(expected: str | None, given: str | None) -> str | None:
    """Why `given` is refused (a 401's reason), or None: no key configured, or it matches."""
    if expected is None:
        return None
    if given is None:
        return f"this action needs the {API_KEY_HEADER} header"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return f"wrong {API_KEY_HEADER}"
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: assume it is reachable from outside
        return False


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by Content-Length or as it streams in.

    Counting the stream too matters: a chunked request has no Content-Length.
    """

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.state = app.state  # so tests and the server can reach the app's state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        # Read the whole body first (it is small by definition) and replay it to the app:
        # a chunked request has no Content-Length, so the stream itself is counted.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)

    async def _reject(self, send: Any) -> None:
        body = json.dumps(
            {
                "error": "request body too large",
                "reasons": [f"the limit is {self.max_bytes} bytes"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
