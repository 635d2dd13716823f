"""Two ASGI moves both services' middleware make: answer with JSON bytes, and replay a body read."""

from __future__ import annotations

from typing import Any

__all__ = ["replay_body", "send_json"]


async def send_json(send: Any, status: int, body: bytes) -> None:
    """Send a whole JSON response (already rendered) with its length."""
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def replay_body(body: bytes, receive: Any) -> Any:
    """A `receive` that gives the body already read, then waits on the real one.

    After the body, ASGI's next message is the disconnect, so the real
    `receive` is what an app that keeps listening must get.
    """
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
