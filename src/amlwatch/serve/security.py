"""The API key for scoring requests (they write state), and the request body size limit."""

from __future__ import annotations

from amlwatch.serve.errors import Unauthorized
from servekit.security import API_KEY_HEADER, BodyLimit, api_key_problem

__all__ = ["API_KEY_HEADER", "BodyLimit", "check_api_key"]


def check_api_key(expected: str | None, given: str | None) -> None:
    """Raise `Unauthorized` unless no key is configured or `given` equals it (constant time)."""
    problem = api_key_problem(expected, given)
    if problem is not None:
        raise Unauthorized(problem)
