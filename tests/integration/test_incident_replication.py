"""Both incident services' event handlers wired to each other through their
real outboxes and SQLite stores. The broker between them is replaced by a
function that moves the outbox's events to the other side's handlers: that
lets a test deliver them late, twice, or out of order on purpose, which the
real RabbitMQ (exercised in tests/e2e) would not do on demand."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from common.mail import Mail
from common.messaging import Event, make_event
from common.storage.sqlite import SQLiteStore
from cuentas.personal import PersonalReplica
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_resolucion.repository import NotificacionEquipoRepository
from incidencias_apertura import events as apertura_events
from incidencias_apertura import services
from incidencias_apertura.handlers import AperturaHandlers
from incidencias_apertura.repository import ClienteReplica, DatosApertura, IncidenciaRepository as AperturaIncidencias
from incidencias_apertura.repository import NotificacionRepository
from incidencias_apertura.bootstrap import Components as AperturaComponents
from incidencias_apertura.config import AperturaSettings
from incidencias_resolucion.bootstrap import Components as ResolucionComponents
from incidencias_resolucion.config import ResolucionSettings
from incidencias_dominio import APERTURA, Actor, Estado, Incidencia
from incidencias_resolucion import events as r_events
from incidencias_resolucion import services as r_services
from incidencias_resolucion.handlers import ResolucionHandlers
from incidencias_resolucion.repository import IncidenciaRepository as ResolucionIncidencias
from incidencias_resolucion.repository import EtiquetaRepository, ParkedEvents, RespuestaRepository, empleado_replica

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)


class Side:
    def __init__(self, store, routes):
        self.store = store
        self.routes = routes

    def drain(self) -> list[Event]:
        """Take every event waiting in this side's outbox."""
        pending = self.store.pending_events(10_000)
        self.store.mark_published(e.id for e in pending)
        return [Event.parse(e.body) for e in pending]

    def deliver(self, events) -> None:
        for event in events:
            handler = self.routes.get(event.tipo)
            if handler is not None:
                handler(event)


PORTAL = "https://portal.example"


@pytest.fixture
def world(tmp_path):
    a_store, r_store = SQLiteStore(tmp_path / "a.sqlite3"), SQLiteStore(tmp_path / "r.sqlite3")
    # The handlers' components without a token verifier: no request is served here.
    apertura = AperturaHandlers(AperturaComponents(
        settings=AperturaSettings(portal_url=PORTAL, autocierre_dias=2), store=a_store, verifier=None,
        incidencias=AperturaIncidencias(a_store), clientes=ClienteReplica(a_store),
        notificaciones=NotificacionRepository(a_store), personal=PersonalReplica(a_store),
        politicas=PoliticaSlaStore(a_store)))
    resolucion = ResolucionHandlers(ResolucionComponents(
        settings=ResolucionSettings(portal_url=PORTAL), store=r_store, verifier=None, incidencias=ResolucionIncidencias(r_store),
        empleados=empleado_replica(r_store), aparcados=ParkedEvents(r_store),
        respuestas=RespuestaRepository(r_store),
        etiquetas=EtiquetaRepository(r_store), politicas=PoliticaSlaStore(r_store), notificaciones=NotificacionEquipoRepository(r_store)))
    a_side = Side(a_store, {**apertura.routes(), **apertura.cliente_routes(), **apertura.empleado_routes()})
    r_side = Side(r_store, {**resolucion.routes(), **resolucion.empleado_routes(), **resolucion.cliente_routes()})
    yield apertura, resolucion, a_side, r_side
    a_store.close()
    r_store.close()


def register_agent(side, empleado_id="e1", categorias=(), **datos):
    side.deliver([make_event("empleado.registrado", {
        "id": empleado_id, "nombre": "Eva", "apellidos": "Soporte", "rol": "agente",
        "categorias": list(categorias), "activo": True, **datos}, "empleados")])


def open_incident(apertura, cliente_id="c1", categoria=None) -> Incidencia:
    incidencia = Incidencia.abrir(f"i-{random.random()}", {"id": cliente_id, "nombre": "Ana"},
                                  {"referencia": "R", "nombre": "Radio"}, "Roto", "No va", categoria, "media", NOW)
    apertura.c.incidencias.add(incidencia, DatosApertura(), apertura_events.snapshot("incidencia.abierta", incidencia))
    return incidencia


