"""incidencias_resolucion's e-mails to the employees, against the in-memory
store: every way an incident is given to an employee (automatically on
arrival, by hand, reassigned, back to them when reopened, handed on after
an ``empleado.baja``) stores, in the incident's own write, one mail to
them; a redelivered event or a keyed retry that assigns nothing adds none;
no address known, no mail. And what the replica of employees keeps
(``email``, ``sesiones_desde``) with the token rule that follows from it.
The mail's wording is in tests/unit/test_incident_mails.py."""
from __future__ import annotations

from typing import Any

import pytest

from common.mail import Mail
from common.messaging import Event, make_event
from common.tokens import Principal
from cuentas.cuenta import inicio_de_sesiones
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_resolucion.repository import NotificacionEquipoRepository
from incidencias_apertura import events as apertura_events
from incidencias_dominio import Actor, Estado, Incidencia, format_instant
from incidencias_resolucion import services
from incidencias_resolucion.bootstrap import Components
from incidencias_resolucion.config import ResolucionSettings
from incidencias_resolucion.handlers import ResolucionHandlers
from incidencias_resolucion.repository import (
    OUTBOX, EtiquetaRepository, IncidenciaRepository, ParkedEvents, RespuestaRepository, empleado_replica,
)
from tests.services.incident_helpers import avanzar, nueva_incidencia
from tests.services.keyed import keyed

pytestmark = pytest.mark.outbox(*OUTBOX)
PORTAL = "https://portal.example"
LATER = "2999-01-01T00:00:00Z"  # every stored mail is due by then
STAFF = {"e1": ("agente", "Eva", "Soporte"), "e2": ("agente", "Luis", "Gómez"), "s1": ("supervisor", "Sara", "Jefa")}


class Resolucion:
    """resolucion's repositories and its event handlers on the test's store."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self.incidencias = IncidenciaRepository(store)
        self.empleados = empleado_replica(store)
        self.components = Components(settings=ResolucionSettings(portal_url=PORTAL), store=store, verifier=None,
                                     incidencias=self.incidencias, empleados=self.empleados,
                                     aparcados=ParkedEvents(store), respuestas=RespuestaRepository(store),
                                     etiquetas=EtiquetaRepository(store), politicas=PoliticaSlaStore(store), notificaciones=NotificacionEquipoRepository(store))
        self.handlers = ResolucionHandlers(self.components)
        self.versions: dict[str, int] = {}

    def empleado(self, empleado_id: str, activo: bool = True, **datos: Any) -> Event:
        """empleados' event about the employee arrives (newer than the last one)."""
        rol, nombre, apellidos = STAFF[empleado_id]
        self.versions[empleado_id] = version = self.versions.get(empleado_id, 0) + 1
        event = make_event("empleado.registrado" if activo else "empleado.baja", {
            "id": empleado_id, "nombre": nombre, "apellidos": apellidos, "rol": rol, "categorias": [],
            "activo": activo, "version": version, "email": f"{empleado_id}@example.com", **datos}, "empleados")
        self.handlers.on_empleado(event)
        return event

    def llega(self) -> tuple[str, Event]:
        """apertura's incidencia.abierta reaches the handler."""
        incidencia = nueva_incidencia(self.clock.now, titulo="La radio no enciende", prioridad="alta",
                                      categoria="envios")
        event = apertura_events.snapshot("incidencia.abierta", incidencia)
        self.handlers.on_snapshot(event)
        return incidencia.id, event

    def reabre(self, incidencia_id: str) -> None:
        """The customer reopens in apertura (after resolucion resolved it); the snapshot reaches the handler."""
        services.resolver(self.incidencias, self.actor(self.holder(incidencia_id)), incidencia_id, "Cambie las pilas")
        self.clock.advance(minutes=1)
        incidencia = self.get(incidencia_id)
        self.handlers.on_snapshot(apertura_events.snapshot(avanzar(incidencia, "reabierta", self.clock.now),
                                                           incidencia))

    def actor(self, empleado_id: str) -> Actor:
        rol, nombre, apellidos = STAFF[empleado_id]
        return Actor(empleado_id, rol, f"{nombre} {apellidos}")

    def get(self, incidencia_id: str) -> Incidencia:
        return self.incidencias.get(incidencia_id)[0]

    def holder(self, incidencia_id: str) -> str | None:
        asignada_a = self.get(incidencia_id).asignada_a
        return None if asignada_a is None else asignada_a.id

    def mails(self) -> list[tuple[str, str, Mail]]:
        """The stored mails not sent yet: (id, recipient, mail), oldest first."""
        return [(m.id, m.recipient, Mail.from_json(m.body)) for m in self.store.due_mails(LATER, 1000)]

    def sent(self) -> list[tuple[str, str]]:
        return [(mail_id, recipient) for mail_id, recipient, _ in self.mails()]


