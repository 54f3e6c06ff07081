"""How a dead-lettered message is read and replayed, without a broker: its
reason, origin and time from the headers the broker or the consumer added,
and the properties it is replayed with (as first published, without them)."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pika
import pytest

from common.messaging import Topology
from common.messaging.dead_letters import DeadLetter, consumer_names, main

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "incidencias.incidencias_resolucion.incidencias"
DLQ = f"{QUEUE}.dlq"
BODY = json.dumps({"id": "ev-1", "tipo": "incidencia.abierta", "ocurrido_en": "2026-01-01T00:00:00Z",
                   "origen": "incidencias_apertura", "correlation_id": "c-1", "datos": {}}).encode()


def published(**headers) -> pika.BasicProperties:
    """Properties as the relay publishes an event, plus what dead-lettering added."""
    return pika.BasicProperties(content_type="application/json", delivery_mode=2, message_id="ev-1",
                                correlation_id="c-1", type="incidencia.abierta", app_id="incidencias_apertura",
                                headers={"correlation_id": "c-1", **headers})


def by_the_broker(count: int = 6) -> pika.BasicProperties:
    """What RabbitMQ adds when a quorum queue's delivery limit dead-letters a message."""
    return published(**{
        "x-delivery-count": count,
        "x-death": [{"count": 1, "reason": "delivery_limit", "queue": QUEUE, "exchange": "incidencias",
                     "routing-keys": ["incidencia.abierta"], "time": datetime(2026, 3, 1, 12, 30, 5)}],
        "x-first-death-reason": "delivery_limit", "x-first-death-queue": QUEUE,
        "x-first-death-exchange": "incidencias"})


def by_the_consumer() -> pika.BasicProperties:
    """What the consumer adds when it dead-letters a message it can never process."""
    return published(**{"x-delivery-count": 0, "x-error": "no handler for tipo 'incidencia.rara'",
                        "x-original-routing-key": "incidencia.rara", "x-original-queue": QUEUE,
                        "x-dead-lettered-at": "2026-03-01T12:30:05.000000Z"})


def test_the_dead_letter_queue_names_the_queue_it_keeps_dead_letters_of():
    assert Topology.dead_letter_source(Topology.dead_letter_queue(QUEUE)) == QUEUE
    with pytest.raises(ValueError):
        Topology.dead_letter_source(QUEUE)


def test_a_message_the_delivery_limit_dead_lettered_says_so():
    dead = DeadLetter.of(DLQ, by_the_broker(), BODY)
    assert dead.summary() == {"id": "ev-1", "tipo": "incidencia.abierta", "routing_key": "incidencia.abierta",
                              "reason": "delivery_limit", "dead_lettered_at": "2026-03-01T12:30:05Z",
                              "replays": 0, "queue": QUEUE}


def test_a_message_the_consumer_dead_lettered_gives_the_consumers_reason():
    dead = DeadLetter.of(DLQ, by_the_consumer(), BODY)
    assert (dead.reason, dead.routing_key, dead.dead_lettered_at, dead.source) == (
        "no handler for tipo 'incidencia.rara'", "incidencia.rara", "2026-03-01T12:30:05.000000Z", QUEUE)


def test_a_body_that_is_not_an_envelope_is_still_shown():
    dead = DeadLetter.of(DLQ, pika.BasicProperties(headers={"x-error": "not JSON"}), b"{not json")
    assert (dead.message_id, dead.tipo, dead.reason) == (None, None, "not JSON")
    assert dead.details()["body"] == "{not json"


def test_the_details_are_json_ready():
    details = DeadLetter.of(DLQ, by_the_broker(), BODY).details()
    assert json.loads(json.dumps(details))["headers"]["x-death"][0]["time"] == "2026-03-01T12:30:05Z"
    assert details["body"]["tipo"] == "incidencia.abierta"
    assert details["dead_letter_queue"] == DLQ


@pytest.mark.parametrize("properties", [by_the_broker(), by_the_consumer()], ids=["broker", "consumer"])
def test_a_replay_is_the_message_as_first_published_counted_as_a_replay(properties):
    replayed = DeadLetter.of(DLQ, properties, BODY).replay_properties()
    assert replayed.headers == {"correlation_id": "c-1", "x-replays": 1}
    first = published()
    assert ((replayed.message_id, replayed.correlation_id, replayed.type, replayed.app_id, replayed.content_type,
             replayed.delivery_mode)
            == (first.message_id, first.correlation_id, first.type, first.app_id, first.content_type, 2))


def test_a_replayed_message_dead_lettered_again_counts_its_replays():
    again = published(**{"x-replays": 2, "x-error": "still bad"})
    dead = DeadLetter.of(DLQ, again, BODY)
    assert dead.replays == 2
    assert dead.replay_properties().headers["x-replays"] == 3


def test_each_service_names_its_consumers_once_in_its_events_module():
    assert consumer_names("incidencias_resolucion") == ("incidencias", "empleados", "clientes")
    assert consumer_names("incidencias_apertura") == ("incidencias", "clientes", "empleados")
    assert consumer_names("clientes") == ("empleados",)
    assert consumer_names("empleados") == ()  # its worker only relays
    assert consumer_names("portal") == ()  # no worker at all


@pytest.mark.parametrize("service, handlers", [("incidencias_resolucion", "ResolucionHandlers"),
                                                ("incidencias_apertura", "AperturaHandlers"),
                                                ("clientes", "ClientesHandlers")])
def test_each_consumer_names_a_method_of_its_services_handlers(service, handlers):
    events = importlib.import_module(f"{service}.events")
    cls = getattr(importlib.import_module(f"{service}.handlers"), handlers)
    assert [name for name, method in events.CONSUMERS.items() if not callable(getattr(cls, method, None))] == []


def test_the_web_process_learns_the_consumers_without_importing_a_worker():
    code = ("import sys; from common.messaging.dead_letters import consumer_names; "
            "consumer_names('incidencias_resolucion'); import common.http.metrics; "
            "print(sorted(m for m in sys.modules if m == 'common.worker' or m.endswith('.worker')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_a_service_that_consumes_nothing_is_told_so(capsys):
    assert main(["list", "--service", "empleados"]) == 2
    assert "consumes no queue" in capsys.readouterr().err


def test_a_replay_names_what_it_replays(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--service", "incidencias_resolucion"])
    assert "--all" in capsys.readouterr().err
