"""Run the service under uvicorn: one process, graceful shutdown, SIGHUP reloads."""

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
    """Serve until SIGTERM or SIGINT; SIGHUP re-reads the run folder (as POST /v1/admin/reload).

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
    # Until the app's lifespan installs the reload handler, SIGHUP's default would end the
    # process silently while it loads; the run it loads is the one published now anyway.
    signal.signal(signal.SIGHUP, _starting)
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
    server.run()
    if not server.started:
        raise OSError(f"could not serve on {settings.host}:{settings.port} (see the log above)")


def _starting(signum: int, frame: object) -> None:
    logging.getLogger("amlwatch.serve").warning(
        "SIGHUP ignored: the service is still starting (it loads the run published now)",
        extra={"event": "sighup_ignored"},
    )
