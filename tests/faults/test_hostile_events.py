"""Events that should not be there: duplicates, replays and stale events in
reverse order, and poison messages, published straight to the system's
exchange with pika. Nothing changes beyond the first application, the
replicas still converge, and poison is dead-lettered with its reason after
bounded retries while the queue keeps flowing."""
from __future__ import annotations

import json
import uuid

import pytest

from common.messaging import Topology
from harness import new_categoria, wait_until

from .broker import drain, publish
from .checker import Expected

pytestmark = [pytest.mark.slow, pytest.mark.faults]

MAX_DELIVERIES = 3
SYSTEM_ENV = {"MAX_DELIVERIES": str(MAX_DELIVERIES)}


def agent_of(world, incidencia: dict) -> dict:
    return next(a for a in world.agentes if a.id == incidencia["asignada_a"]["id"])


def customer_incident(world, cliente, incidencia_id):
    response = world.api.call("GET", "apertura", f"/incidencias/{incidencia_id}", token=cliente.token)
    assert response.status_code == 200, response.text
    return response.json()


def staff_incident(world, incidencia_id):
    response = world.api.call("GET", "resolucion", f"/incidencias/{incidencia_id}", token=world.staff_token)
    assert response.status_code == 200, response.text
    return response.json()


def both_at(world, cliente, incidencia_id, estado, version) -> bool:
    return all((v["estado"], v["version"]) == (estado, version)
               for v in (customer_incident(world, cliente, incidencia_id), staff_incident(world, incidencia_id)))


def notifications(world, cliente) -> list[dict]:
    response = world.api.call("GET", "apertura", "/notificaciones", token=cliente.token,
                              params={"por_pagina": 100})
    assert response.status_code == 200, response.text
    return response.json()["elementos"]


def barrier(world, checker, cliente) -> str:
    """A fresh incident making the round trip: every message queued before
    it, in both incident queues, has been consumed by then."""
    response = checker.open(cliente)
    assert response.status_code == 201, response.text
    incidencia_id = response.json()["id"]
    wait_until(lambda: both_at(world, cliente, incidencia_id, "asignada", 2), timeout=60, interval=0.1,
               message="the barrier incident made the round trip")
    return incidencia_id


def test_duplicate_replayed_and_reordered_events_change_nothing(world, tap, figures, alive):
    [cliente] = world.clientes(1)
    checker = world.checker("duplicate_replayed_reordered_events", tap, [cliente], new_categoria("faults"))

    # Incident A goes the whole way (abierta → asignada → en_curso → resuelta → cerrada,
    # with comments from both sides); B stays asignada.
    ids = []
    for _ in range(2):
        response = checker.open(cliente)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    a, b = ids
    wait_until(lambda: both_at(world, cliente, a, "asignada", 2) and both_at(world, cliente, b, "asignada", 2),
               timeout=30, message="both assigned")
    agente = agent_of(world, customer_incident(world, cliente, a))
    steps = [
        (lambda: checker.transition("resolucion", a, "inicio", "en_curso", agente.token), 200),
        (lambda: checker.comment("resolucion", a, agente.token, "Lo miramos"), 201),
        (lambda: checker.comment("apertura", a, cliente.token, "Gracias"), 201),
        (lambda: checker.transition("resolucion", a, "resolucion", "resuelta", agente.token, {"texto": "Reenvío"}),
         200),
    ]
    for step, status in steps:
        response = step()
        assert response.status_code == status, response.text
    wait_until(lambda: both_at(world, cliente, a, "resuelta", 4), timeout=30, message="resuelta on both sides")
    closed = checker.transition("apertura", a, "cierre", "cerrada", cliente.token)
    assert closed.status_code == 200, closed.text
    wait_until(lambda: both_at(world, cliente, a, "cerrada", 5), timeout=30, message="cerrada on both sides")
    checker.expect(a, Expected("cerrada", 5))
    tap.wait_quiet()

    # The close is notified by apertura's consumer: wait for it before taking the count.
    wait_until(lambda: any(n["incidencia_id"] == a and n["tipo"] == "incidencia.cerrada"
                           for n in notifications(world, cliente)), timeout=30, message="the close notified")
    before = {i: (customer_incident(world, cliente, i), staff_incident(world, i)) for i in ids}
    notified = sorted(n["id"] for n in notifications(world, cliente))
    history = [m for m in tap.snapshot().values() if checker._incident_of(m) in ids]
    assert len([m for m in history if m.routing_key != "incidencia.comentada"]) == 5 + 2

    # 1. Every event again, same id, three times (a relay or the broker duplicating).
    for message in history:
        for _ in range(3):
            publish(world.system.exchange, message.routing_key, message.body, message_id=message.message_id,
                    origin=message.origin)
        checker.inject(message.message_id, message.routing_key, "duplicate", copies=3)
    # 2. Every event replayed under a new id, newest first (stale and out of order).
    for message in reversed(history):
        envelope = json.loads(message.body)
        envelope["id"] = uuid.uuid4().hex
        publish(world.system.exchange, message.routing_key, json.dumps(envelope).encode(),
                message_id=envelope["id"], origin=message.origin)
        checker.inject(envelope["id"], message.routing_key, "replay")

    barrier(world, checker, cliente)
    report = checker.converge(timeout=60)
    figures.record("duplicate_replayed_reordered_events",
                   fault=f"{len(history)} events published again 3 times with their id, and replayed "
                         "newest-first under new ids, straight to the exchange",
                   figures=report.figures())
    report.assert_sound()
    after = {i: (customer_incident(world, cliente, i), staff_incident(world, i)) for i in ids}
    assert after == before, "a duplicate or a replay changed a replica"
    assert sorted(n["id"] for n in notifications(world, cliente) if n["incidencia_id"] in ids) == \
        sorted(n for n in notified), "a duplicate notified the customer again"


