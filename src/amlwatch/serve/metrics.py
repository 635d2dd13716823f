"""Prometheus metrics of one app: requests, latency, scored transactions, alerts, commit groups,
WAL checkpoints, reloads, input warnings, and the garbage collector's pauses (a full collection stops the event
loop)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import generate_latest

__all__ = ["Metrics"]

# Latency buckets around the service's target (p99 20 ms per scored transaction).
_BUCKETS = (0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Each app gets its own registry, so tests can start several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "amlwatch_requests_total",
            "HTTP requests by route template, method and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "amlwatch_request_seconds",
            "HTTP request latency by route template and method.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.model = Info("amlwatch_model", "The served detector.", registry=self.registry)
        self.state = Info(
            "amlwatch_state",
            "The state file's durability (process: survives a kill of the server; power: a power"
            " cut too) and the SQLite synchronous setting it runs with.",
            registry=self.registry,
        )
        self.scored = Counter(
            "amlwatch_transactions_scored_total", "Transactions scored and stored.",
            registry=self.registry,
        )  # fmt: skip
        self.alerts = Counter(
            "amlwatch_alerts_total", "Scored transactions that alerted.", registry=self.registry
        )
        self.group = Histogram(
            "amlwatch_commit_group_size", "Transactions stored by one SQLite commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry,
        )  # fmt: skip
        self.commit = Histogram(
            "amlwatch_commit_seconds", "Seconds per SQLite commit (including its sync).",
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.commit_sync = Histogram(
            "amlwatch_commit_sync_seconds",
            "Seconds of the COMMIT statement alone (the WAL write, and its fsync with durability"
            " power); the rest of amlwatch_commit_seconds is binding rows and waiting for the GIL.",
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.checkpoint = Histogram(
            "amlwatch_checkpoint_seconds",
            "Seconds per WAL checkpoint (on its own thread, not in a commit).",
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.checkpoint_forced = Counter(
            "amlwatch_checkpoints_forced_total",
            "Checkpoints that made the writer wait (the WAL passed its limit: commits back to back).",
            registry=self.registry,
        )
        self.wal_frames = Gauge(
            "amlwatch_wal_frames", "Frames in the WAL at the last checkpoint.",
            registry=self.registry,
        )  # fmt: skip
        self.wal_left = Gauge(
            "amlwatch_wal_frames_not_checkpointed",
            "Frames the last checkpoint left for the next (the writer appended during it).",
            registry=self.registry,
        )  # fmt: skip
        self.fast_path = Counter(
            "amlwatch_fast_path_requests_total",
            "Scoring requests answered by the fast path (plainly valid; the rest go to FastAPI).",
            registry=self.registry,
        )
        self.input_warnings = Counter(
            "amlwatch_input_warnings_total",
            "Scored transactions' warnings by kind: payment_format (not one of AMLworld's"
            " seven) or currency (not in the run's data, or in other case).",
            ("kind",),
            registry=self.registry,
        )
        self.reloads = Counter(
            "amlwatch_reloads_total",
            "Model reloads by outcome: ok, error (a damaged folder, a model that cannot be"
            " served) or state_conflict (the new run was made from other data).",
            ("outcome",),
            registry=self.registry,
        )
        self.gc = Histogram(
            "amlwatch_gc_pause_seconds", "Seconds per garbage collection, by generation.",
            ("generation",), buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._gc_started = 0.0

    def set_model(self, *, detector: str, kind: str, threshold: float, invocation: str) -> None:
        """The served detector (at start and after each reload)."""
        self.model.info(
            {"detector": detector, "kind": kind, "threshold": repr(threshold),
             "invocation_id": invocation}
        )  # fmt: skip

    def gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        """For `gc.callbacks`: time each collection."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc.labels(str(info["generation"])).observe(time.perf_counter() - self._gc_started)

    def checkpointed(self, seconds: float, frames: int, copied: int, forced: bool) -> None:
        """For `Checkpointer`'s `on_checkpoint`."""
        self.checkpoint.observe(seconds)
        if forced:
            self.checkpoint_forced.inc()
        self.wal_frames.set(frames)
        self.wal_left.set(max(frames - copied, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
