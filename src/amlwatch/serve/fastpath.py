"""The hot route without FastAPI: a plainly valid scoring POST, answered by a small ASGI layer.

A profile under load showed FastAPI's routing, dependency solving and Pydantic
validation as a visible share of the event loop's time for this one route (the
load test puts the saving at ~0.1-0.2 ms of server CPU per request; see
benchmarks/README.md). This layer answers only requests that are unmistakably valid: `POST /v1/transactions`
with one ``content-type: application/json``, no query or ``features=true|false``,
the right API key when one is set, and a body whose every field has the plain
type and shape the schema asks for (ASCII text, already stripped, 1-128
characters; finite non-negative floats or small integers; a timestamp that
`parse_timestamp` reads). Everything else, including every request that could
earn a 4xx, goes on to FastAPI unchanged, with its body replayed, so
validation and its messages stay in one place and the route stays in the
OpenAPI document. A test sends the same valid and doubtful requests to a
server with and without this layer and checks the same status, headers and
bytes, and the same stored state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from amlwatch.data.schema import MAX_AMOUNT
from amlwatch.serve.errors import ServeError
from amlwatch.serve.schemas import TransactionBody, parse_timestamp
from servekit.asgi import replay_body, send_json
from servekit.security import API_KEY_HEADER, api_key_problem

__all__ = ["TransactionFastPath", "parse_features_query", "parse_transaction", "render_json"]

log = logging.getLogger("amlwatch.serve")

PATH = "/v1/transactions"
_TEXT = (
    "timestamp", "from_bank", "from_account", "to_bank", "to_account",
    "receiving_currency", "payment_currency", "payment_format",
)  # fmt: skip
_AMOUNTS = ("amount_received", "amount_paid")
_REQUIRED = frozenset(_TEXT + _AMOUNTS)
_ALLOWED = _REQUIRED | {"is_laundering"}
_MAX_TEXT = 128  # schemas.Text
_KEY = API_KEY_HEADER.lower().encode("latin-1")
_QUERIES = {b"": False, b"features=true": True, b"features=false": False}

Answer = Callable[[TransactionBody, dt.datetime, bool], Awaitable[dict[str, Any]]]
OnError = Callable[[ServeError], tuple[int, bytes]]


def render_json(content: Any) -> bytes:
    """Exactly Starlette's `JSONResponse.render`, so both paths send the same bytes."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def parse_features_query(query: bytes) -> bool | None:
    """The `features` flag of a plain query string, else None (FastAPI decides)."""
    return _QUERIES.get(query)


def _plain_text(value: Any) -> bool:
    # Ends that are not whitespace: Pydantic's strip (Rust `trim`, Unicode White_Space) is then
    # the identity, since Python's isspace covers White_Space. ASCII: no encoding questions.
    return (
        type(value) is str
        and 0 < len(value) <= _MAX_TEXT
        and value.isascii()
        and not value[0].isspace()
        and not value[-1].isspace()
    )


def _plain_amount(value: Any) -> float | None:
    # The schema's bounds: 0 <= amount <= MAX_AMOUNT (below 2**53, so an int is exact).
    if type(value) is float:
        return value if 0 <= value <= MAX_AMOUNT else None
    if type(value) is int and 0 <= value <= MAX_AMOUNT:  # bool is not `int` here
        return float(value)
    return None


def parse_transaction(body: bytes) -> tuple[TransactionBody, dt.datetime] | None:
    """The validated body and its timestamp, when the body is plainly valid; else None.

    "Plainly valid" is narrower than the schema: whatever this does not accept,
    FastAPI validates (and accepts or refuses) as it always did.
    """
    if not body.startswith(b"{"):  # UTF-8 without a BOM, an object (json.loads also reads UTF-16)
        return None
    try:
        data = json.loads(body)  # Starlette's `Request.json` parser: the same objects
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict or not _REQUIRED <= data.keys() <= _ALLOWED:
        return None
    values: dict[str, Any] = {}
    for name in _TEXT:
        text = data[name]
        if not _plain_text(text):
            return None
        values[name] = text
    for name in _AMOUNTS:
        amount = _plain_amount(data[name])
        if amount is None:
            return None
        values[name] = amount
    label = data.get("is_laundering")
    if label is not None and (type(label) is not int or label not in (0, 1)):
        return None
    values["is_laundering"] = label
    try:
        when = parse_timestamp(values["timestamp"])
    except ValueError:
        return None
    return TransactionBody.model_construct(**values), when


class TransactionFastPath:
    """ASGI: plainly valid scoring POSTs go to `answer`; every other request to `app`.

    `route` is FastAPI's route object for the POST, set on the scope so the
    request log and metrics label both paths alike; `on_error` turns a
    `ServeError` into the service's error response (status, body); `api_key`
    is the key scoring requests must carry (None: none needed); `ready` says
    whether the service has started (until then FastAPI answers, with its 503);
    `counter` (a Prometheus counter, optional) counts the requests this layer answers.
    """

    def __init__(
        self,
        app: Any,
        *,
        answer: Answer,
        route: Any,
        on_error: OnError,
        api_key: str | None,
        ready: Callable[[], bool],
        counter: Any = None,
    ) -> None:
        self.app = app
        self.answer = answer
        self.route = route
        self.on_error = on_error
        self.api_key = api_key
        self.ready = ready
        self.counter = counter
        self.state = app.state

    def _plain_request(self, scope: Any) -> bool | None:
        """The `features` flag when the method, path, query and headers are plain, else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return None
        features = parse_features_query(scope["query_string"])
        if features is None or not self.ready():
            return None
        content_types, keys = [], []
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_types.append(value)
            elif name == _KEY:
                keys.append(value)
        if content_types != [b"application/json"] or len(keys) > 1:
            return None
        given = keys[0].decode("latin-1") if keys else None
        if api_key_problem(self.api_key, given) is not None:
            return None  # FastAPI answers the 401 (or the 422 it finds first)
        return features

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        features = self._plain_request(scope)
        if features is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        parsed = parse_transaction(body)
        if parsed is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["route"] = self.route
        if self.counter is not None:
            self.counter.inc()
        try:
            status, content = 200, render_json(await self.answer(*parsed, features))
        except ServeError as exc:
            status, content = self.on_error(exc)
        except Exception:  # as FastAPI's handler of the unexpected: logged, one shape
            log.exception("unhandled error", extra={"event": "error", "path": scope["path"]})
            status, content = self.on_error(ServeError(["see the server log"], status=500))
        await send_json(send, status, content)
