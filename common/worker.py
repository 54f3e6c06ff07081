"""The background process of a service: its outbox relay, its consumers and
its periodic jobs, each in its own thread with its own connections.

SIGTERM or SIGINT stops taking new work, lets each thread finish the message
in hand (unacked ones return to the queue) and exits.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from common.config import Settings
from common.logs import configure_logging
from common.mail.sender import MailSender
from common.messaging import BrokerUnavailable, Consumer, OutboxRelay, ProcessedEvents, Topology, check_broker
from common.messaging.dead_letters import DeadLetters, DeadLetterWatch
from common.storage import Store

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 15.0


class Runnable(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Periodic:
    """Call ``job`` every ``interval`` seconds; an exception is logged, not fatal."""

    name: str
    interval: float
    job: Callable[[], object]

    def __post_init__(self) -> None:
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.job()
            except Exception:  # noqa: BLE001
                log.exception("periodic job %s failed", self.name)

    def stop(self) -> None:
        self.stopping.set()


def run_worker(service: str, amqp_url: str, parts: list[Runnable], install_signals: bool = True) -> None:
    try:
        check_broker(amqp_url)
    except BrokerUnavailable as exc:
        log.error("%s (the worker keeps retrying)", exc)
    stopped = threading.Event()

    def shutdown(signum, _frame):
        log.info("%s worker: signal %s, finishing in-flight work", service, signum)
        stopped.set()

    if install_signals:
        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
    threads = [threading.Thread(target=p.run, name=type(p).__name__, daemon=True) for p in parts]
    for thread in threads:
        thread.start()
    log.info("%s worker running %d parts", service, len(parts))
    while not stopped.wait(2.0):  # a signal sets it at once; the wait bounds how late a dead part is seen
        for thread in threads:
            if not thread.is_alive():
                log.error("%s worker: %s died, exiting so the supervisor restarts us", service, thread.name)
                stopped.set()
    for part in parts:
        part.stop()
    # One grace period for all of them (not one each): a supervisor's stop
    # timeout must not be outlived because several threads are stuck at once
    # (say, every publisher blocked by a broker alarm). Whatever a stuck thread
    # held stays in the outbox or goes back to its queue.
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        log.warning("%s worker: %s did not finish within %ss; exiting anyway", service, ", ".join(stuck),
                    STOP_GRACE_SECONDS)
    log.info("%s worker stopped", service)


def relay_for(settings: Settings, store: Store) -> OutboxRelay:
    """The outbox relay of a service, as its settings say."""
    return OutboxRelay(store, settings.amqp_url, Topology(settings.exchange), settings.service_name,
                       interval=settings.relay_interval, idle_interval=settings.relay_idle_interval,
                       poll_max=settings.relay_poll_max,
                       heartbeat=settings.amqp_heartbeat,
                       blocked_timeout=settings.amqp_blocked_timeout)


def consumers_for(settings: Settings, store: Store, consumers: dict[str, str], handlers: Any) -> list[Consumer]:
    """One consumer (with its own queue) per entry of ``consumers``, a
    service's ``events.CONSUMERS``: name → the method of ``handlers`` that
    gives its {event tipo: handler}. All of them remember processed event ids
    in ``store``. (``CONSUMERS`` is a module constant of the service's events
    module so that the dead-letter command and ``/metrics`` know its queues
    without building its components or importing its worker.)"""
    topology, processed = Topology(settings.exchange), ProcessedEvents(store)
    return [
        Consumer(amqp_url=settings.amqp_url, topology=topology, service=settings.service_name, name=name,
                 handlers=getattr(handlers, routes)(), processed=processed, max_deliveries=settings.max_deliveries,
                 prefetch=settings.amqp_prefetch, heartbeat=settings.amqp_heartbeat,
                 blocked_timeout=settings.amqp_blocked_timeout)
        for name, routes in consumers.items()
    ]


def mail_sender_for(settings: Settings, store: Store) -> list[Runnable]:
    """The sender of ``store``'s mail outbox, or none (and one warning) when
    SMTP_URL is not set: the mails then wait in the outbox, none is lost."""
    if settings.smtp_url is None:
        log.warning("%s worker: SMTP_URL is not set; mails wait in the outbox until it is",
                    settings.service_name)
        return []
    return [MailSender(store, settings)]


def dead_letter_watch(settings: Settings, parts: list[Runnable]) -> list[Runnable]:
    """A periodic look at the dead-letter queues of the consumers among
    ``parts`` (none if the worker consumes nothing)."""
    queues = [part.queue for part in parts if isinstance(part, Consumer)]
    if not queues:
        return []
    dead_letters = DeadLetters(settings.amqp_url, queues, name=f"{settings.service_name}.dead-letters")
    return [Periodic("dead-letters", settings.dead_letter_check_interval,
                     DeadLetterWatch(dead_letters, settings.service_name))]


def serve_worker(settings: Settings, build_parts: Callable[[Any], list[Runnable]]) -> None:
    """The ``main`` of a service's worker process: its logs, then its parts until stopped."""
    configure_logging(f"{settings.service_name}.worker", settings.log_level)
    parts = build_parts(settings)
    run_worker(settings.service_name, settings.amqp_url, parts + dead_letter_watch(settings, parts))