@pytest.fixture
def rs(store, clock) -> Resolucion:
    return Resolucion(store, clock)


def staff_token(empleado_id: str, rol: str, iat: int) -> Principal:
    return Principal(empleado_id, rol, "empleados", claims={"iat": iat, "exp": iat + 900})


# -- every way of giving an incident ----------------------------------------------------------------

def test_an_incident_assigned_on_arrival_is_mailed_to_its_employee_in_the_same_write(rs):
    rs.empleado("e1")
    incidencia_id, _ = rs.llega()
    incidencia = rs.get(incidencia_id)
    assert (incidencia.estado, incidencia.version) == (Estado.ASIGNADA, 2)
    [(mail_id, recipient, mail)] = rs.mails()
    assert (mail_id, recipient, mail.to) == (f"{incidencia_id}:asignada:v2", "e1", "e1@example.com")
    assert mail.subject == "Incidencia asignada: «La radio no enciende»"
    assert f"{PORTAL}/equipo/incidencias/{incidencia_id}" in mail.text


def test_an_assignment_by_hand_and_a_reassignment_mail_the_new_holder(rs):
    rs.empleado("e1")
    rs.empleado("s1")
    incidencia_id, _ = rs.llega()
    rs.empleado("e2")
    services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), incidencia_id, "e2", PORTAL)
    services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), incidencia_id, "e2", PORTAL)  # has it: nothing
    services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), incidencia_id, "s1", PORTAL)
    assert rs.sent() == [(f"{incidencia_id}:asignada:v2", "e1"), (f"{incidencia_id}:asignada:v3", "e2"),
                         (f"{incidencia_id}:asignada:v4", "s1")]


def test_an_agent_taking_a_waiting_incident_and_the_sweep_giving_one_are_mailed_too(rs):
    rs.empleado("e2")
    waiting = nueva_incidencia(rs.clock.now)
    rs.incidencias.apply_snapshot(waiting.to_snapshot(incluir_internas=True))  # stored, not yet assigned
    services.asignar(rs.incidencias, rs.empleados, rs.actor("e2"), waiting.id, None, PORTAL)
    left = nueva_incidencia(rs.clock.now)
    rs.incidencias.apply_snapshot(left.to_snapshot(incluir_internas=True))
    assert rs.handlers.repartir() == 1
    assert rs.sent() == [(f"{waiting.id}:asignada:v2", "e2"), (f"{left.id}:asignada:v2", "e2")]


def test_a_reopened_incident_back_to_the_same_employee_is_mailed_again_with_the_reason(rs):
    rs.empleado("e1")
    incidencia_id, _ = rs.llega()
    rs.reabre(incidencia_id)
    incidencia = rs.get(incidencia_id)
    assert (incidencia.estado, rs.holder(incidencia_id)) == (Estado.ASIGNADA, "e1")
    [_first, (mail_id, recipient, mail)] = rs.mails()
    assert (mail_id, recipient) == (f"{incidencia_id}:asignada:v{incidencia.version}", "e1")
    assert "el cliente la ha reabierto" in mail.text and "> Sigue sin encender" in mail.text


