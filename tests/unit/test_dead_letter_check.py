"""The dead-letter check never hangs, and /metrics never waits for it: a
broker that accepts the TCP connection and then says nothing fails the check
within its timeout, and a scrape that finds another stuck on the broker
answers at once with the last depths read, marked stale once they are.

The silent broker is a real listening socket on 127.0.0.1 that never
answers. The gauge tests fake the ``DeadLetters`` it reads (a stand-in whose
``depths()`` blocks until the test lets it go), since what they check is the
gauge's own locking, not the broker.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from common.http.metrics import DeadLetterGauge
from common.messaging import BrokerUnavailable
from common.messaging.dead_letters import DeadLetters, DeadLetterWatch, delivery_limit_warning
from tests.helpers import in_thread, wait_until

DLQ = "x.svc.main.dlq"


@pytest.fixture
def silent_broker():
    """A TCP listener whose kernel completes every handshake and which never
    reads nor writes a byte (nothing calls accept)."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        host, port = listener.getsockname()[:2]
        yield f"amqp://guest:guest@{host}:{port}/"


def test_the_depth_check_against_a_silent_broker_fails_within_its_timeout(silent_broker):
    dead_letters = DeadLetters(silent_broker, ["x.svc.main"], timeout=1)
    started = time.monotonic()
    outcome = in_thread(dead_letters.depths)
    wait_until(outcome.done, timeout=5, message="the check to give up on a silent broker")
    with pytest.raises(BrokerUnavailable):
        outcome.result()
    assert time.monotonic() - started < 5


def test_the_workers_watch_skips_a_look_at_a_silent_broker(silent_broker):
    watch = DeadLetterWatch(DeadLetters(silent_broker, ["x.svc.main"], timeout=1), "svc")
    outcome = in_thread(watch)
    assert wait_until(outcome.done, timeout=5, message="the watch to skip the look") and outcome.result() == {}


class StuckBroker:
    """Stands in for ``DeadLetters``: the first reading answers at once, later
    ones wait until ``release`` is set (a broker that stopped answering)."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.readings = 0
        self.release = threading.Event()

    def depths(self) -> dict[str, int | None]:
        self.readings += 1
        if self.readings > 1:
            self.release.wait(30)
        return {DLQ: self.readings}


def scraped(gauge: DeadLetterGauge) -> tuple[list, list]:
    messages, ok = gauge.collect()
    return [(s.labels["queue"], s.value) for s in messages.samples], [s.value for s in ok.samples]


def test_a_scrape_while_another_waits_on_the_broker_answers_at_once_with_the_last_depths():
    broker = StuckBroker(timeout=30)
    gauge = DeadLetterGauge(broker, "svc", ttl=0)
    assert scraped(gauge) == ([(DLQ, 1)], [1])
    stuck = in_thread(lambda: scraped(gauge))
    wait_until(lambda: broker.readings == 2, message="a scrape waiting on the broker")

    other = in_thread(lambda: scraped(gauge))
    wait_until(other.done, timeout=2, message="a second scrape to answer without waiting")
    assert other.result() == ([(DLQ, 1)], [1])  # the last reading, still current
    assert not stuck.done() and broker.readings == 2  # one reading at a time

    broker.release.set()
    wait_until(stuck.done, timeout=5, message="the stuck scrape to finish")
    assert stuck.result() == ([(DLQ, 2)], [1])


def test_depths_older_than_a_reading_may_take_are_shown_as_stale():
    broker = StuckBroker(timeout=0.2)
    gauge = DeadLetterGauge(broker, "svc", ttl=0)
    assert scraped(gauge) == ([(DLQ, 1)], [1])
    stuck = in_thread(lambda: scraped(gauge))
    wait_until(lambda: broker.readings == 2, message="a scrape waiting on the broker")

    def stale():
        answer = scraped(gauge)
        return answer if answer[1] == [0] else None

    assert wait_until(stale, timeout=5, message="the last depths to be marked stale") == ([(DLQ, 1)], [0])
    broker.release.set()
    wait_until(stuck.done, timeout=5, message="the stuck scrape to finish")


def test_a_command_talking_to_rabbitmq_4_warns_of_the_default_delivery_limit():
    dead_letters = DeadLetters("amqp://guest:guest@127.0.0.1:1/", ["x.svc.main"])
    assert delivery_limit_warning(dead_letters) is None  # never connected: nothing known
    dead_letters.server_version = 3
    assert delivery_limit_warning(dead_letters) is None
    dead_letters.server_version = 4
    warning = delivery_limit_warning(dead_letters)
    assert warning.startswith("warning: RabbitMQ 4.x limits every quorum queue to 20 deliveries")
    assert "delivery-limit -1" in warning and DLQ in warning and "docs/reliability.md" in warning