def test_opened_incident_is_assigned_and_the_assignment_replicates(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side)
    incidencia = open_incident(apertura)
    r_side.deliver(a_side.drain())
    a_side.deliver(r_side.drain())
    local, _ = apertura.c.incidencias.get(incidencia.id)
    assert local.estado == Estado.ASIGNADA and local.asignada_a.id == "e1" and local.version == 2
    assert resolucion.c.incidencias.get(incidencia.id)[0].to_snapshot(False) == local.to_snapshot(False)
    notes = apertura.c.notificaciones.list("c1", False, 0, 10)
    assert [n["tipo"] for n in notes] == ["incidencia.asignada"]


def mails(store) -> list[tuple[str, str, Mail]]:
    return [(m.id, m.recipient, Mail.from_json(m.body)) for m in store.due_mails("2999-01-01T00:00:00Z", 100)]


def test_the_assignment_and_the_solution_are_mailed_once_from_each_side(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side, email="eva@example.com")
    cliente = make_event("cliente.registrado", {"id": "c1", "nombre": "Ana", "apellidos": "Pérez",
                                                "email": "ana@example.com", "avisos_por_correo": True,
                                                "sesiones_desde": None}, "clientes")
    a_side.deliver([cliente])
    incidencia = open_incident(apertura)
    opened = a_side.drain()
    r_side.deliver(opened)
    assigned = r_side.drain()
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: [r_events.snapshot(
        i.resolver("resolucion", "Cambie las pilas", Actor("e1", "agente", "Eva"), NOW + timedelta(minutes=1)), i)])
    resolved = r_side.drain()
    for _ in range(2):  # every event delivered twice
        a_side.deliver(assigned + resolved)
        r_side.deliver(opened)
    assert [(i, r, m.to) for i, r, m in mails(resolucion.c.store)] == [
        (f"{incidencia.id}:asignada:v2", "e1", "eva@example.com")]
    [(_, _, asignada), (mail_id, recipient, resuelta)] = mails(apertura.c.store)
    assert (mail_id, recipient, resuelta.to) == (resolved[0].id, "c1", "ana@example.com")
    assert asignada.subject == "Su incidencia «Roto» ha sido asignada"
    assert "> Cambie las pilas" in resuelta.text and f"{PORTAL}/incidencias/{incidencia.id}#cierre" in resuelta.text
    # The customer's erasure takes every mail not sent to them yet.
    a_side.deliver([make_event("cliente.eliminado", {"id": "c1"}, "clientes")])
    assert mails(apertura.c.store) == [] and apertura.c.store.mail_counts() == {"pendiente": 0, "fallido": 0}


def test_duplicates_and_stale_events_change_nothing(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side)
    incidencia = open_incident(apertura)
    opened = a_side.drain()
    r_side.deliver(opened)
    assigned = r_side.drain()
    a_side.deliver(assigned)
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: [r_events.snapshot(
        i.iniciar("resolucion", Actor("e1", "agente"), NOW + timedelta(minutes=1)), i)])
    started = r_side.drain()
    a_side.deliver(started)
    before = apertura.c.incidencias.get(incidencia.id)[0].to_snapshot(False)
    # Replays of every earlier event, in reverse and twice.
    a_side.deliver(list(reversed(assigned + started)) * 2)
    r_side.deliver(opened * 3)
    assert apertura.c.incidencias.get(incidencia.id)[0].to_snapshot(False) == before
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.EN_CURSO
    assert r_side.drain() == []  # the replayed abierta did not assign it again


def test_a_cancellation_request_that_arrives_before_the_incident_is_not_lost(world):
    apertura, resolucion, a_side, r_side = world
    incidencia = open_incident(apertura)
    opened = a_side.drain()
    apertura.c.incidencias.update(incidencia.id, lambda i, e: [
        apertura_events.cancelacion_solicitada(i, "me equivoqué", NOW)])
    request = a_side.drain()
    r_side.deliver(request)  # before the incident itself
    assert resolucion.c.incidencias.get(incidencia.id) is None
    r_side.deliver(opened)
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.CANCELADA
    a_side.deliver(r_side.drain())
    assert apertura.c.incidencias.get(incidencia.id)[0].estado == Estado.CANCELADA


def test_internal_notes_never_reach_apertura(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side)
    incidencia = open_incident(apertura)
    r_side.deliver(a_side.drain())
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: (
        i.comentar("n1", Actor("e1", "agente", "Eva"), "SECRETO", True, NOW), [])[1])
    a_side.deliver(r_side.drain())
    stored = apertura.c.incidencias.collection.get(incidencia.id)
    assert "SECRETO" not in str(stored)
    assert "SECRETO" in str(resolucion.c.incidencias.collection.get(incidencia.id))


