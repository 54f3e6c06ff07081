"""The messaging plumbing against the real RabbitMQ on 127.0.0.1 (nothing faked).

Each test uses an exchange of its own, and so queues of their own, deleted
afterwards, and cuts no connection but its own: the broker is shared. The
store is a real SQLite file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pika
import pytest

from common.messaging import (
    Consumer, OutboxRelay, PermanentError, ProcessedEvents, Topology, make_event,
)
from common.storage import CollectionSpec, StorageUnavailable
from common.storage.sqlite import SQLiteStore
from tests.faults.broker import close_connections
from tests.faults.procfs import amqp_ports
from tests.helpers import wait_until

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
THINGS = CollectionSpec("things")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def topology():
    topo = Topology(f"test.{uuid.uuid4().hex[:10]}")
    yield topo
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for queue in (topo.queue_name("svc", "main"), topo.dead_letter_queue(topo.queue_name("svc", "main")),
                  topo.unrouted_queue):
        channel.queue_delete(queue)
    for exchange in (topo.exchange, topo.dead_letter_exchange, topo.unrouted_exchange):
        channel.exchange_delete(exchange)
    connection.close()


@pytest.fixture
def store(tmp_path):
    instance = SQLiteStore(tmp_path / "events.sqlite3")
    yield instance
    instance.close()


class Running:
    """Run relays and consumers in threads for the duration of a test."""

    def __init__(self):
        self.parts = []
        self.threads = []

    def start(self, part):
        thread = threading.Thread(target=part.run, daemon=True)
        thread.start()
        self.parts.append(part)
        self.threads.append(thread)
        return part

    def stop(self):
        for part in self.parts:
            part.stop()
        for thread in self.threads:
            thread.join(timeout=10)
            assert not thread.is_alive(), "a relay or consumer did not stop"


@pytest.fixture
def running():
    r = Running()
    yield r
    r.stop()


def relay_for(store, topology):
    return OutboxRelay(store, AMQP_URL, topology, "svc", interval=0.01, max_backoff=0.5)


def consumer_for(topology, handlers, store=None, *, processed=None, **kwargs):
    if processed is None and store is not None:
        processed = ProcessedEvents(store)
    return Consumer(amqp_url=AMQP_URL, topology=topology, service="svc", name="main", handlers=handlers,
                    processed=processed, max_backoff=0.5, **kwargs)


class CountedProcessedEvents(ProcessedEvents):
    """The real record of applied events (in the real store), counting how
    often the consumer asks it: once for every delivery of an event."""

    def __init__(self, store):
        super().__init__(store)
        self.asked: list[str] = []

    def seen(self, event_id: str) -> bool:
        self.asked.append(event_id)
        return super().seen(event_id)


def write_with_events(store, n, tipo="thing.created"):
    things = store.collection(THINGS)
    events = [make_event(tipo, {"n": i}, "svc") for i in range(n)]
    for i, event in enumerate(events):
        things.insert({"id": uuid.uuid4().hex, "n": i}, [event.to_outbox()])
    return events


def take_all(queue):
    """Every message now in ``queue``, taken out of it: only for a queue no
    consumer of the test reads (a dead-letter queue, or one whose consumer stopped)."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    messages = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        messages.append((method, properties, body))
    connection.close()
    return messages


def test_outbox_events_are_published_once_confirmed_and_consumed(store, topology, running):
    received = []
    consumer = running.start(consumer_for(topology, {"thing.created": received.append}, store))
    wait_until(consumer.ready.is_set, message="consumer ready")
    events = write_with_events(store, 20)
    relay = running.start(relay_for(store, topology))
    wait_until(lambda: len(received) == 20, message="20 events consumed")
    assert [e.id for e in received] == [e.id for e in events]  # one relay keeps the order
    assert received[0].datos == {"n": 0} and received[0].origen == "svc"
    wait_until(lambda: store.pending_events() == [], message="outbox drained")
    assert relay.published == 20


def test_a_write_from_another_process_wakes_the_relay_before_its_next_poll(store, topology, running):
    """The relay polls only every 10 minutes here: events written by another
    process (as a gunicorn worker writes them) go out because the commit rang."""
    received = []
    consumer = running.start(consumer_for(topology, {"thing.created": received.append}, store))
    wait_until(consumer.ready.is_set, message="consumer ready")
    write_with_events(store, 1)
    running.start(OutboxRelay(store, AMQP_URL, topology, "svc", interval=600))
    wait_until(lambda: len(received) == 1, message="the first event, published as the relay starts")
    script = ("import sys; from common.messaging import make_event; from common.storage import CollectionSpec; "
              "from common.storage.sqlite import SQLiteStore; store = SQLiteStore(sys.argv[1]); "
              "store.collection(CollectionSpec('things')).insert({'id': 'late'}, "
              "[make_event('thing.created', {'n': 'late'}, 'svc').to_outbox()])")
    subprocess.run([sys.executable, "-c", script, str(store.path)], cwd=ROOT, check=True, timeout=60)
    wait_until(lambda: len(received) == 2, timeout=60, message="the other process's event, long before the poll")
    assert received[1].datos == {"n": "late"}


def test_published_messages_are_persistent_and_described(store, topology, running):
    # Declare the consumer queue without consuming, then read the raw message.
    consumer = running.start(consumer_for(topology, {"thing.created": lambda e: None}))
    wait_until(consumer.ready.is_set)
    consumer.stop()
    running.threads[-1].join(timeout=10)
    [event] = write_with_events(store, 1)
    running.start(relay_for(store, topology))
    queue = topology.queue_name("svc", "main")
    [(method, properties, body)] = wait_until(lambda: take_all(queue), message="message in queue")
    assert properties.delivery_mode == 2
    assert properties.message_id == event.id
    assert properties.content_type == "application/json"
    assert method.routing_key == "thing.created"
    envelope = json.loads(body)
    assert set(envelope) == {"id", "tipo", "ocurrido_en", "origen", "correlation_id", "datos"}
    assert envelope["ocurrido_en"].endswith("Z")


