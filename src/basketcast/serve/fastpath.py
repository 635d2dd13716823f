"""The hot route without FastAPI: a plainly valid next-basket GET, answered by a small ASGI layer.

A profile of the service under load had FastAPI's routing, dependency and
parameter machinery at about a sixth of the server's CPU for this one route.
This layer answers only requests whose path and query are unmistakably valid
(digits within range, known keys, each once). Everything else, including every
request that could earn a 4xx, goes on to FastAPI unchanged, so validation and
its error messages stay in one place; the route stays declared there for the
OpenAPI document. A test checks both give the same bytes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from basketcast.serve.domain import MAX_ID, Context, ServeError
from servekit.asgi import send_json

__all__ = ["NextBasketFastPath", "parse_next_basket", "render_json"]

log = logging.getLogger("basketcast.serve")

# No signs, spaces, exponents or leading zeros: whatever these miss, FastAPI parses.
_PATH = re.compile(r"/v1/users/(0|[1-9]\d{0,18})/next-basket")
_INT = re.compile(r"0|[1-9]\d?")
_NUMBER = re.compile(r"(0|[1-9]\d?)(\.\d{1,12})?")
_RANGES = {"order_dow": 6, "order_hour_of_day": 23}
_KEYS = {"order_dow", "order_hour_of_day", "days_since_prior_order"}

Answer = Callable[[int, Context | None], Awaitable[dict[str, Any]]]
OnError = Callable[[ServeError], tuple[int, bytes]]


def render_json(content: Any) -> bytes:
    """Exactly Starlette's `JSONResponse.render`, so both paths send the same bytes."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def parse_next_basket(path: str, query: bytes) -> tuple[int, Context | None] | None:
    """(user id, query context) of a plainly valid request, else None (FastAPI decides)."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    user_id = int(match.group(1))
    if user_id > MAX_ID:
        return None
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return None
    given = dict(pairs)
    if len(given) != len(pairs) or not given.keys() <= _KEYS:
        return None  # repeated or unknown keys: FastAPI's rules apply
    if not given:
        return user_id, None
    if "order_dow" not in given or "order_hour_of_day" not in given:
        return None  # FastAPI answers the 422
    values: dict[str, int] = {}
    for key, high in _RANGES.items():
        text = given[key]
        if _INT.fullmatch(text) is None or int(text) > high:
            return None
        values[key] = int(text)
    gap: float | None = None
    if "days_since_prior_order" in given:
        text = given["days_since_prior_order"]
        if _NUMBER.fullmatch(text) is None or float(text) > 30:
            return None
        gap = float(text)
    return user_id, Context(values["order_dow"], values["order_hour_of_day"], gap, "query")


class NextBasketFastPath:
    """ASGI: plainly valid next-basket GETs go to `answer`; every other request to `app`.

    `route` is FastAPI's route object for next-basket, set on the scope so the
    request log labels both paths alike; `on_error` turns a `ServeError` into
    the service's error response (status, body).
    """

    def __init__(self, app: Any, *, answer: Answer, route: Any, on_error: OnError) -> None:
        self.app = app
        self.answer = answer
        self.route = route
        self.on_error = on_error
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        parsed = (
            parse_next_basket(scope["path"], scope["query_string"])
            if scope["type"] == "http" and scope["method"] == "GET"
            else None
        )
        if parsed is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            status, body = 200, render_json(await self.answer(*parsed))
        except ServeError as exc:
            status, body = self.on_error(exc)
        except Exception:  # as FastAPI's handler of the unexpected: logged, one shape
            log.exception("unhandled error", extra={"event": "error", "path": scope["path"]})
            status, body = self.on_error(ServeError(["see the server log"], status=500))
        await send_json(send, status, body)
