"""Domain errors of the service, each with its HTTP status (one handler maps them to 4xx/5xx)."""

from __future__ import annotations

__all__ = ["ServeError", "Unauthorized"]


class ServeError(Exception):
    """A request the service refuses: an HTTP status and reasons that name the field."""

    def __init__(self, reasons: list[str], *, status: int = 422) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.status = status


class Unauthorized(ServeError):
    """A missing or wrong API key."""

    def __init__(self, reason: str) -> None:
        super().__init__([reason], status=401)
