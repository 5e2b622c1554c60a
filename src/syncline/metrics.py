"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "syncline_events_total",
            "Collected events by type and outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "syncline_events_rejected_total",
            "Rejected events by reason code",
            ["reason"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "syncline_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.commit_jobs = Histogram(
            "syncline_group_commit_requests",
            "Requests merged into one transaction",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.commit_seconds = Histogram(
            "syncline_group_commit_seconds",
            "Duration of one group-commit transaction",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
        )

        self.attempts = Counter(
            "syncline_webhook_attempts_total",
            "Webhook delivery attempts by outcome (delivered, retry, dead, disabled)",
            ["outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "syncline_webhook_delivery_seconds",
            "Latency of one webhook request",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

        self.outbox = Gauge(
            "syncline_webhook_outbox",
            "Webhook deliveries not yet done, by status (pending, inflight, dead)",
            ["status"],
            registry=self.registry,
        )

    def on_attempt(self, outcome: str, seconds: float) -> None:
        self.attempts.labels(outcome).inc()
        self.delivery_seconds.observe(seconds)

    def on_commit(self, jobs: int, seconds: float) -> None:
        self.commit_jobs.observe(jobs)
        self.commit_seconds.observe(seconds)