def test_the_work_of_an_employee_given_baja_is_mailed_to_whom_it_is_handed_on(rs):
    rs.empleado("e1")
    incidencia_id, _ = rs.llega()
    rs.empleado("e2")
    rs.empleado("e1", activo=False)
    assert rs.holder(incidencia_id) == "e2"
    assert rs.sent() == [(f"{incidencia_id}:asignada:v2", "e1"), (f"{incidencia_id}:asignada:v3", "e2")]


# -- once, and only with an address -----------------------------------------------------------------

def test_a_redelivered_event_or_a_keyed_retry_that_assigns_nothing_adds_no_mail(rs):
    rs.empleado("e1")
    rs.empleado("s1")
    incidencia_id, abierta = rs.llega()
    rs.handlers.on_snapshot(abierta)  # redelivered
    rs.handlers.on_snapshot(make_event(abierta.tipo, abierta.datos, abierta.origen))  # replayed
    rs.handlers.repartir()  # the periodic sweep
    rs.empleado("e2")
    request = keyed("k-1", "s1", {"empleado_id": "e2"})
    for _ in range(2):
        services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), incidencia_id, "e2", PORTAL, request)
    assert rs.sent() == [(f"{incidencia_id}:asignada:v2", "e1"), (f"{incidencia_id}:asignada:v3", "e2")]


def test_an_employee_without_a_known_address_is_assigned_without_a_mail(rs):
    rs.empleado("e1", email=None)
    incidencia_id, _ = rs.llega()
    assert rs.holder(incidencia_id) == "e1" and rs.mails() == []


def test_an_internal_note_never_reaches_the_assignment_mail(rs):
    rs.empleado("e1")
    rs.empleado("s1")
    incidencia_id, _ = rs.llega()
    services.comentar(rs.incidencias, rs.actor("e1"), incidencia_id, "NOTA INTERNA: cliente difícil", True)
    services.comentar(rs.incidencias, rs.actor("e1"), incidencia_id, "Le llamo mañana", False)
    services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), incidencia_id, "s1", PORTAL)
    [_first, (_, _, mail)] = rs.mails()
    assert not any(texto in mail.text or texto in mail.html for texto in ("NOTA INTERNA", "Le llamo"))


# -- the replica of employees -----------------------------------------------------------------------

def test_the_replica_keeps_the_address_and_the_start_of_sessions_absent_ones_as_none(rs):
    desde = "2026-11-01T09:30:00.000000Z"
    rs.empleado("e1", sesiones_desde=desde)
    stored = rs.empleados.get("e1")
    assert (stored["email"], stored["sesiones_desde"]) == ("e1@example.com", desde)
    event = make_event("empleado.registrado", {"id": "e2", "rol": "agente", "nombre": "Luis"}, "empleados")
    rs.handlers.on_empleado(event)  # older than the fields
    stored = rs.empleados.get("e2")
    assert (stored["email"], stored["sesiones_desde"]) == (None, None)


def test_a_staff_token_issued_before_the_start_of_sessions_is_refused(rs, clock):
    clock.advance(milliseconds=250)  # a password changed at 10:00:00.25: its sessions count from 10:00:00
    seconds = int(clock.now.timestamp())
    rs.empleado("e1", sesiones_desde=inicio_de_sesiones(format_instant(clock.now)))
    revoked = rs.components.is_revoked
    assert revoked(staff_token("e1", "agente", seconds - 1))
    assert not revoked(staff_token("e1", "agente", seconds)) and not revoked(staff_token("e1", "agente", seconds + 5))
    assert revoked(staff_token("e1", "supervisor", seconds + 5))  # the role rule holds as before
    rs.empleado("e1", sesiones_desde=None)  # a newer event without one: every token counts again
    assert not revoked(staff_token("e1", "agente", seconds - 3600))