def test_poison_messages_are_dead_lettered_with_their_reason_and_the_queues_keep_flowing(
        world, tap, figures, alive):
    [cliente] = world.clientes(1)
    checker = world.checker("poison_messages", tap, [cliente], new_categoria("faults"))
    topology = Topology(world.system.exchange)
    apertura_q = topology.queue_name("incidencias_apertura", "incidencias")
    resolucion_q = topology.queue_name("incidencias_resolucion", "incidencias")

    def envelope(tipo, datos, origen="incidencias_resolucion", **overrides):
        body = {"id": uuid.uuid4().hex, "tipo": tipo, "ocurrido_en": "2026-01-01T00:00:00.000000Z",
                "origen": origen, "correlation_id": None, "datos": datos, **overrides}
        return body["id"], json.dumps(body).encode()

    poison = []  # (label, message id, routing key, body, queue, what the dead letter must say)

    def add(label, routing_key, queue, expected, built=None, raw=None):
        message_id, body = built if built else (uuid.uuid4().hex, raw)
        poison.append((label, message_id, routing_key, body, queue, expected))

    add("malformed JSON", "incidencia.asignada", apertura_q, "body is not JSON", raw=b'{"id": "roto", "tipo": ')
    add("not an envelope", "incidencia.asignada", apertura_q, "envelope lacks",
        raw=json.dumps({"id": "x", "tipo": "y"}).encode())
    add("unknown tipo", "incidencia.asignada", apertura_q, "no handler for tipo 'incidencia.inventada'",
        envelope("incidencia.inventada", {}))
    add("wrong schema (apertura)", "incidencia.asignada", apertura_q, "invalid snapshot",
        envelope("incidencia.asignada", {"incidencia": {"id": "x", "version": "dos"}}))
    add("wrong schema (resolucion)", "incidencia.abierta", resolucion_q, "invalid snapshot",
        envelope("incidencia.abierta", {"incidencia": {"id": "y", "estado": "abierta"}}, "incidencias_apertura"))
    add("wrong type (resolucion)", "incidencia.abierta", resolucion_q,
        "datos.incidencia must be an incident snapshot",
        envelope("incidencia.abierta", {"incidencia": "no"}, "incidencias_apertura"))
    # Not permanent as far as the consumer can tell (a comment on an incident
    # apertura does not have): retried, then dead-lettered by the delivery limit.
    add("always failing handler", "incidencia.comentada", apertura_q, "delivery_limit",
        envelope("incidencia.comentada", {"incidencia_id": uuid.uuid4().hex, "comentario": {
            "id": uuid.uuid4().hex, "texto": "hola", "interna": False,
            "autor": {"id": "e1", "rol": "agente", "nombre": "Eva"},
            "creado_en": "2026-01-01T00:00:00.000000Z"}}))

    for _label, message_id, routing_key, body, _queue, _expected in poison:
        publish(world.system.exchange, routing_key, body, message_id=message_id)
        checker.inject(message_id, routing_key, "poison")
    # The queues keep flowing behind the poison.
    barrier(world, checker, cliente)

    dead: dict[str, tuple[str, dict]] = {}

    def all_dead_lettered() -> bool:
        for queue in (apertura_q, resolucion_q):
            for _method, properties, _body in drain(topology.dead_letter_queue(queue)):
                dead[properties.message_id] = (queue, properties.headers or {})
        return all(p[1] in dead for p in poison)

    wait_until(all_dead_lettered, timeout=60, interval=0.5, message="every poison message dead-lettered")
    reasons = {}
    for label, message_id, _routing_key, _body, queue, expected in poison:
        dead_queue, headers = dead[message_id]
        assert dead_queue == queue, (label, dead_queue, queue)
        reason = headers.get("x-error") or (headers.get("x-death") or [{}])[0].get("reason")
        if isinstance(reason, bytes):
            reason = reason.decode()
        assert expected in str(reason), (label, expected, headers)
        reasons[label] = str(reason)[:120]
    # Bounded: the always-failing one was tried at most once plus MAX_DELIVERIES
    # redeliveries (the quorum queue's x-delivery-limit counts redeliveries).
    failing_id = poison[-1][1]
    attempts = world.system.log_text("apertura_worker").count(f"handler failed for event {failing_id}")
    assert 1 <= attempts <= MAX_DELIVERIES + 1, attempts
    # Nothing but the poison went to the dead-letter queues.
    assert set(dead) == {p[1] for p in poison}, set(dead) - {p[1] for p in poison}
    report = checker.converge(timeout=60)
    figures.record("poison_messages",
                   fault="malformed JSON, a bare envelope, an unknown tipo, invalid snapshots, and a comment "
                         "that always fails, published to the exchange",
                   figures={**report.figures(),
                            "events": {**report.figures()["events"], "dead_lettered": len(dead)},
                            "dead_letter_reasons": reasons,
                            "bounded_retries": {"max_deliveries": MAX_DELIVERIES, "attempts": attempts}})
    report.assert_sound()