def test_duplicate_deliveries_are_applied_once(store, topology, running):
    received = []
    processed = CountedProcessedEvents(store)
    consumer = running.start(consumer_for(topology, {"thing.created": received.append}, processed=processed))
    wait_until(consumer.ready.is_set)
    [event] = write_with_events(store, 1)
    # The same event published three times (e.g. a relay crashed before removing it).
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for _ in range(3):
        channel.basic_publish(topology.exchange, "thing.created", event.to_json().encode())
    connection.close()
    # The consumer got every copy (and no one else took any), and applied one.
    wait_until(lambda: processed.asked.count(event.id) == 3, message="the three copies delivered to the consumer")
    assert consumer.handled == 1
    assert [e.id for e in received] == [event.id]


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not JSON"),
    (b'["a list"]', "not a JSON object"),
    (b'{"id": "x"}', "lacks"),
    (json.dumps({"id": "1", "tipo": "thing.unknown", "ocurrido_en": "2026-01-01T00:00:00Z",
                 "origen": "t", "datos": {}}).encode(), "no handler"),
])
def test_poison_messages_are_dead_lettered_with_their_reason_and_the_queue_keeps_flowing(
        store, topology, running, body, reason):
    received = []
    consumer = running.start(consumer_for(
        topology, {"thing.created": received.append, "thing.unknown2": received.append},
        bindings=["thing.#"]))
    wait_until(consumer.ready.is_set)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.basic_publish(topology.exchange, "thing.created", body)
    connection.close()
    write_with_events(store, 1)
    running.start(relay_for(store, topology))
    wait_until(lambda: len(received) == 1, message="the good message after the poison one")
    dlq = topology.dead_letter_queue(topology.queue_name("svc", "main"))
    [(_, properties, dead_body)] = wait_until(lambda: take_all(dlq), message="dead letter")
    assert dead_body == body
    assert reason in properties.headers["x-error"]
    assert consumer.dead_lettered == 1


def test_a_handler_that_keeps_failing_is_retried_a_bounded_number_of_times_then_dead_lettered(
        store, topology, running):
    attempts = []

    def failing(event):
        attempts.append(event.id)
        raise RuntimeError("boom")

    consumer = running.start(consumer_for(topology, {"thing.created": failing}, max_deliveries=2))
    wait_until(consumer.ready.is_set)
    [event] = write_with_events(store, 1)
    running.start(relay_for(store, topology))
    dlq = topology.dead_letter_queue(topology.queue_name("svc", "main"))
    [(_, properties, _)] = wait_until(lambda: take_all(dlq), timeout=20, message="dead letter")
    assert properties.message_id == event.id
    assert properties.headers["x-death"][0]["reason"] == "delivery_limit"
    assert 2 <= len(attempts) <= 3  # the first delivery plus at most max_deliveries redeliveries


def test_a_permanent_error_goes_straight_to_the_dead_letter_queue(store, topology, running):
    def refuse(event):
        raise PermanentError("datos inválidos")

    consumer = running.start(consumer_for(topology, {"thing.created": refuse}))
    wait_until(consumer.ready.is_set)
    write_with_events(store, 1)
    running.start(relay_for(store, topology))
    dlq = topology.dead_letter_queue(topology.queue_name("svc", "main"))
    [(_, properties, _)] = wait_until(lambda: take_all(dlq), message="dead letter")
    assert properties.headers["x-error"] == "datos inválidos"


def test_storage_outage_holds_the_message_without_spending_deliveries(store, topology, running):
    calls = []

    def flaky(event):
        calls.append(event.id)
        if len(calls) < 8:
            raise StorageUnavailable("down")

    consumer = running.start(consumer_for(topology, {"thing.created": flaky}, max_deliveries=2))
    wait_until(consumer.ready.is_set)
    write_with_events(store, 1)
    running.start(relay_for(store, topology))
    wait_until(lambda: consumer.handled == 1, timeout=20, message="applied after the outage")
    assert len(calls) == 8
    assert take_all(topology.dead_letter_queue(topology.queue_name("svc", "main"))) == []


def test_events_without_any_queue_are_kept_in_the_unrouted_queue(store, topology, running):
    relay = running.start(relay_for(store, topology))
    [event] = write_with_events(store, 1, tipo="nobody.listens")
    wait_until(lambda: relay.published == 1)
    [(_, properties, _)] = wait_until(lambda: take_all(topology.unrouted_queue))
    assert properties.message_id == event.id


def test_relay_and_consumer_reconnect_after_the_broker_closes_their_connections(store, topology, running):
    received = []
    consumer = running.start(consumer_for(topology, {"thing.created": received.append}, store))
    wait_until(consumer.ready.is_set)
    running.start(relay_for(store, topology))
    write_with_events(store, 5)
    wait_until(lambda: len(received) == 5)
    consumer.ready.clear()
    # This process's connections only (the relay's and the consumer's), as the
    # broker closes them when it restarts; everyone else's stay up.
    assert close_connections(amqp_ports(os.getpid()), "test: connections cut") >= 2
    write_with_events(store, 5)
    wait_until(lambda: len(received) == 10, timeout=30, message="events after reconnecting")
    assert consumer.ready.is_set()
    assert len({e.id for e in received}) == 10
