"""Prometheus metrics, aggregated across gunicorn workers when
``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn's config sets it), and the
depth of the service's dead-letter queues."""
from __future__ import annotations

import os
import threading
import time

from flask import Flask, Response, current_app, g, request
from flask_smorest import Blueprint
from pika.exceptions import AMQPError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from common.messaging import BrokerUnavailable
from common.messaging.dead_letters import DeadLetters

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


class DeadLetterGauge:
    """The ``dead_letter_messages`` gauge of a service's ``/metrics``: each
    dead-letter queue's depth, read from the broker at most once per ``ttl``
    seconds per process (a scrape never waits for more than one short
    connection), and ``dead_letter_check_ok`` (0 when the broker could not be
    asked: the depths are then unknown, not zero)."""

    def __init__(self, dead_letters: DeadLetters, service: str, ttl: float = 30.0):
        self.dead_letters = dead_letters
        self.service = service
        self.ttl = ttl
        self._lock = threading.Lock()
        self._until = 0.0
        self._depths: dict[str, int | None] | None = None

    def read(self) -> dict[str, int | None] | None:
        with self._lock:
            if time.monotonic() >= self._until:
                try:
                    self._depths = self.dead_letters.depths()
                except (BrokerUnavailable, AMQPError, OSError):
                    self._depths = None
                self._until = time.monotonic() + self.ttl
            return self._depths

    def describe(self) -> list:
        return []  # registered without a first broker round trip

    def collect(self):
        depths = self.read()
        messages = GaugeMetricFamily("dead_letter_messages", "Messages in each dead-letter queue of the service",
                                     labels=["service", "queue"])
        for dlq, depth in (depths or {}).items():
            if depth is not None:
                messages.add_metric([self.service, dlq], depth)
        ok = GaugeMetricFamily("dead_letter_check_ok", "1 if the dead-letter queues could be read from the broker",
                               labels=["service"])
        ok.add_metric([self.service], 0 if depths is None else 1)
        return [messages, ok]


def _dead_letter_registry() -> CollectorRegistry | None:
    """This process's registry of the ``dead_letter_messages`` gauge of the
    service answering (read from the broker, not shared through the
    multiprocess files: every gunicorn worker can ask the broker itself);
    None for a service that consumes nothing."""
    registry = current_app.extensions.get("dead_letter_metrics", False)
    if registry is False:
        from .app import components  # the app module imports this one

        registry = None
        settings = components().settings
        dead_letters = DeadLetters.of_service(settings.amqp_url, settings.exchange, settings.service_name,
                                              timeout=2.0)
        if dead_letters.queues:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(DeadLetterGauge(dead_letters, settings.service_name))
        current_app.extensions["dead_letter_metrics"] = registry
    return registry


def metrics_blueprint() -> Blueprint:
    blp = Blueprint("metricas", __name__, description="Prometheus metrics")

    @blp.get("/metrics")
    @blp.doc(responses={"200": {"description": "Prometheus text exposition format",
                                "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics():
        """Request counts and latencies, aggregated over every worker of this service, and the depth of
        each of its dead-letter queues"""
        body = generate_latest(_registry())
        dead_letters = _dead_letter_registry()
        if dead_letters is not None:
            body += generate_latest(dead_letters)
        return Response(body, content_type=CONTENT_TYPE_LATEST)

    return blp
