"""`basketcast serve`: next-basket answers over HTTP, with durable orders and per-user updates.

The ASGI app needs the `serve` extra (FastAPI, uvicorn); import it from
`basketcast.serve.app`. This package's root imports nothing heavy.
"""

from __future__ import annotations

from basketcast.serve.settings import API_KEY_ENV, ServeSettings

__all__ = ["API_KEY_ENV", "ServeSettings"]
