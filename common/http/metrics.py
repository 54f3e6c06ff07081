"""Prometheus metrics, aggregated across gunicorn workers when
``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn's config sets it), the
depth of the service's dead-letter queues and the mails of its outbox."""
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
from common.storage import MAIL_FAILED, MAIL_PENDING, StorageError, Store

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
    seconds per process, and ``dead_letter_check_ok`` (1 only while the
    depths shown are a current reading: 0 when the broker could not be asked,
    the depths then being unknown, not zero, and 0 when they are older than a
    reading should be).

    The broker is asked outside the lock (the reading is bounded by the
    ``DeadLetters`` timeout), so a scrape never waits for another: one that
    finds a reading under way answers with the last one."""

    def __init__(self, dead_letters: DeadLetters, service: str, ttl: float = 30.0):
        self.dead_letters = dead_letters
        self.service = service
        self.ttl = ttl
        self._lock = threading.Lock()  # guards the fields below; never held while the broker is asked
        self._reading = False
        self._due = 0.0  # when the next reading is due
        self._depths: dict[str, int | None] | None = None  # the last reading; None: failed, or none yet
        self._read_at = 0.0

    @property
    def max_age(self) -> float:
        """How old a reading may be and still count as current: until the next
        is due, plus the time that one may take."""
        return self.ttl + self.dead_letters.timeout

    def read(self) -> tuple[dict[str, int | None] | None, bool]:
        """The last depths read (refreshed first if due and no other scrape is
        refreshing them) and whether they are current."""
        with self._lock:
            now = time.monotonic()
            if self._reading or now < self._due:
                return self._depths, self._depths is not None and now - self._read_at <= self.max_age
            self._reading = True
        depths = None
        try:
            depths = self.dead_letters.depths()
        except (BrokerUnavailable, AMQPError, OSError):
            pass
        finally:
            with self._lock:
                self._reading = False
                self._depths, self._read_at = depths, time.monotonic()
                self._due = self._read_at + self.ttl
        return depths, depths is not None

    def describe(self) -> list:
        return []  # registered without a first broker round trip

    def collect(self):
        depths, current = self.read()
        messages = GaugeMetricFamily("dead_letter_messages", "Messages in each dead-letter queue of the service",
                                     labels=["service", "queue"])
        for dlq, depth in (depths or {}).items():
            if depth is not None:
                messages.add_metric([self.service, dlq], depth)
        ok = GaugeMetricFamily("dead_letter_check_ok",
                               "1 if the depths shown are a current reading from the broker", labels=["service"])
        ok.add_metric([self.service], 1 if current else 0)
        return [messages, ok]


# How long a process serves one reading of its mail outbox: a scrape may show
# counts this old (each gunicorn worker holds its own reading).
MAIL_COUNTS_TTL = 5.0


class MailOutboxGauge:
    """``mails_pending`` and ``mails_failed`` (final: kept in the outbox for
    operators) of a service, from ``Store.mail_counts`` read at most once per
    ``ttl`` seconds per process, and ``mail_outbox_check_ok`` (0 when the
    store could not be read: the counts are then left out, unknown rather
    than zero). One scrape reads at a time; the others answer with the last
    reading (bounded by the store's own timeouts), so a scrape never fails."""

    def __init__(self, store: Store, service: str, ttl: float = MAIL_COUNTS_TTL):
        self.store = store
        self.service = service
        self.ttl = ttl
        self._lock = threading.Lock()  # guards the fields below; never held while the store is read
        self._reading = False
        self._due = 0.0
        self._counts: dict[str, int] | None = None

    def read(self) -> dict[str, int] | None:
        with self._lock:
            if self._reading or time.monotonic() < self._due:
                return self._counts
            self._reading = True
        counts = None
        try:
            counts = self.store.mail_counts()
        except StorageError:
            pass
        finally:
            with self._lock:
                self._reading = False
                self._counts, self._due = counts, time.monotonic() + self.ttl
        return counts

    def describe(self) -> list:
        return []  # registered without a first read of the store

    def collect(self):
        counts = self.read()
        families = []
        for name, state, text in (("mails_pending", MAIL_PENDING, "Mails in the outbox waiting to be sent"),
                                  ("mails_failed", MAIL_FAILED, "Mails that will not be sent (kept for operators)")):
            family = GaugeMetricFamily(name, text, labels=["service"])
            if counts is not None:
                family.add_metric([self.service], counts.get(state, 0))
            families.append(family)
        ok = GaugeMetricFamily("mail_outbox_check_ok", "1 if the mail counts shown were read from the store",
                               labels=["service"])
        ok.add_metric([self.service], 0 if counts is None else 1)
        return [*families, ok]


def _mail_registry() -> CollectorRegistry:
    """This process's registry of the mail outbox gauges (read from the
    store, which every gunicorn worker holds, not through the multiprocess files)."""
    registry = current_app.extensions.get("mail_metrics")
    if registry is None:
        from .app import components  # the app module imports this one

        state = components()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(MailOutboxGauge(state.store, state.settings.service_name))
        current_app.extensions["mail_metrics"] = registry
    return registry


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
    @blp.doc(operationId="leerMetricas",
             responses={"200": {"description": "Prometheus text exposition format",
                                "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics():
        """Request counts and latencies, aggregated over every worker of this service, the depth of
        each of its dead-letter queues and the mails of its outbox"""
        body = generate_latest(_registry()) + generate_latest(_mail_registry())
        dead_letters = _dead_letter_registry()
        if dead_letters is not None:
            body += generate_latest(dead_letters)
        return Response(body, content_type=CONTENT_TYPE_LATEST)

    return blp
