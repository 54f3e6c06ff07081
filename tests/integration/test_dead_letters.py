"""The dead-letter command against the real RabbitMQ on 127.0.0.1: messages
dead-lettered by a real consumer (a permanent error) and by the quorum
queue's delivery limit are listed with their reason, left in place by
looking, and replayed to their own queue, where the consumer applies them
once. Also the worker's warning, the gauge of /metrics and the command line.

Each test uses an exchange of its own, and so queues of their own, deleted
afterwards. The store is a real SQLite file.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pika
import pytest

from common.messaging import BrokerUnavailable, Consumer, PermanentError, ProcessedEvents, Topology, make_event
from common.http.metrics import DeadLetterGauge
from common.messaging.dead_letters import DeadLetters, DeadLetterWatch
from common.storage.sqlite import SQLiteStore
from tests.faults.proxy import TcpProxy
from tests.helpers import in_thread, wait_until

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
ROOT = Path(__file__).resolve().parents[2]
SERVICE, CONSUMER = "svc", "main"


@pytest.fixture
def topology():
    topo = Topology(f"test.{uuid.uuid4().hex[:10]}")
    yield topo
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    queues = [topo.queue_name(SERVICE, CONSUMER), topo.queue_name("clientes", "empleados")]
    for queue in [*queues, *map(topo.dead_letter_queue, queues), topo.unrouted_queue]:
        channel.queue_delete(queue)
    for exchange in (topo.exchange, topo.dead_letter_exchange, topo.unrouted_exchange):
        channel.exchange_delete(exchange)
    connection.close()


@pytest.fixture
def store(tmp_path):
    instance = SQLiteStore(tmp_path / "events.sqlite3")
    yield instance
    instance.close()


class Handler:
    """Refuses events (permanently, or by failing) until told to accept them."""

    def __init__(self, failure: Exception):
        self.failure = failure
        self.accepting = threading.Event()
        self.applied: list[str] = []
        self.attempts = 0

    def __call__(self, event) -> None:
        self.attempts += 1
        if not self.accepting.is_set():
            raise self.failure
        self.applied.append(event.id)


@pytest.fixture
def consumer(topology, store):
    started: list[tuple[Consumer, threading.Thread]] = []

    def start(handler: Handler, **kwargs) -> Consumer:
        part = Consumer(amqp_url=AMQP_URL, topology=topology, service=SERVICE, name=CONSUMER,
                        handlers={"thing.created": handler}, processed=ProcessedEvents(store), max_backoff=0.2,
                        **kwargs)
        thread = threading.Thread(target=part.run, daemon=True)
        thread.start()
        started.append((part, thread))
        wait_until(part.ready.is_set, message="consumer ready")
        return part

    yield start
    for part, thread in started:
        part.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the consumer did not stop"


def publish(topology, *events) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.confirm_delivery()
    for event in events:
        channel.basic_publish(topology.exchange, event.tipo, event.to_json().encode(),
                              pika.BasicProperties(message_id=event.id, content_type="application/json",
                                                   type=event.tipo, delivery_mode=2), mandatory=True)
    connection.close()


def dead_letters_of(topology) -> DeadLetters:
    return DeadLetters.of_service(AMQP_URL, topology.exchange, SERVICE, [CONSUMER])


def dead_lettered(topology, n: int) -> DeadLetters:
    dead_letters = dead_letters_of(topology)
    wait_until(lambda: sum(d or 0 for d in dead_letters.depths().values()) == n, timeout=30, interval=0.2,
               message=f"{n} dead letters")
    return dead_letters


def test_a_refused_event_is_listed_with_its_reason_and_looking_leaves_it_there(topology, consumer):
    consumer(Handler(PermanentError("datos inválidos")))
    event = make_event("thing.created", {"n": 1}, "origin")
    publish(topology, event)
    dead_letters = dead_lettered(topology, 1)
    dlq = dead_letters.dead_letter_queues[0]
    for _ in range(2):
        [dead] = dead_letters.browse()
        assert dead.summary() | {"dead_lettered_at": None} == {
            "id": event.id, "tipo": "thing.created", "routing_key": "thing.created", "reason": "datos inválidos",
            "dead_lettered_at": None, "replays": 0, "queue": topology.queue_name(SERVICE, CONSUMER)}
        assert dead.dead_lettered_at is not None
        assert dead_letters.depths() == {dlq: 1}
    assert dead_letters.find(event.id).message_id == event.id
    assert dead_letters.find("not-there") is None


def test_replayed_events_are_applied_once_and_leave_the_dead_letter_queue(topology, consumer):
    handler = Handler(PermanentError("not yet"))
    consumer(handler)
    events = [make_event("thing.created", {"n": i}, "origin") for i in range(3)]
    publish(topology, *events)
    dead_letters = dead_lettered(topology, 3)
    handler.accepting.set()

    first = dead_letters.replay([events[1].id])
    assert first.ids == [events[1].id] and not first.kept
    wait_until(lambda: handler.applied == [events[1].id], message="the replayed event applied")
    assert sorted(d.message_id for d in dead_letters.browse()) == sorted([events[0].id, events[2].id])

    rest = dead_letters.replay()
    assert sorted(rest.ids) == sorted([events[0].id, events[2].id])
    wait_until(lambda: sorted(handler.applied) == sorted(e.id for e in events), message="all applied")
    assert dead_letters.depths() == {dead_letters.dead_letter_queues[0]: 0}


def test_an_event_the_delivery_limit_dead_lettered_is_replayed_without_its_spent_deliveries(topology, consumer):
    handler = Handler(RuntimeError("boom"))
    consumer(handler, max_deliveries=1)
    event = make_event("thing.created", {"n": 1}, "origin")
    publish(topology, event)
    dead_letters = dead_lettered(topology, 1)
    [dead] = dead_letters.browse()
    assert (dead.reason, dead.message_id) == ("delivery_limit", event.id)
    assert dead.dead_lettered_at is not None
    handler.accepting.set()
    assert dead_letters.replay().ids == [event.id]
    wait_until(lambda: handler.applied == [event.id], message="applied after the replay")


def test_a_replay_that_fails_again_comes_back_counted(topology, consumer):
    consumer(Handler(PermanentError("still invalid")))
    event = make_event("thing.created", {"n": 1}, "origin")
    publish(topology, event)
    dead_letters = dead_lettered(topology, 1)
    assert dead_letters.replay().ids == [event.id]
    wait_until(lambda: [d.replays for d in dead_letters.browse()] == [1], timeout=20, interval=0.2,
               message="dead-lettered again, with its replay counted")
    [again] = dead_letters.browse()
    assert again.reason == "still invalid"


def test_a_dead_letter_whose_queue_is_gone_is_kept(topology):
    queue = topology.queue_name(SERVICE, CONSUMER)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    topology.declare_queue(channel, queue, ["thing.#"], 5)
    channel.confirm_delivery()
    channel.basic_publish(topology.dead_letter_exchange, queue, b"{}",
                          pika.BasicProperties(message_id="m-1", headers={"x-error": "refused"}), mandatory=True)
    channel.queue_delete(queue)
    connection.close()
    dead_letters = dead_letters_of(topology)
    result = dead_letters.replay()
    assert (result.ids, [d.message_id for d in result.kept]) == ([], ["m-1"])
    assert [d.message_id for d in dead_letters.browse()] == ["m-1"]


def test_the_worker_warns_of_a_dead_letter_queue_that_is_not_empty(topology, consumer, caplog):
    consumer(Handler(PermanentError("refused")))
    watch = DeadLetterWatch(dead_letters_of(topology), SERVICE)
    caplog.set_level(logging.WARNING, logger="common.messaging.dead_letters")
    dlq = dead_letters_of(topology).dead_letter_queues[0]
    def warnings():
        return [r for r in caplog.records if r.name == "common.messaging.dead_letters"]

    assert watch() == {dlq: 0}
    assert not warnings()
    publish(topology, make_event("thing.created", {"n": 1}, "origin"))
    dead_lettered(topology, 1)
    assert watch() == {dlq: 1}
    [record] = warnings()
    assert record.levelname == "WARNING"
    assert dlq in record.getMessage() and "1 message" in record.getMessage()
    assert "python -m common.messaging.dead_letters list --service svc" in record.getMessage()


def test_a_queue_no_worker_declared_yet_has_no_depth_and_no_warning(topology, caplog):
    caplog.set_level(logging.WARNING, logger="common.messaging.dead_letters")
    dead_letters = dead_letters_of(topology)
    assert DeadLetterWatch(dead_letters, SERVICE)() == {dead_letters.dead_letter_queues[0]: None}
    assert not [r for r in caplog.records if r.name == "common.messaging.dead_letters"]
    assert dead_letters.browse() == [] and dead_letters.replay().ids == []


def test_the_gauge_gives_each_queues_depth_and_whether_the_broker_answered(topology, consumer):
    consumer(Handler(PermanentError("refused")))
    publish(topology, make_event("thing.created", {"n": 1}, "origin"))
    dead_letters = dead_lettered(topology, 1)
    [messages, ok] = DeadLetterGauge(dead_letters, SERVICE, ttl=0).collect()
    assert [(s.labels, s.value) for s in messages.samples] == [
        ({"service": SERVICE, "queue": dead_letters.dead_letter_queues[0]}, 1)]
    assert [s.value for s in ok.samples] == [1]
    closed = DeadLetters("amqp://guest:guest@127.0.0.1:1/", dead_letters.queues, timeout=1)
    [messages, ok] = DeadLetterGauge(closed, SERVICE).collect()
    assert (messages.samples, [s.value for s in ok.samples]) == ([], [0])


class SilentOnceOpen(DeadLetters):
    """Dead letters read through ``proxy``, which blackholes the connection
    as soon as it is open: the calls on it then never get an answer (no byte
    either way, nothing closed), as when a network path starts dropping
    packets between two calls."""

    def __init__(self, proxy: TcpProxy, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.proxy = proxy

    @contextmanager
    def _connection(self):
        with super()._connection() as connection, self.proxy.blackhole():
            yield connection


def test_a_depth_check_whose_broker_goes_silent_fails_within_its_timeout_and_its_connection_gives_up(topology):
    proxy = TcpProxy(("127.0.0.1", 5672)).start()
    name = f"silent.{uuid.uuid4().hex[:8]}"
    try:
        dead_letters = SilentOnceOpen(proxy, proxy.url(AMQP_URL), [topology.queue_name(SERVICE, CONSUMER)],
                                      name=name, timeout=1)
        started = time.monotonic()
        outcome = in_thread(dead_letters.depths)
        wait_until(outcome.done, timeout=5, message="the check to give up on the silent broker")
        with pytest.raises(BrokerUnavailable, match="did not answer within 1s"):
            outcome.result()
        assert time.monotonic() - started < 5
        assert proxy.blackholed  # the passive declare was still waiting for its answer

        # The connection left waiting fails on its own: pika's heartbeat check
        # gives up a silent connection after 2 x (heartbeat + 5) s, 12 s here.
        wait_until(lambda: not [t for t in threading.enumerate() if t.name == f"{name} check"], timeout=30,
                   interval=0.2, message="the abandoned check to end on its heartbeat")
        assert not proxy.blackholed
    finally:
        proxy.stop()


def test_a_services_metrics_show_its_dead_letter_queues(topology, tmp_path):
    from clientes.app import create_app
    from clientes.config import ClientesSettings

    queue = topology.queue_name("clientes", "empleados")
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    topology.declare_queue(channel, queue, ["empleado.#"], 5)
    channel.confirm_delivery()
    channel.basic_publish(topology.dead_letter_exchange, queue, b"{}",
                          pika.BasicProperties(headers={"x-error": "test"}), mandatory=True)
    connection.close()
    app = create_app(ClientesSettings(data_dir=tmp_path, keys_dir=tmp_path, amqp_url=AMQP_URL,
                                      exchange=topology.exchange))
    try:
        response = app.test_client().get("/metrics")
        assert response.status_code == 200
        text = response.get_data(as_text=True)
    finally:
        app.extensions["incidencias"].store.close()
    lines = [line for line in text.splitlines() if line.startswith("dead_letter_messages{")]
    assert lines == [f'dead_letter_messages{{queue="{queue}.dlq",service="clientes"}} 1.0']
    assert 'dead_letter_check_ok{service="clientes"} 1.0' in text


def run_command(topology, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "common.messaging.dead_letters", *args, "--service", SERVICE, "--consumer", CONSUMER],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "AMQP_URL": AMQP_URL, "EXCHANGE": topology.exchange, "PYTHONPATH": str(ROOT)})


def test_the_command_lists_shows_and_replays(topology, consumer):
    handler = Handler(PermanentError("datos inválidos"))
    consumer(handler)
    events = [make_event("thing.created", {"n": i}, "origin") for i in range(2)]
    publish(topology, *events)
    dead_lettered(topology, 2)
    dlq = dead_letters_of(topology).dead_letter_queues[0]

    listed = run_command(topology, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"{dlq}: 2 message(s)"
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(e.id for e in events)
    assert all("thing.created" in line and "datos inválidos" in line for line in lines[1:])
    as_json = json.loads(run_command(topology, "list", "--json").stdout)
    assert as_json["queues"] == {dlq: 2} and len(as_json["messages"]) == 2

    shown = run_command(topology, "show", events[0].id)
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert (details["id"], details["reason"], details["body"]["datos"]) == (events[0].id, "datos inválidos", {"n": 0})
    assert run_command(topology, "show", "no-such-id").returncode == 1

    handler.accepting.set()
    replayed = run_command(topology, "replay", events[0].id, "no-such-id")
    assert replayed.returncode == 1  # one was not found
    assert f"replayed {events[0].id} (thing.created)" in replayed.stdout
    assert "not found: no-such-id" in replayed.stderr
    everything = run_command(topology, "replay", "--all")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.splitlines()[-1] == "1 replayed, 0 kept, 0 not found"
    wait_until(lambda: sorted(handler.applied) == sorted(e.id for e in events), message="both applied")


def test_the_command_says_when_the_broker_is_unreachable(topology):
    done = subprocess.run(
        [sys.executable, "-m", "common.messaging.dead_letters", "list", "--service", "incidencias_resolucion"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 3
    assert "RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:1/" in done.stderr