@pytest.mark.parametrize("seed", range(5))
def test_replicas_converge_whatever_the_delivery_order(world, seed):
    apertura, resolucion, a_side, r_side = world
    rng = random.Random(seed)
    register_agent(r_side)
    incidencia = open_incident(apertura)
    a_to_r, r_to_a = a_side.drain(), []
    r_side.deliver(a_to_r)
    r_to_a += r_side.drain()
    # The customer comments while the agent comments and resolves.
    apertura.c.incidencias.update(incidencia.id, lambda i, e: [apertura_events.comentada(i.id, {
        "id": "cc1", "autor": {"id": "c1", "rol": "cliente", "nombre": "Ana"}, "texto": "¿Hay novedades?",
        "interna": False, "creado_en": "2026-11-01T10:05:00.000000Z"})] if i.comentar(
        "cc1", Actor("c1", "cliente", "Ana"), "¿Hay novedades?", False, NOW + timedelta(minutes=5)) else None)
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: [r_events.comentada(i.id, {
        "id": "ec1", "autor": {"id": "e1", "rol": "agente", "nombre": "Eva"}, "texto": "Mirándolo",
        "interna": False, "creado_en": "2026-11-01T10:06:00.000000Z"})] if i.comentar(
        "ec1", Actor("e1", "agente", "Eva"), "Mirándolo", False, NOW + timedelta(minutes=6)) else None)
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: [r_events.snapshot(
        i.resolver("resolucion", "Cambiado", Actor("e1", "agente", "Eva"), NOW + timedelta(minutes=7)), i)])
    a_to_r = a_side.drain()
    r_to_a += r_side.drain()
    shuffled = r_to_a * 2
    rng.shuffle(shuffled)
    a_side.deliver(shuffled)
    shuffled = a_to_r * 2
    rng.shuffle(shuffled)
    r_side.deliver(shuffled)
    mine = apertura.c.incidencias.get(incidencia.id)[0].to_snapshot(False)
    staff = resolucion.c.incidencias.get(incidencia.id)[0].to_snapshot(False)
    assert mine == staff
    assert mine["estado"] == "resuelta" and [c["id"] for c in mine["comentarios"]] == ["cc1", "ec1"]
    # The customer closes; resolucion follows.
    apertura.c.incidencias.update(incidencia.id, lambda i, e: [apertura_events.snapshot(
        i.cerrar(APERTURA, Actor("c1", "cliente"), NOW + timedelta(minutes=9)), i)])
    r_side.deliver(a_side.drain())
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.CERRADA


def test_auto_close_after_the_configured_days(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side)
    incidencia = open_incident(apertura)
    r_side.deliver(a_side.drain())
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: [r_events.snapshot(
        i.resolver("resolucion", "Hecho", Actor("e1", "agente"), datetime.now(timezone.utc) - timedelta(days=3)), i)])
    a_side.deliver(r_side.drain())
    assert services.cerrar_vencidas(apertura.c.incidencias, dias=7) == 0
    assert services.cerrar_vencidas(apertura.c.incidencias, dias=apertura.c.settings.autocierre_dias) == 1
    closed = apertura.c.incidencias.get(incidencia.id)[0]
    assert closed.estado == Estado.CERRADA and closed.historial[-1].por.id == "sistema"
    closing = a_side.drain()
    r_side.deliver(closing)
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.CERRADA
    # Its own event reaches apertura's consumer too (twice here): the customer is told once.
    a_side.deliver(closing * 2)
    notes = apertura.c.notificaciones.list("c1", False, 0, 10)
    assert [(n["tipo"], n["mensaje"]) for n in notes][:2] == [
        ("incidencia.cerrada", "Su incidencia «Roto» se ha cerrado automáticamente al no recibir respuesta en 2 días."),
        ("incidencia.resuelta", "Su incidencia «Roto» tiene una solución propuesta: confírmela o reábrala.")]
    assert len(notes) == 3 and apertura.c.incidencias.get(incidencia.id)[0] == closed


