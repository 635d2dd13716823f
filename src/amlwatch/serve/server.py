"""Run the service under uvicorn: one process, graceful shutdown."""

from __future__ import annotations

import gc
import logging
import signal

from amlwatch.serve.logs import configure_logging
from amlwatch.serve.settings import ServeSettings

__all__ = ["GRACEFUL_SHUTDOWN_S", "run_server"]

GRACEFUL_SHUTDOWN_S = 10
"""On SIGTERM/SIGINT: stop accepting, let requests in flight finish for this long, then close."""


def run_server(settings: ServeSettings, *, log_level: str = "info") -> None:
    """Serve until SIGTERM or SIGINT.

    One worker process: the account state lives in its memory and its writes
    are ordered by one commit queue. The model and state load before the port
    opens, so a client never reaches a half-started service, and a bad run
    folder is a plain error (exit 2 from the CLI).
    """
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("`amlwatch serve` needs: pip install 'basketcast[serve]'") from exc

    from amlwatch.serve.app import create_app
    from amlwatch.serve.service import Service

    configure_logging(log_level)
    service = Service.start(settings)
    app = create_app(settings, service=service)
    # The loaded state (~300,000 objects for 35,000 transactions of history) lives as long as
    # the process. Frozen, a full collection no longer walks it, so it stops the event loop
    # for what came after startup, not for the whole state (benchmarks/README.md has figures).
    # Objects made later are collected as usual.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
        server_header=False,
        timeout_keep_alive=75,  # longer than a client pool's idle time
    )
    server = uvicorn.Server(config)
    # SIGHUP (a "reload" by habit, as `basketcast serve` has one) would end the process
    # silently; this service has no reload: say so and keep serving.
    signal.signal(signal.SIGHUP, _no_reload)
    server.run()
    if not server.started:
        raise OSError(f"could not serve on {settings.host}:{settings.port} (see the log above)")


def _no_reload(signum: int, frame: object) -> None:
    logging.getLogger("amlwatch.serve").warning(
        "SIGHUP ignored: amlwatch serve has no reload; restart it to serve a new run",
        extra={"event": "sighup_ignored"},
    )
