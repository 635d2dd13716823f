"""Run the service under uvicorn: one process, graceful shutdown, SIGHUP reloads."""

from __future__ import annotations

import gc

from basketcast.serve.logs import configure_logging
from basketcast.serve.settings import ServeSettings

__all__ = ["run_server"]

GRACEFUL_SHUTDOWN_S = 10
"""On SIGTERM/SIGINT: stop accepting, let requests in flight finish for this long, then close."""


def run_server(settings: ServeSettings, *, log_level: str = "info") -> None:
    """Serve until SIGTERM or SIGINT; SIGHUP re-reads the run folder.

    One worker process: the history and rows live in its memory, and writes
    are ordered by its store. The model is loaded before the port opens, so a
    client never reaches a half-started service.
    """
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("`basketcast serve` needs: pip install 'basketcast[serve]'") from exc

    from basketcast.serve.app import create_app
    from basketcast.serve.state import ServiceState

    configure_logging(log_level)
    # Loaded here, not in the lifespan: a bad run or data folder is a plain error (exit 2
    # from the CLI) instead of a server that starts and stops.
    state = ServiceState.start(settings)
    # The loaded run is long-lived: keep the collector from walking it on every full pass
    # (a standard step for servers; requests then only pay for their own garbage).
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        create_app(settings, state=state),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
        server_header=False,
        # Longer than a client pool's idle time: a connection the client reuses is still open.
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise OSError(f"could not serve on {settings.host}:{settings.port} (see the log above)")