def test_employee_deactivation_reassigns_and_incidents_wait_when_nobody_is_active(world):
    apertura, resolucion, a_side, r_side = world
    incidencia = open_incident(apertura, categoria="envios")
    r_side.deliver(a_side.drain())
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.ABIERTA  # nobody to take it
    register_agent(r_side, "e1", ["envios"])
    assert resolucion.c.incidencias.get(incidencia.id)[0].asignada_a.id == "e1"
    register_agent(r_side, "e2", ["envios"])
    r_side.deliver([make_event("empleado.baja", {"id": "e1", "nombre": "Eva", "apellidos": "", "rol": "agente",
                                                 "categorias": ["envios"], "activo": False}, "empleados")])
    assert resolucion.c.incidencias.get(incidencia.id)[0].asignada_a.id == "e2"


# -- waiting on the customer (esperando_cliente, apertura's) ---------------------------
def asked(world, **agent):
    """An incident assigned to e1, who asks its customer something; the question delivered to apertura."""
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side, **agent)
    incidencia = open_incident(apertura)
    r_side.deliver(a_side.drain())
    r_services.consultar(resolucion.c.incidencias, Actor("e1", "agente", "Eva"), incidencia.id,
                         "¿Qué modelo de radio es?")
    question = r_side.drain()
    a_side.deliver(question)
    return incidencia, question


def test_a_question_waits_on_the_customer_and_their_answer_takes_it_back_to_the_same_agent(world):
    apertura, resolucion, a_side, r_side = world
    incidencia, question = asked(world)
    here = apertura.c.incidencias.get(incidencia.id)[0]
    assert (here.estado, here.propietario) == (Estado.ESPERANDO_CLIENTE, APERTURA)
    assert [c.texto for c in here.comentarios] == ["¿Qué modelo de radio es?"]
    assert [n["tipo"] for n in apertura.c.notificaciones.list("c1", False, 0, 10)][0] == "incidencia.esperando_cliente"
    assert resolucion.c.incidencias.load_of(["e1"]) == resolucion.c.incidencias.recount_loads(["e1"]) == {"e1": 0}
    services.comentar(apertura.c.incidencias, Actor("c1", "cliente", "Ana"), incidencia.id, "Una Sony ICF-306")
    answer = a_side.drain()
    assert [e.tipo for e in answer] == ["incidencia.comentada", "incidencia.en_curso"]
    r_side.deliver(list(reversed(answer)) * 2 + question)  # late, twice, with the question replayed
    staff = resolucion.c.incidencias.get(incidencia.id)[0]
    assert (staff.estado, staff.asignada_a.id, staff.propietario) == (Estado.EN_CURSO, "e1", "resolucion")
    assert staff.to_snapshot(False) == apertura.c.incidencias.get(incidencia.id)[0].to_snapshot(False)
    assert resolucion.c.incidencias.load_of(["e1"]) == resolucion.c.incidencias.recount_loads(["e1"]) == {"e1": 1}
    assert r_side.drain() == []  # nothing assigned or published again


def test_a_customer_asked_something_may_withdraw_the_incident_at_once(world):
    apertura, resolucion, a_side, r_side = world
    incidencia, _question = asked(world)
    services.solicitar_cancelacion(apertura.c.incidencias, Actor("c1", "cliente"), incidencia.id, "Ya funciona")
    assert apertura.c.incidencias.get(incidencia.id)[0].estado == Estado.CANCELADA
    cancelled = a_side.drain()
    assert [e.tipo for e in cancelled] == ["incidencia.cancelada"]
    r_side.deliver(cancelled * 2)
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.CANCELADA


def test_a_cancellation_asked_just_before_the_question_is_applied_once_the_wait_begins(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side)
    incidencia = open_incident(apertura)
    r_side.deliver(a_side.drain())
    a_side.deliver(r_side.drain())  # asignada here
    services.solicitar_cancelacion(apertura.c.incidencias, Actor("c1", "cliente"), incidencia.id, "Me equivoqué")
    request = a_side.drain()
    r_services.consultar(resolucion.c.incidencias, Actor("e1", "agente"), incidencia.id, "¿Qué modelo es?")
    r_side.deliver(request)  # too late for resolucion: the incident is apertura's now
    question = r_side.drain()
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.ESPERANDO_CLIENTE
    a_side.deliver(question * 2)
    assert apertura.c.incidencias.get(incidencia.id)[0].estado == Estado.CANCELADA
    r_side.deliver(a_side.drain())
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.CANCELADA


