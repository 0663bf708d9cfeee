"""``/metrics``: the service's health in Prometheus text format, no patient data in it.

Request counts and latencies by route (the URL rule, never its values) and status,
registration decisions by outcome, audit events appended, and each worker's connection
pool, all kept with ``prometheus_client``. Under gunicorn (``mpi serve``) every worker
writes its figures to ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any worker adds them
up (the library's multi-process mode). The review queue and the webhook outbox are read
from the database at scrape time, so they are the same whichever worker answers.

The endpoint needs a bearer token with the ``metrics`` scope (or ``admin``): a monitoring
system gets figures, never patients.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.db import get_conn
from mpi import access, monitoring

REQUESTS = Counter(
    "mpi_http_requests",
    "HTTP requests answered, by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "mpi_http_request_duration_seconds",
    "Time to answer an HTTP request, by route",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
DECISIONS = Counter(
    "mpi_registration_decisions", "Registrations committed, by matching decision", ["decision"]
)
AUDIT_APPENDS = Counter("mpi_audit_events_appended", "Audit events committed")
POOL = Gauge(
    "mpi_db_pool_connections",
    "Connections of the workers' pools, by state",
    ["state"],
    multiprocess_mode="livesum",
)


class _StoreFigures(Collector):
    """Figures read from the database at scrape time (the same from every worker)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (text, value) in monitoring.figures(get_conn()).items():
            yield GaugeMetricFamily(f"mpi_{name}", text, value=value)


def _scrape() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # every gunicorn worker's figures
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
    else:
        workers = REGISTRY
    store = CollectorRegistry(auto_describe=False)
    store.register(_StoreFigures())
    return generate_latest(workers) + generate_latest(store)


def observe(response: Response, decision: str | None, committed: bool) -> None:
    """Count one answered request, after its transaction ended."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    rule = req.url_rule
    route = rule.rule if rule else "(unmatched)"
    REQUESTS.labels(req.method, route, str(response.status_code)).inc()
    started = g.get("started")
    if started is not None:
        LATENCY.labels(req.method, route).observe(time.perf_counter() - started)
    if committed and decision:
        DECISIONS.labels(decision).inc()
    stats = current_app.extensions["mpi_pool"].get_stats()
    available = stats.get("pool_available", 0)
    POOL.labels("in_use").set(stats.get("pool_size", 0) - available)
    POOL.labels("idle").set(available)
    POOL.labels("waiting").set(stats.get("requests_waiting", 0))


def audit_appended() -> None:
    """Count one committed audit event."""
    AUDIT_APPENDS.inc()


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` to tokens with the ``metrics`` (or ``admin``) scope."""
    from api.requests import caller

    @app.get("/metrics")
    def metrics() -> Response:
        access.require(caller(), "metrics")
        return Response(_scrape(), 200, content_type=CONTENT_TYPE_LATEST)
