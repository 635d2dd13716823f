"""Prometheus metrics of one app: request counts, latency histograms, model version."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import generate_latest

__all__ = ["Metrics"]

# Latency buckets around the service's targets (p99 50 ms): fine below 100 ms.
_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Each app gets its own registry, so tests can start several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "basketcast_requests_total",
            "HTTP requests by route template, method and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "basketcast_request_seconds",
            "HTTP request latency by route template and method.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.model = Info(
            "basketcast_model", "The loaded model's version and run id.", registry=self.registry
        )
        self.posted = Counter(
            "basketcast_orders_posted_total", "Orders stored by POST.", registry=self.registry
        )
        self.rebuilt = Counter(
            "basketcast_user_rebuilds_total",
            "Users whose rows were rebuilt after a post.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "basketcast_reloads_total", "Model reloads by outcome.", ("outcome",),
            registry=self.registry,
        )  # fmt: skip
        self.batch = Histogram(
            "basketcast_score_batch_size", "Requests scored together in one batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry,
        )  # fmt: skip
        self.stale = Gauge(
            "basketcast_stale_users", "Users with posts not yet in their rows.",
            registry=self.registry,
        )  # fmt: skip

    def set_model(self, version: str, run_id: str) -> None:
        self.model.info({"version": version, "run_id": run_id})

    def render(self) -> bytes:
        return generate_latest(self.registry)