def test_an_unanswered_question_is_reminded_once_then_the_incident_closes_itself(world):
    apertura, resolucion, a_side, r_side = world
    incidencia, _question = asked(world)
    asked_at = apertura.c.incidencias.get(incidencia.id)[0].actualizada_en
    esperas = lambda dias: services.recordar_y_cerrar_esperas(  # noqa: E731
        apertura.c.incidencias, apertura.c.notificaciones, apertura.c.clientes, PORTAL, 3, asked_at + timedelta(days=dias))
    assert esperas(2.9) == (0, 0)
    assert [esperas(3.1), esperas(3.2)] == [(1, 0), (0, 0)]  # two sweeps, one reminder
    assert esperas(6.0) == (0, 0)  # 3 days after the reminder, not yet
    assert esperas(6.2) == (0, 1)
    closed = apertura.c.incidencias.get(incidencia.id)[0]
    assert (closed.estado, closed.historial[-1].por.id, closed.historial[-1].de) == (
        Estado.CERRADA, "sistema", Estado.ESPERANDO_CLIENTE)
    closing = a_side.drain()
    r_side.deliver(closing)
    assert resolucion.c.incidencias.get(incidencia.id)[0].estado == Estado.CERRADA
    a_side.deliver(closing * 2)
    notes = [(n["tipo"], n["mensaje"]) for n in apertura.c.notificaciones.list("c1", False, 0, 10)]
    # (the reminder is dated by the sweep's own instant, days ahead here: compare regardless of order)
    assert sorted(notes) == [
        ("incidencia.asignada", "Su incidencia «Roto» ha sido asignada a Eva Soporte."),
        ("incidencia.cerrada", "Su incidencia «Roto» se ha cerrado automáticamente al no recibir respuesta a nuestra "
                               "pregunta. Si aún necesita ayuda, abra una nueva incidencia."),
        ("incidencia.consulta_pendiente", "Seguimos esperando su respuesta para continuar con su incidencia «Roto». Si "
                                          "no nos responde, la cerraremos dentro de 3 días."),
        ("incidencia.esperando_cliente", "Eva Soporte necesita saber algo de usted para seguir con su incidencia "
                                         "«Roto»: respóndale con un comentario.")]


def test_the_customer_rating_reaches_resolucion_even_before_the_close_it_follows(world):
    apertura, resolucion, a_side, r_side = world
    register_agent(r_side)
    incidencia = open_incident(apertura)
    r_side.deliver(a_side.drain())
    resolucion.c.incidencias.update(incidencia.id, lambda i, _s: [r_events.snapshot(
        i.resolver("resolucion", "Hecho", Actor("e1", "agente"), NOW + timedelta(minutes=1)), i)])
    a_side.deliver(r_side.drain())
    services.cerrar(apertura.c.incidencias, Actor("c1", "cliente", "Ana"), incidencia.id)
    services.valorar(apertura.c.incidencias, Actor("c1", "cliente", "Ana"), incidencia.id, 5, "Perfecto")
    closing, rating = a_side.drain()
    assert (closing.tipo, rating.tipo) == ("incidencia.cerrada", "incidencia.valorada")
    r_side.deliver([rating, rating, closing, closing])
    staff = resolucion.c.incidencias.get(incidencia.id)[0]
    assert (staff.estado, staff.valoracion.puntuacion, staff.valoracion.comentario) == (Estado.CERRADA, 5, "Perfecto")
    assert staff.to_snapshot(False) == apertura.c.incidencias.get(incidencia.id)[0].to_snapshot(False)


def test_a_customer_asked_something_may_close_it_solved_after_all(world):
    apertura, resolucion, a_side, r_side = world
    incidencia, question = asked(world)
    services.cerrar(apertura.c.incidencias, Actor("c1", "cliente"), incidencia.id)
    closing = a_side.drain()
    assert [e.tipo for e in closing] == ["incidencia.cerrada"]
    r_side.deliver(closing + question + closing)  # with the question replayed in between
    staff = resolucion.c.incidencias.get(incidencia.id)[0]
    assert (staff.estado, staff.historial[-1].de, staff.historial[-1].por.rol) == (
        Estado.CERRADA, Estado.ESPERANDO_CLIENTE, "cliente")
    assert resolucion.c.incidencias.load_of(["e1"]) == resolucion.c.incidencias.recount_loads(["e1"]) == {"e1": 0}
    a_side.deliver(closing)
    notes = [n["mensaje"] for n in apertura.c.notificaciones.list("c1", False, 0, 10)]
    assert notes[0] == "Ha cerrado su incidencia «Roto»: nos alegra que ya esté resuelta."
