"""Prometheus metrics, aggregated across gunicorn workers when
``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn's config sets it)."""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from flask_smorest import Blueprint
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["service", "method", "endpoint", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["service", "method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def init_metrics(app: Flask, service: str) -> None:
    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.get("request_started")
        endpoint = request.url_rule.rule if request.url_rule else "(sin ruta)"
        if started is not None:
            LATENCY.labels(service, request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
        return response


def metrics_blueprint() -> Blueprint:
    blp = Blueprint("metricas", __name__, description="Prometheus metrics")

    @blp.get("/metrics")
    @blp.doc(responses={"200": {"description": "Prometheus text exposition format",
                                "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics():
        """Request counts and latencies, aggregated over every worker of this service"""
        return Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)

    return blp
