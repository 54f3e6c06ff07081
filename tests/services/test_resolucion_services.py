"""incidencias_resolucion's use cases (incidencias_resolucion/services.py)
against the in-memory store: what an employee does with an incident, who may
do it, how incidents are assigned, and what the events from apertura,
empleados and clientes make happen here.

Incidents arrive the way apertura's events carry them (``replicar_cambio``
with the snapshot); employees the way empleados' events do
(``replicar_empleado``). ``en_estado`` stores an incident already in a state
with the repository's ``apply_snapshot`` alone, the replication step without
the automatic assignment that follows it."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

import pytest

from common.errors import Forbidden, Invalid
from common.idempotency import FIELD, KeyReused
from common.messaging import Event, PermanentError, make_event
from common.storage import Query
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_resolucion.repository import NotificacionEquipoRepository
from incidencias_apertura import events as apertura_events
from incidencias_dominio import (
    SISTEMA,
    Actor,
    Cliente,
    Comentario,
    ConflictoDeEstado,
    EmpleadoRef,
    Estado,
    Incidencia,
    IncidenciaFinalizada,
    NoEsPropietario,
    Prioridad,
    Resolucion,
    TransicionNoPermitida,
    format_instant,
)
from incidencias_replica.repository import IncidenciaNoEncontrada
from incidencias_resolucion import services
from incidencias_resolucion.bootstrap import Components
from incidencias_resolucion.handlers import ResolucionHandlers
from incidencias_resolucion.repository import (OUTBOX, DatosResolucion, IncidenciaRepository, ParkedEvents,
                                               EtiquetaRepository, RespuestaRepository, empleado_replica)
from tests.services.conftest import T0
from tests.services.incident_helpers import avanzar, nueva_incidencia
from tests.services.keyed import keyed

pytestmark = pytest.mark.outbox(*OUTBOX)
PORTAL = "https://portal.example"

STAFF = {
    "e1": ("agente", "Eva", "Soporte"),
    "e2": ("agente", "Luis", "Gómez"),
    "e9": ("agente", "Pepe", "Antiguo"),
    "s1": ("supervisor", "Sara", "Jefa"),
    "a1": ("admin", "Alba", "Admin"),
}
PASOS = {
    "abierta": (), "asignada": ("asignada",), "en_curso": ("asignada", "en_curso"),
    "resuelta": ("asignada", "resuelta"), "reabierta": ("asignada", "resuelta", "reabierta"),
    "cerrada": ("asignada", "resuelta", "cerrada"), "cancelada": ("asignada", "cancelada"),
}


def ref(empleado_id: str) -> EmpleadoRef:
    _rol, nombre, apellidos = STAFF[empleado_id]
    return EmpleadoRef(empleado_id, f"{nombre} {apellidos}")


class ResolucionSide:
    """resolucion's repositories on the test's store, and what the other services would send."""

    def __init__(self, store, clock):
        self.store = store
        self.clock = clock
        self.incidencias = IncidenciaRepository(store)
        self.empleados = empleado_replica(store)
        self.aparcados = ParkedEvents(store)
        self.versions: dict[str, int] = {}
        self.reanudadas: list[str] = []

    # -- staff --
    def actor(self, empleado_id: str) -> Actor:
        rol, nombre, apellidos = STAFF[empleado_id]
        return Actor(empleado_id, rol, f"{nombre} {apellidos}")

    def empleado_event(self, empleado_id: str, activo: bool = True, categorias=(), tipo: str | None = None,
                       version: int | None = None) -> Event:
        rol, nombre, apellidos = STAFF[empleado_id]
        if version is None:
            version = self.versions.get(empleado_id, 0) + 1
        self.versions[empleado_id] = max(version, self.versions.get(empleado_id, 0))
        tipo = tipo or ("empleado.registrado" if activo else "empleado.baja")
        return make_event(tipo, {"id": empleado_id, "nombre": nombre, "apellidos": apellidos, "rol": rol,
                                 "categorias": list(categorias), "activo": activo, "version": version}, "empleados")

    def registrar(self, empleado_id: str, **kwargs: Any) -> Event:
        """empleados' event about ``empleado_id`` arrives (and what waits is assigned again)."""
        event = self.empleado_event(empleado_id, **kwargs)
        services.replicar_empleado(self.incidencias, self.empleados, event, PORTAL)
        return event

    # -- incidents --
    def llega(self, **kwargs: Any) -> str:
        """apertura's incidencia.abierta arrives: replicated, then assigned if someone can take it."""
        incidencia = nueva_incidencia(self.clock.now, **kwargs)
        event = apertura_events.snapshot("incidencia.abierta", incidencia)
        services.replicar_cambio(self.incidencias, self.empleados, event.datos["incidencia"], self.reanudadas.append,
                                 PORTAL)
        return incidencia.id

    def en_estado(self, estado: str, empleado: EmpleadoRef = ref("e1"), **kwargs: Any) -> str:
        """An incident already in ``estado`` (held by ``empleado`` once assigned), stored without assigning it."""
        incidencia = nueva_incidencia(self.clock.now, **kwargs)
        agente = Actor(empleado.id, STAFF.get(empleado.id, ("agente",))[0], empleado.nombre)
        for paso in PASOS[estado]:
            avanzar(incidencia, paso, self.clock.now, empleado, agente)
        self.incidencias.apply_snapshot(incidencia.to_snapshot(incluir_internas=True))
        return incidencia.id

    def desde_apertura(self, incidencia_id: str, paso: str) -> Incidencia:
        """The customer closes or reopens in apertura; its snapshot event arrives here."""
        incidencia = self.get(incidencia_id)
        event = apertura_events.snapshot(avanzar(incidencia, paso, self.clock.now), incidencia)
        return services.replicar_cambio(self.incidencias, self.empleados, event.datos["incidencia"],
                                        self.reanudadas.append, PORTAL)

    def get(self, incidencia_id: str) -> Incidencia:
        return self.incidencias.get(incidencia_id)[0]

    def raw(self, incidencia_id: str) -> dict[str, Any]:
        return self.incidencias.collection.get(incidencia_id)

    def holder(self, incidencia_id: str) -> str | None:
        asignada_a = self.get(incidencia_id).asignada_a
        return None if asignada_a is None else asignada_a.id


@pytest.fixture
def rs(store, clock) -> ResolucionSide:
    return ResolucionSide(store, clock)


@pytest.fixture
def team(rs, outbox) -> str:
    """Two agents, a supervisor and an admin; e1 holds one incident (asignada), the outbox is empty."""
    for empleado_id in ("a1", "s1", "e2", "e1"):
        rs.registrar(empleado_id)
    incidencia_id = rs.llega()
    assert (rs.get(incidencia_id).estado, rs.holder(incidencia_id)) == (Estado.ASIGNADA, "e1")
    outbox.clear()
    rs.clock.advance(minutes=1)
    return incidencia_id


def instant(rs: ResolucionSide) -> str:
    return format_instant(rs.clock.now)


def snapshot_event(tipo: str, incidencia: Incidencia) -> tuple[str, dict[str, Any]]:
    return (tipo, {"incidencia": incidencia.to_snapshot(incluir_internas=False)})


def forbidden(error: Forbidden, detail: str) -> None:
    assert (type(error), error.status, error.slug, error.detail) == (Forbidden, 403, "prohibido", detail)


# -- reading ----------------------------------------------------------------------------------------

def test_an_incident_is_read_with_its_internal_notes_and_an_unknown_one_is_not_found(rs, team):
    services.comentar(rs.incidencias, rs.actor("e1"), team, "Proveedor lento", True)
    found = services.incidencia(rs.incidencias, team)
    assert found == rs.get(team) and [c.interna for c in found.comentarios] == [True]
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        services.incidencia(rs.incidencias, "no-existe")
    assert (type(refused.value), refused.value.status, refused.value.incidencia_id) == (
        IncidenciaNoEncontrada, 404, "no-existe")


def test_buscar_incidencias_filters_sorts_and_yo_means_the_caller(rs, team):
    rs.clock.advance(minutes=1)
    sonido = rs.llega(cliente_id="c2", categoria="sonido", prioridad="alta")  # e2, the least loaded
    rs.clock.advance(minutes=1)
    waiting = rs.en_estado("abierta", prioridad="critica")
    assert rs.holder(sonido) == "e2"

    def found(actor: str, filtros: dict[str, Any], orden: str = "antiguedad") -> list[str]:
        listing = services.buscar_incidencias(rs.incidencias, rs.actor(actor), filtros, orden)
        ids = [i.id for i in listing.fetch(0, 10)]
        assert listing.count() == len(ids)
        return ids

    filtros = {"asignada_a": "yo"}
    assert found("e2", filtros) == [sonido]
    assert filtros == {"asignada_a": "yo"}  # the caller's filters are left as they were
    assert found("e1", {"asignada_a": "yo"}) == [team]
    assert found("a1", {"asignada_a": "yo"}) == []
    assert found("a1", {"asignada_a": "e1"}) == [team]
    assert found("a1", {}) == [team, sonido, waiting]
    assert found("a1", {}, "recientes") == [waiting, sonido, team]
    assert found("a1", {}, "prioridad") == [waiting, sonido, team]
    assert found("a1", {"estado": "asignada"}) == [team, sonido]
    assert found("a1", {"sin_asignar": True}) == [waiting]
    assert found("a1", {"prioridad": "alta"}) == [sonido]
    assert found("a1", {"categoria": "sonido"}) == [sonido]
    assert found("a1", {"cliente_id": "c2"}) == [sonido]
    assert found("a1", {"estado": "asignada", "asignada_a": "yo"}) == []
    assert [i.id for i in services.buscar_incidencias(rs.incidencias, rs.actor("a1"), {}, "antiguedad").fetch(1, 1)] \
        == [sonido]


# -- assignment by hand ------------------------------------------------------------------------------

@pytest.mark.parametrize("empleado_id", [None, "e2"], ids=["herself by default", "naming herself"])
def test_an_agent_takes_a_waiting_incident_under_the_name_the_replica_knows(rs, outbox, empleado_id):
    rs.registrar("e1")
    rs.registrar("e2")
    incidencia_id = rs.en_estado("abierta")
    result = services.asignar(rs.incidencias, rs.empleados, Actor("e2", "agente", "Nombre del token"), incidencia_id,
                              empleado_id, PORTAL)
    assert (result.estado, result.version, result.asignada_a) == (Estado.ASIGNADA, 2, ref("e2"))
    assert result.historial[-1].to_dict() == {
        "de": "abierta", "a": "asignada", "por": {"id": "e2", "rol": "agente"}, "en": instant(rs), "motivo": None,
        "cambios": {"asignada_a": {"de": None, "a": {"id": "e2", "nombre": "Luis Gómez"}}}}
    assert rs.get(incidencia_id) == result
    assert outbox.events() == [snapshot_event("incidencia.asignada", result)]
    assert outbox.messages()[0].origen == "incidencias_resolucion"


def test_an_agent_may_assign_only_to_herself(rs, outbox):
    rs.registrar("e1")
    rs.registrar("e2")
    incidencia_id = rs.en_estado("abierta")
    before = rs.raw(incidencia_id)
    with pytest.raises(Forbidden) as refused:
        services.asignar(rs.incidencias, rs.empleados, rs.actor("e1"), incidencia_id, "e2", PORTAL)
    forbidden(refused.value, "Un agente solo puede asignarse incidencias a sí mismo")
    assert rs.raw(incidencia_id) == before and outbox.events() == []


@pytest.mark.parametrize("empleado_id", ["e2", "nadie"], ids=["inactive", "unknown"])
def test_the_employee_must_be_an_active_one(rs, team, outbox, empleado_id):
    rs.registrar("e2", activo=False)
    before = rs.raw(team)
    outbox.clear()
    with pytest.raises(Invalid) as refused:
        services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), team, empleado_id, PORTAL)
    error = refused.value
    assert (type(error), error.status, error.slug, error.detail, error.errores) == (
        Invalid, 422, "validacion", "El empleado no existe o no está activo",
        [{"campo": "empleado_id", "mensaje": "No es un empleado activo", "ubicacion": "cuerpo"}])
    assert rs.raw(team) == before and outbox.events() == []


@pytest.mark.parametrize("estado", ["asignada", "en_curso"])
def test_an_agent_may_not_take_someone_elses_incident(rs, team, outbox, estado):
    if estado == "en_curso":
        services.iniciar(rs.incidencias, rs.actor("e1"), team)
        outbox.clear()
    before = rs.raw(team)
    with pytest.raises(Forbidden) as refused:
        services.asignar(rs.incidencias, rs.empleados, rs.actor("e2"), team, None, PORTAL)
    forbidden(refused.value, "Un agente solo puede tomar incidencias sin asignar")
    assert rs.raw(team) == before and outbox.events() == []


@pytest.mark.parametrize("manager", ["s1", "a1"])
def test_supervisors_and_admins_give_anyones_incident_to_any_active_employee(rs, team, outbox, manager):
    result = services.asignar(rs.incidencias, rs.empleados, rs.actor(manager), team, "e2", PORTAL)
    assert (result.estado, result.version, result.asignada_a) == (Estado.ASIGNADA, 3, ref("e2"))
    assert result.historial[-1].cambios == {"asignada_a": {"de": {"id": "e1", "nombre": "Eva Soporte"},
                                                           "a": {"id": "e2", "nombre": "Luis Gómez"}}}
    services.iniciar(rs.incidencias, rs.actor("e2"), team)
    # From en_curso too, and to a supervisor or an admin.
    for empleado_id in ("s1", "a1"):
        result = services.asignar(rs.incidencias, rs.empleados, rs.actor(manager), team, empleado_id, PORTAL)
        assert (result.estado, result.asignada_a, result.historial[-1].por) == (
            Estado.ASIGNADA, ref(empleado_id), Actor(manager, STAFF[manager][0]))
    assert outbox.tipos() == ["incidencia.asignada", "incidencia.en_curso", "incidencia.asignada",
                              "incidencia.asignada"]


@pytest.mark.parametrize("quien, empleado_id, estado", [
    ("e1", None, "asignada"), ("e1", "e1", "en_curso"), ("s1", "e1", "asignada"), ("a1", "e1", "en_curso"),
])
def test_giving_an_incident_to_whom_already_has_it_changes_nothing(rs, team, outbox, quien, empleado_id, estado):
    if estado == "en_curso":
        services.iniciar(rs.incidencias, rs.actor("e1"), team)
        outbox.clear()
    before, raw = rs.get(team), rs.raw(team)
    assert services.asignar(rs.incidencias, rs.empleados, rs.actor(quien), team, empleado_id, PORTAL) == before
    assert rs.raw(team) == raw and outbox.events() == []


@pytest.mark.parametrize("quien", ["e1", "s1"])
@pytest.mark.parametrize("estado, propietario", [("resuelta", "apertura"), ("cerrada", None), ("cancelada", None)])
def test_a_resolved_or_final_incident_is_not_assignable(rs, team, outbox, quien, estado, propietario):
    incidencia_id = rs.en_estado(estado)
    before = rs.raw(incidencia_id)
    with pytest.raises(NoEsPropietario) as refused:
        services.asignar(rs.incidencias, rs.empleados, rs.actor(quien), incidencia_id, "e1", PORTAL)
    assert (refused.value.estado_actual, refused.value.propietario) == (Estado(estado), propietario)
    assert rs.raw(incidencia_id) == before and outbox.events() == []


def test_a_reopened_incident_whose_employee_left_waits_and_an_agent_may_take_it(rs, outbox):
    rs.registrar("e2")
    incidencia_id = rs.en_estado("reabierta", ref("e9"))  # e9 is not active here
    result = services.asignar(rs.incidencias, rs.empleados, rs.actor("e2"), incidencia_id, None, PORTAL)
    assert (result.estado, result.asignada_a, result.version) == (Estado.ASIGNADA, ref("e2"), 5)
    assert outbox.events() == [snapshot_event("incidencia.asignada", result)]


def test_assigning_an_unknown_incident_is_not_found(rs, team, outbox):
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), "no-existe", "e2", PORTAL)
    assert refused.value.incidencia_id == "no-existe" and outbox.events() == []


# -- automatic assignment ---------------------------------------------------------------------------

def test_an_arriving_incident_goes_to_the_least_loaded_agent_the_smallest_id_on_a_tie(rs, outbox):
    for empleado_id in ("a1", "s1", "e2", "e1"):
        rs.registrar(empleado_id)
    first = rs.llega()  # tie at 0: e1
    second = rs.llega()  # e2 has fewer
    third = rs.llega()  # tie at 1: e1
    assert [rs.holder(i) for i in (first, second, third)] == ["e1", "e2", "e1"]
    services.resolver(rs.incidencias, rs.actor("e1"), first, "Hecho")  # resuelta is no longer load
    services.iniciar(rs.incidencias, rs.actor("e2"), second)  # en_curso still is
    fourth = rs.llega()  # tie at 1: e1
    assert rs.holder(fourth) == "e1"
    assigned = rs.get(fourth)
    assert (assigned.version, assigned.asignada_a, assigned.historial[-1].por) == (2, ref("e1"), SISTEMA)
    assert outbox.tipos() == ["incidencia.asignada"] * 3 + ["incidencia.resuelta", "incidencia.en_curso",
                                                           "incidencia.asignada"]
    assert outbox.events()[-1] == snapshot_event("incidencia.asignada", assigned)


def test_specialists_take_their_category_and_generalists_everything_else(rs):
    rs.registrar("e1", categorias=["envios"])
    rs.registrar("e2")  # a generalist
    sin_categoria = [rs.llega(), rs.llega()]  # generalists first, however loaded
    envio = rs.llega(categoria=" ENVIOS ")
    otra = rs.llega(categoria="pantallas")  # no specialist: a generalist
    assert [rs.holder(i) for i in (*sin_categoria, envio, otra)] == ["e2", "e2", "e1", "e2"]


def test_supervisors_take_incidents_only_when_no_agent_can_and_admins_never(rs, outbox):
    rs.registrar("a1")
    first = rs.llega()
    assert (rs.get(first).estado, rs.holder(first)) == (Estado.ABIERTA, None) and outbox.events() == []
    rs.registrar("s1")  # what waits goes to the supervisor
    assert rs.holder(first) == "s1" and outbox.tipos() == ["incidencia.asignada"]
    rs.registrar("e1")
    assert rs.holder(rs.llega()) == "e1"


def test_a_reopened_incident_goes_back_to_its_employee_while_active(rs, outbox):
    rs.registrar("e1")
    rs.registrar("e2")
    reopened, b, c = rs.llega(), rs.llega(), rs.llega()
    services.resolver(rs.incidencias, rs.actor("e1"), reopened, "Hecho")
    d = rs.llega()
    assert [rs.holder(i) for i in (reopened, b, c, d)] == ["e1", "e2", "e1", "e1"]
    outbox.clear()
    rs.clock.advance(minutes=5)
    rs.desde_apertura(reopened, "reabierta")  # e1 holds three, e2 one: back to e1 all the same
    back = rs.get(reopened)
    assert (back.estado, back.asignada_a, back.version) == (Estado.ASIGNADA, ref("e1"), 5)
    assert back.historial[-1].to_dict() == {
        "de": "reabierta", "a": "asignada", "por": {"id": "sistema", "rol": "sistema"}, "en": instant(rs),
        "motivo": None, "cambios": {"asignada_a": {"de": {"id": "e1", "nombre": "Eva Soporte"},
                                                   "a": {"id": "e1", "nombre": "Eva Soporte"}}}}
    assert outbox.take() == [snapshot_event("incidencia.asignada", back)]
    # Once that employee has left, a reopened incident goes by the policy.
    services.resolver(rs.incidencias, rs.actor("e1"), reopened, "Hecho otra vez")
    rs.registrar("e1", activo=False)
    outbox.clear()
    rs.desde_apertura(reopened, "reabierta")
    assert rs.holder(reopened) == "e2" and outbox.tipos() == ["incidencia.asignada"]


def test_excluded_employees_are_never_chosen(rs, outbox):
    rs.registrar("e1")
    rs.registrar("e2")
    held = rs.llega()
    reopened = rs.en_estado("reabierta", ref("e1"))
    outbox.clear()
    # e1, excluded (say, just deactivated), loses what they hold, a reopened one included.
    for incidencia_id in (held, reopened):
        result = services.asignar_automaticamente(rs.incidencias, rs.empleados, incidencia_id, PORTAL,
                                                  frozenset({"e1"}))
        assert (result.estado, result.asignada_a, result.historial[-1].por) == (Estado.ASIGNADA, ref("e2"), SISTEMA)
    assert outbox.take() == [snapshot_event("incidencia.asignada", rs.get(held)),
                             snapshot_event("incidencia.asignada", rs.get(reopened))]
    # Held by someone not excluded: left alone (someone assigned it meanwhile), and said so.
    assert services.asignar_automaticamente(rs.incidencias, rs.empleados, held, PORTAL) is None
    # Nobody left to choose, or no such incident: None.
    assert services.asignar_automaticamente(rs.incidencias, rs.empleados, held, PORTAL, frozenset({"e1", "e2"})) is None
    assert services.asignar_automaticamente(rs.incidencias, rs.empleados, "no-existe", PORTAL) is None
    assert outbox.events() == [] and rs.holder(held) == "e2"


def test_repartir_pendientes_assigns_what_waits_and_what_inactive_employees_hold(rs, outbox):
    def en_estado(estado: str) -> str:
        rs.clock.advance(minutes=1)  # each opened a minute after the previous one: the sweep goes in that order
        return rs.en_estado(estado, ref("e9"))

    waiting = [en_estado("abierta"), en_estado("reabierta")]
    held = [en_estado("asignada"), en_estado("en_curso")]
    resuelta = en_estado("resuelta")
    rs.empleados.apply(rs.empleado_event("e9", activo=False))
    assert services.repartir_pendientes(rs.incidencias, rs.empleados, PORTAL) == 0  # nobody to give them to
    assert outbox.events() == []
    rs.empleados.apply(rs.empleado_event("e1"))
    assert services.repartir_pendientes(rs.incidencias, rs.empleados, PORTAL) == 4
    assert [(rs.get(i).estado, rs.holder(i)) for i in (*waiting, *held)] == [(Estado.ASIGNADA, "e1")] * 4
    assert (rs.get(resuelta).estado, rs.holder(resuelta)) == (Estado.RESUELTA, "e9")
    assert outbox.take() == [snapshot_event("incidencia.asignada", rs.get(i)) for i in (*waiting, *held)]
    assert services.repartir_pendientes(rs.incidencias, rs.empleados, PORTAL) == 0 and outbox.events() == []


def the_supervisor_assigns_it_meanwhile(rs: ResolucionSide) -> tuple[str, IncidenciaRepository]:
    """An incident waiting with an agent active, and a repository on which
    a supervisor gives it to e1 right after repartir_pendientes has listed it."""
    rs.empleados.apply(rs.empleado_event("e1"))
    rs.empleados.apply(rs.empleado_event("s1"))
    waiting = rs.en_estado("abierta")

    class TheSupervisorAssignsItMeanwhile(IncidenciaRepository):
        def ids(self, filters: dict[str, Any], limit: int | None = None, orden: str = "antiguedad") -> list[str]:
            found = super().ids(filters, limit, orden)
            if waiting in found and rs.get(waiting).estado == Estado.ABIERTA:
                services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), waiting, "e1", PORTAL)
            return found

    return waiting, TheSupervisorAssignsItMeanwhile(rs.store)


def test_repartir_pendientes_leaves_what_someone_assigned_meanwhile(rs, outbox):
    waiting, incidencias = the_supervisor_assigns_it_meanwhile(rs)
    services.repartir_pendientes(incidencias, rs.empleados, PORTAL)
    assigned = rs.get(waiting)
    assert (assigned.version, assigned.historial[-1].por) == (2, Actor("s1", "supervisor"))
    assert outbox.tipos() == ["incidencia.asignada"]  # the supervisor's, nothing else


def test_repartir_pendientes_counts_only_what_it_assigned(rs):
    _waiting, incidencias = the_supervisor_assigns_it_meanwhile(rs)
    assert services.repartir_pendientes(incidencias, rs.empleados, PORTAL) == 0


# -- working an incident ------------------------------------------------------------------------------

ACCIONES: dict[str, Callable[[ResolucionSide, Actor, str], Incidencia]] = {
    "iniciar": lambda rs, actor, i: services.iniciar(rs.incidencias, actor, i),
    "resolver": lambda rs, actor, i: services.resolver(rs.incidencias, actor, i, "Hecho"),
    "comentar": lambda rs, actor, i: services.comentar(rs.incidencias, actor, i, "Mirándolo", False),
    "nota interna": lambda rs, actor, i: services.comentar(rs.incidencias, actor, i, "Proveedor lento", True),
    "cambiar_datos": lambda rs, actor, i: services.cambiar_datos(rs.incidencias, actor, i, {"prioridad": "alta"}),
}
RECORDED = {"iniciar": ["incidencia.en_curso"], "resolver": ["incidencia.resuelta"],
            "comentar": ["incidencia.comentada"], "nota interna": [], "cambiar_datos": ["incidencia.actualizada"]}


@pytest.mark.parametrize("accion", ACCIONES)
def test_an_agent_acts_only_on_the_incidents_assigned_to_them(rs, team, outbox, accion):
    waiting = rs.en_estado("abierta")
    for incidencia_id in (team, waiting):
        before = rs.raw(incidencia_id)
        with pytest.raises(Forbidden) as refused:
            ACCIONES[accion](rs, rs.actor("e2"), incidencia_id)
        forbidden(refused.value, "Solo puede actuar sobre las incidencias asignadas a usted")
        assert rs.raw(incidencia_id) == before
    assert outbox.events() == []


@pytest.mark.parametrize("quien", ["e1", "s1", "a1"])
@pytest.mark.parametrize("accion", ACCIONES)
def test_the_assignee_supervisors_and_admins_act_on_it(rs, team, outbox, quien, accion):
    result = ACCIONES[accion](rs, rs.actor(quien), team)
    assert rs.get(team) == result
    assert outbox.tipos() == RECORDED[accion]


@pytest.mark.parametrize("accion", ACCIONES)
def test_acting_on_an_unknown_incident_is_not_found(rs, team, outbox, accion):
    with pytest.raises(IncidenciaNoEncontrada):
        ACCIONES[accion](rs, rs.actor("a1"), "no-existe")
    assert outbox.events() == []


def test_the_assignee_starts_and_resolves(rs, team, outbox):
    started = services.iniciar(rs.incidencias, rs.actor("e1"), team)
    assert (started.estado, started.version) == (Estado.EN_CURSO, 3)
    assert started.historial[-1].to_dict() == {"de": "asignada", "a": "en_curso", "por": {"id": "e1", "rol": "agente"},
                                               "en": instant(rs), "motivo": None, "cambios": None}
    assert outbox.take() == [snapshot_event("incidencia.en_curso", started)]
    rs.clock.advance(minutes=30)
    resolved = services.resolver(rs.incidencias, rs.actor("e1"), team, " Cambie las pilas\n")
    assert (resolved.estado, resolved.version, resolved.resuelta_en) == (Estado.RESUELTA, 4, rs.clock.now)
    assert resolved.resolucion == Resolucion("Cambie las pilas", ref("e1"), rs.clock.now)
    assert rs.get(team) == resolved
    assert outbox.take() == [snapshot_event("incidencia.resuelta", resolved)]


STATE_CONFLICTS = [
    ("abierta", "iniciar", TransicionNoPermitida, {"destino": Estado.EN_CURSO}),
    ("abierta", "resolver", TransicionNoPermitida, {"destino": Estado.RESUELTA}),
    ("en_curso", "iniciar", TransicionNoPermitida, {"destino": Estado.EN_CURSO}),
    ("reabierta", "iniciar", TransicionNoPermitida, {"destino": Estado.EN_CURSO}),
    ("reabierta", "resolver", TransicionNoPermitida, {"destino": Estado.RESUELTA}),
    ("resuelta", "iniciar", NoEsPropietario, {"propietario": "apertura"}),
    ("resuelta", "resolver", NoEsPropietario, {"propietario": "apertura"}),
    ("resuelta", "cambiar_datos", NoEsPropietario, {"propietario": "apertura"}),
    ("cerrada", "iniciar", NoEsPropietario, {"propietario": None}),
    ("cerrada", "resolver", NoEsPropietario, {"propietario": None}),
    ("cerrada", "cambiar_datos", NoEsPropietario, {"propietario": None}),
    ("cancelada", "iniciar", NoEsPropietario, {"propietario": None}),
    ("cancelada", "cambiar_datos", NoEsPropietario, {"propietario": None}),
    ("cerrada", "comentar", IncidenciaFinalizada, {}),
    ("cancelada", "nota interna", IncidenciaFinalizada, {}),
]


@pytest.mark.parametrize("estado, accion, error, detalle", STATE_CONFLICTS,
                         ids=[f"{e}-{a}" for e, a, _, _ in STATE_CONFLICTS])
def test_what_the_state_does_not_allow_is_refused_and_writes_nothing(rs, outbox, estado, accion, error, detalle):
    incidencia_id = rs.en_estado(estado)
    before = rs.raw(incidencia_id)
    with pytest.raises(ConflictoDeEstado) as refused:
        ACCIONES[accion](rs, rs.actor("a1"), incidencia_id)
    assert type(refused.value) is error and refused.value.estado_actual == Estado(estado)
    assert {name: getattr(refused.value, name) for name in detalle} == detalle
    assert rs.raw(incidencia_id) == before and outbox.events() == []


def test_an_internal_note_stays_here_and_a_public_comment_is_recorded_as_comentada(rs, team, outbox):
    with_note = services.comentar(rs.incidencias, rs.actor("e1"), team, " Proveedor lento ", True)
    [nota] = with_note.comentarios
    assert nota.to_dict() == {"id": nota.id, "autor": {"id": "e1", "rol": "agente", "nombre": "Eva Soporte"},
                              "texto": "Proveedor lento", "interna": True, "creado_en": instant(rs)}
    assert with_note.version == 2 and rs.get(team).comentarios == [nota] and outbox.events() == []
    rs.clock.advance(minutes=1)
    with_comment = services.comentar(rs.incidencias, rs.actor("e1"), team, "Le llamamos mañana", False)
    [publico] = [c for c in with_comment.comentarios if not c.interna]
    assert [c.id for c in rs.get(team).comentarios] == [nota.id, publico.id]
    assert outbox.take() == [("incidencia.comentada", {"incidencia_id": team, "comentario": {
        "id": publico.id, "autor": {"id": "e1", "rol": "agente", "nombre": "Eva Soporte"},
        "texto": "Le llamamos mañana", "interna": False, "creado_en": instant(rs)}})]
    # Later snapshots carry the public comment only.
    services.iniciar(rs.incidencias, rs.actor("e1"), team)
    [(tipo, datos)] = outbox.events()
    assert (tipo, datos["incidencia"]["comentarios"]) == ("incidencia.en_curso", [publico.to_dict()])


def test_changing_the_data_records_what_changed(rs, team, outbox):
    changed = services.cambiar_datos(rs.incidencias, rs.actor("e1"), team,
                                     {"prioridad": "critica", "categoria": " sonido "})
    assert (changed.prioridad, changed.categoria, changed.version, changed.estado) == (
        Prioridad.CRITICA, "sonido", 3, Estado.ASIGNADA)
    assert changed.historial[-1].to_dict() == {
        "de": "asignada", "a": "asignada", "por": {"id": "e1", "rol": "agente"}, "en": instant(rs), "motivo": None,
        "cambios": {"prioridad": {"de": "media", "a": "critica"}, "categoria": {"de": None, "a": "sonido"}}}
    assert rs.raw(team)["prioridad_rank"] == 3
    assert outbox.take() == [snapshot_event("incidencia.actualizada", changed)]
    cleared = services.cambiar_datos(rs.incidencias, rs.actor("s1"), team, {"categoria": None})
    assert (cleared.categoria, cleared.prioridad, cleared.version) == (None, Prioridad.CRITICA, 4)
    assert cleared.historial[-1].cambios == {"categoria": {"de": "sonido", "a": None}}
    assert outbox.take() == [snapshot_event("incidencia.actualizada", cleared)]


@pytest.mark.parametrize("cambios", [{"prioridad": "media"}, {"categoria": None}, {}])
def test_changing_the_data_to_what_it_is_writes_nothing(rs, team, outbox, cambios):
    before, raw = rs.get(team), rs.raw(team)
    assert services.cambiar_datos(rs.incidencias, rs.actor("e1"), team, cambios) == before
    assert rs.raw(team) == raw and outbox.events() == []


# -- retries of keyed requests ------------------------------------------------------------------------
# Every employee's POST with an Idempotency-Key: its key is stored in the
# write of the change; the retry changes nothing and records no event; the
# key reused for another request to the incident is refused.
KEYED: dict[str, tuple[str, Callable[..., Incidencia]]] = {
    "asignar": ("abierta", lambda rs, i, k, otro=None: services.asignar(
        rs.incidencias, rs.empleados, rs.actor("s1"), i, otro or "e1", PORTAL, k)),
    "iniciar": ("asignada", lambda rs, i, k, otro=None: services.iniciar(rs.incidencias, rs.actor("e1"), i, k)),
    "resolver": ("en_curso", lambda rs, i, k, otro=None: services.resolver(
        rs.incidencias, rs.actor("e1"), i, otro or "Hecho", k)),
    "comentar": ("en_curso", lambda rs, i, k, otro=None: services.comentar(
        rs.incidencias, rs.actor("e1"), i, otro or "Mirándolo", False, k)),
    "nota interna": ("en_curso", lambda rs, i, k, otro=None: services.comentar(
        rs.incidencias, rs.actor("e1"), i, otro or "Proveedor lento", True, k)),
}
KEYED_EVENTS = {"asignar": ["incidencia.asignada"], "iniciar": ["incidencia.en_curso"],
                "resolver": ["incidencia.resuelta"], "comentar": ["incidencia.comentada"], "nota interna": []}


def _peticion(accion: str, incidencia_id: str, sent: Any = "a"):
    return keyed("k-1", "s1" if accion == "asignar" else "e1", (accion, incidencia_id, sent))


@pytest.mark.parametrize("accion", KEYED)
def test_a_retried_staff_request_is_applied_once_and_answered_with_the_incident_as_it_is(rs, team, outbox, accion):
    estado, act = KEYED[accion]
    incidencia_id = rs.en_estado(estado)
    first = act(rs, incidencia_id, _peticion(accion, incidencia_id))
    assert outbox.tipos() == KEYED_EVENTS[accion]
    outbox.clear()
    rs.clock.advance(minutes=1)
    retry = _peticion(accion, incidencia_id)
    again = act(rs, incidencia_id, retry)
    assert retry.replayed and again == first == rs.get(incidencia_id)
    assert outbox.events() == [] and [r["key"] for r in rs.raw(incidencia_id)[FIELD]] == ["k-1"]


@pytest.mark.parametrize("accion", KEYED)
def test_a_staff_key_reused_for_another_request_is_refused_and_writes_nothing(rs, team, outbox, accion):
    estado, act = KEYED[accion]
    incidencia_id = rs.en_estado(estado)
    act(rs, incidencia_id, _peticion(accion, incidencia_id))
    before = rs.raw(incidencia_id)
    outbox.clear()
    with pytest.raises(KeyReused):
        act(rs, incidencia_id, _peticion(accion, incidencia_id, sent="b"),
            "e2" if accion == "asignar" else "Otra cosa")
    assert rs.raw(incidencia_id) == before and outbox.events() == []


def test_each_employee_has_keys_of_their_own_on_one_incident(rs, team, outbox):
    incidencia_id = rs.en_estado("en_curso")
    services.comentar(rs.incidencias, rs.actor("e1"), incidencia_id, "hola", False, keyed("mismo", "e1", "hola"))
    rs.clock.advance(minutes=1)  # comments are ordered by time, then by their random id
    services.comentar(rs.incidencias, rs.actor("s1"), incidencia_id, "adiós", False, keyed("mismo", "s1", "adiós"))
    assert [c.texto for c in rs.get(incidencia_id).comentarios] == ["hola", "adiós"]
    assert outbox.tipos() == ["incidencia.comentada"] * 2


def test_a_keyed_assignment_to_whom_has_it_already_records_the_key_and_nothing_else(rs, team, outbox):
    before = rs.get(team)
    first = keyed("k-1", "s1", "e1")
    assert services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), team, "e1", PORTAL, first) == before
    assert not first.replayed and outbox.events() == [] and rs.get(team) == before
    with pytest.raises(KeyReused):
        services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), team, "e2", PORTAL, keyed("k-1", "s1", "e2"))
    assert rs.holder(team) == "e1"


# A retry is answered with the incident as it is now, so it is refused
# exactly when the same request without a key would be: the permission check
# runs before the replay decision.
AGENT_KEYED: dict[str, tuple[str, Callable[..., Incidencia]]] = {
    "tomar": ("abierta", lambda rs, actor, i, k=None: services.asignar(
        rs.incidencias, rs.empleados, actor, i, None, PORTAL, k)),
    "iniciar": ("asignada", lambda rs, actor, i, k=None: services.iniciar(rs.incidencias, actor, i, k)),
    "resolver": ("en_curso", lambda rs, actor, i, k=None: services.resolver(rs.incidencias, actor, i, "Hecho", k)),
    "comentar": ("en_curso", lambda rs, actor, i, k=None: services.comentar(
        rs.incidencias, actor, i, "Mirándolo", False, k)),
    "nota interna": ("en_curso", lambda rs, actor, i, k=None: services.comentar(
        rs.incidencias, actor, i, "Proveedor lento", True, k)),
}
AGENT_REFUSAL = {"tomar": "Un agente solo puede tomar incidencias sin asignar"}


def _reassign(rs: ResolucionSide, incidencia_id: str, empleado_id: str) -> None:
    """A supervisor gives the incident to ``empleado_id`` (a resolved one is reopened by its customer first)."""
    if rs.get(incidencia_id).estado == Estado.RESUELTA:
        rs.desde_apertura(incidencia_id, "reabierta")
    services.asignar(rs.incidencias, rs.empleados, rs.actor("s1"), incidencia_id, empleado_id, PORTAL)
    assert rs.holder(incidencia_id) == empleado_id


@pytest.mark.parametrize("accion", AGENT_KEYED)
def test_an_agent_whose_incident_was_reassigned_is_refused_its_retry_as_a_new_request_would_be(
        rs, team, outbox, accion):
    estado, act = AGENT_KEYED[accion]
    incidencia_id = rs.en_estado(estado)
    act(rs, rs.actor("e1"), incidencia_id, keyed("k-1", "e1", accion))
    rs.clock.advance(minutes=1)
    _reassign(rs, incidencia_id, "e2")
    before = rs.raw(incidencia_id)
    outbox.clear()
    detail = AGENT_REFUSAL.get(accion, "Solo puede actuar sobre las incidencias asignadas a usted")
    with pytest.raises(Forbidden) as unkeyed:
        act(rs, rs.actor("e1"), incidencia_id)
    forbidden(unkeyed.value, detail)
    retry = keyed("k-1", "e1", accion)
    with pytest.raises(Forbidden) as refused:
        act(rs, rs.actor("e1"), incidencia_id, retry)
    forbidden(refused.value, detail)
    assert not retry.replayed and rs.raw(incidencia_id) == before and outbox.events() == []


def test_a_supervisor_who_lost_the_role_is_refused_the_retry_of_a_comment(rs, team, outbox):
    comentario = keyed("k-1", "s1", "Lo miro yo")
    services.comentar(rs.incidencias, rs.actor("s1"), team, "Lo miro yo", False, comentario)
    before = rs.raw(team)
    outbox.clear()
    ahora_agente = Actor("s1", "agente", "Sara Jefa")
    retry = keyed("k-1", "s1", "Lo miro yo")
    with pytest.raises(Forbidden) as refused:
        services.comentar(rs.incidencias, ahora_agente, team, "Lo miro yo", False, retry)
    forbidden(refused.value, "Solo puede actuar sobre las incidencias asignadas a usted")
    assert not retry.replayed and rs.raw(team) == before and outbox.events() == []


def test_the_assignee_still_gets_the_replay_of_their_request(rs, team, outbox):
    first = services.iniciar(rs.incidencias, rs.actor("e1"), team, keyed("k-1", "e1", "iniciar"))
    outbox.clear()
    retry = keyed("k-1", "e1", "iniciar")
    assert services.iniciar(rs.incidencias, rs.actor("e1"), team, retry) == first
    assert retry.replayed and outbox.events() == []


# -- what apertura sent ------------------------------------------------------------------------------

def test_an_arriving_incident_with_nothing_parked_is_stored_and_assigned_in_one_write(rs, outbox):
    rs.registrar("e1")
    incidencia = nueva_incidencia(rs.clock.now)
    snapshot = apertura_events.snapshot("incidencia.abierta", incidencia).datos["incidencia"]
    seen = []
    stored = services.replicar_cambio(rs.incidencias, rs.empleados, snapshot,
                                      lambda i: seen.append((i, rs.get(i).estado, rs.holder(i))), PORTAL)
    assert seen == [(incidencia.id, Estado.ASIGNADA, "e1")]
    assigned = rs.get(incidencia.id)
    assert stored == assigned and (assigned.estado, assigned.asignada_a) == (Estado.ASIGNADA, ref("e1"))
    assert rs.incidencias.collection.get(incidencia.id)["_rev"] == 1  # one write: the insert
    assert outbox.events() == [snapshot_event("incidencia.asignada", assigned)]
    assert rs.incidencias.load_of(["e1"]) == {"e1": 1}


def test_an_arriving_incident_with_events_parked_is_stored_they_are_replayed_and_then_it_is_assigned(rs, outbox):
    rs.registrar("e1")
    incidencia = nueva_incidencia(rs.clock.now)
    snapshot = apertura_events.snapshot("incidencia.abierta", incidencia).datos["incidencia"]
    seen = []
    merged = services.replicar_cambio(rs.incidencias, rs.empleados, snapshot,
                                      lambda i: seen.append((i, rs.get(i).estado, rs.holder(i))), PORTAL,
                                      aparcados=lambda i: i == incidencia.id)
    assert seen == [(incidencia.id, Estado.ABIERTA, None)]  # replayed before the assignment
    assigned = rs.get(incidencia.id)
    assert merged == assigned and (assigned.estado, assigned.asignada_a) == (Estado.ASIGNADA, ref("e1"))
    assert outbox.events() == [snapshot_event("incidencia.asignada", assigned)]


def test_a_cancellation_parked_before_its_incident_arrived_wins_over_the_assignment(rs, outbox):
    rs.registrar("e1")
    incidencia = nueva_incidencia(rs.clock.now)
    solicitud = apertura_events.cancelacion_solicitada(incidencia, "Me equivoqué", rs.clock.now)
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        services.aplicar_cancelacion(rs.incidencias, incidencia.id, "c1", "Me equivoqué")
    assert refused.value.incidencia_id == incidencia.id
    rs.aparcados.park(incidencia.id, solicitud)  # what the handler does on IncidenciaNoEncontrada
    handlers = ResolucionHandlers(Components(settings=None, store=rs.store, verifier=None,
                                             incidencias=rs.incidencias, empleados=rs.empleados,
                                             aparcados=rs.aparcados, respuestas=RespuestaRepository(rs.store),
                                             etiquetas=EtiquetaRepository(rs.store),
                                             politicas=PoliticaSlaStore(rs.store), notificaciones=NotificacionEquipoRepository(rs.store)))
    snapshot = apertura_events.snapshot("incidencia.abierta", incidencia).datos["incidencia"]
    services.replicar_cambio(rs.incidencias, rs.empleados, snapshot, handlers.replay_parked, PORTAL,
                             rs.aparcados.any_for)
    cancelled = rs.get(incidencia.id)
    assert (cancelled.estado, cancelled.asignada_a, cancelled.version) == (Estado.CANCELADA, None, 2)
    assert cancelled.historial[-1].to_dict() == {"de": "abierta", "a": "cancelada",
                                                 "por": {"id": "c1", "rol": "cliente"}, "en": instant(rs),
                                                 "motivo": "Me equivoqué", "cambios": None}
    assert outbox.events() == [snapshot_event("incidencia.cancelada", cancelled)]
    assert rs.aparcados.take(incidencia.id) == []


def test_an_incident_nobody_can_take_waits_and_a_replay_assigns_nothing_twice(rs, outbox):
    rs.registrar("a1")
    incidencia = nueva_incidencia(rs.clock.now)
    opened = apertura_events.snapshot("incidencia.abierta", incidencia).datos["incidencia"]
    services.replicar_cambio(rs.incidencias, rs.empleados, opened, rs.reanudadas.append, PORTAL)
    assert rs.get(incidencia.id) == incidencia and outbox.events() == []
    rs.registrar("e1")
    assert outbox.tipos() == ["incidencia.asignada"]
    assigned = rs.get(incidencia.id)
    for _ in range(2):  # the same abierta, redelivered
        assert services.replicar_cambio(rs.incidencias, rs.empleados, opened, rs.reanudadas.append, PORTAL) == assigned
    assert rs.get(incidencia.id) == assigned and outbox.tipos() == ["incidencia.asignada"]
    assert rs.reanudadas == [incidencia.id] * 3


def test_a_close_from_apertura_is_replicated_and_assigns_nothing(rs, team, outbox):
    services.resolver(rs.incidencias, rs.actor("e1"), team, "Hecho")
    outbox.clear()
    closed = rs.desde_apertura(team, "cerrada")
    assert (closed.estado, closed.version) == (Estado.CERRADA, 4)
    assert rs.get(team) == closed and rs.holder(team) == "e1" and outbox.events() == []


def test_a_malformed_snapshot_is_a_permanent_error(rs):
    with pytest.raises(PermanentError) as refused:
        services.replicar_cambio(rs.incidencias, rs.empleados, {"id": "i-roto", "version": "1"},
                                 rs.reanudadas.append, PORTAL)
    assert str(refused.value).startswith("invalid snapshot: ")
    assert rs.incidencias.get("i-roto") is None and rs.reanudadas == []


def test_a_customer_comment_from_apertura_is_merged_once(rs, team, outbox):
    services.resolver(rs.incidencias, rs.actor("e1"), team, "Hecho")
    rs.desde_apertura(team, "cerrada")  # written before the close, arriving after it
    outbox.clear()
    comentario = Comentario("cc1", Actor("c1", "cliente", "Ana Pérez"), "¿Novedades?", False, rs.clock.now)
    for _ in range(2):
        services.replicar_comentario(rs.incidencias, team, comentario)
    assert rs.get(team).comentarios == [comentario] and outbox.events() == []


def test_a_comment_on_an_incident_not_here_yet_is_not_found(rs, outbox):
    comentario = Comentario("cc1", Actor("c1", "cliente", "Ana Pérez"), "¿Novedades?", False, rs.clock.now)
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        services.replicar_comentario(rs.incidencias, "no-existe", comentario)
    assert (type(refused.value), refused.value.incidencia_id) == (IncidenciaNoEncontrada, "no-existe")
    assert rs.incidencias.collection.count(Query()) == 0


@pytest.mark.parametrize("estado", ["abierta", "asignada", "en_curso", "reabierta"])
def test_a_cancellation_is_applied_while_the_incident_is_cancellable(rs, outbox, estado):
    incidencia_id = rs.en_estado(estado)
    version = rs.get(incidencia_id).version
    rs.clock.advance(minutes=1)
    services.aplicar_cancelacion(rs.incidencias, incidencia_id, "c1", "Ya no")
    cancelled = rs.get(incidencia_id)
    assert (cancelled.estado, cancelled.version, cancelled.cerrada_en) == (Estado.CANCELADA, version + 1,
                                                                           rs.clock.now)
    assert cancelled.historial[-1].to_dict() == {"de": estado, "a": "cancelada", "por": {"id": "c1", "rol": "cliente"},
                                                 "en": instant(rs), "motivo": "Ya no", "cambios": None}
    assert outbox.events() == [snapshot_event("incidencia.cancelada", cancelled)]


@pytest.mark.parametrize("estado", ["resuelta", "cerrada", "cancelada"])
def test_a_cancellation_that_comes_too_late_is_ignored(rs, outbox, estado):
    incidencia_id = rs.en_estado(estado)
    before = rs.raw(incidencia_id)
    services.aplicar_cancelacion(rs.incidencias, incidencia_id, "c1", "Ya no")
    assert rs.raw(incidencia_id) == before and outbox.events() == []


def test_a_cancellation_of_an_incident_not_here_yet_is_not_found(rs, outbox):
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        services.aplicar_cancelacion(rs.incidencias, "no-existe", "c1", None)
    assert (type(refused.value), refused.value.incidencia_id) == (IncidenciaNoEncontrada, "no-existe")
    assert outbox.events() == []


# -- customers and employees --------------------------------------------------------------------------

def test_erasing_a_customer_anonymises_their_incidents_and_cancels_the_cancellable_ones(rs, outbox):
    por_estado = {}
    for estado in ("abierta", "en_curso", "resuelta", "cerrada"):
        rs.clock.advance(minutes=1)
        por_estado[estado] = rs.en_estado(estado)
    services.replicar_comentario(rs.incidencias, por_estado["en_curso"], Comentario(
        "cc1", Actor("c1", "cliente", "Ana Pérez"), "Llámenme al 600 000 000", False, rs.clock.now))
    otra = rs.en_estado("asignada", cliente_id="c2")
    rs.clock.advance(hours=1)

    services.borrar_cliente(rs.incidencias, "c1")

    ids = [por_estado[e] for e in ("abierta", "en_curso", "resuelta", "cerrada")]
    assert [rs.get(i).cliente for i in ids] == [Cliente("c1", "Cliente eliminado", True)] * 4
    assert [rs.get(i).estado for i in ids] == [Estado.CANCELADA, Estado.CANCELADA, Estado.RESUELTA, Estado.CERRADA]
    for incidencia_id in ids[:2]:
        assert rs.get(incidencia_id).historial[-1].to_dict() == {
            "de": rs.get(incidencia_id).historial[-2].a.value, "a": "cancelada",
            "por": {"id": "sistema", "rol": "sistema"}, "en": instant(rs), "motivo": "cuenta del cliente eliminada",
            "cambios": None}
    [comentario] = rs.get(por_estado["en_curso"]).comentarios
    assert (comentario.autor, comentario.texto) == (Actor("c1", "cliente", "Cliente eliminado"),
                                                    "Llámenme al 600 000 000")
    assert outbox.take() == [snapshot_event("incidencia.cancelada", rs.get(i)) for i in ids[:2]]
    assert rs.get(otra).cliente == Cliente("c2", "Bruno Díaz") and rs.get(otra).estado == Estado.ASIGNADA
    services.borrar_cliente(rs.incidencias, "c1")  # again: nothing more
    assert outbox.events() == []


def test_erasing_a_customer_keeps_no_fingerprint_on_their_incidents_and_a_late_retry_is_refused(rs, team, outbox):
    services.comentar(rs.incidencias, rs.actor("e1"), team, "Llamo a Ana", False, keyed("k-1", "e1", "Llamo a Ana"))
    resuelta = rs.en_estado("resuelta")
    services.comentar(rs.incidencias, rs.actor("e1"), resuelta, "¿Le va?", False, keyed("k-2", "e1", "¿Le va?"))
    ya_anonima = rs.en_estado("en_curso")
    services.comentar(rs.incidencias, rs.actor("e1"), ya_anonima, "Nota", True, keyed("k-3", "e1", "Nota"))
    rs.incidencias.update(ya_anonima, lambda i, _s: [] if i.anonimizar_cliente() else None)
    otra = rs.en_estado("en_curso", cliente_id="c2")
    services.comentar(rs.incidencias, rs.actor("e1"), otra, "Hola", False, keyed("k-4", "e1", "Hola"))
    rs.clock.advance(hours=1)

    services.borrar_cliente(rs.incidencias, "c1")

    for incidencia_id, key in ((team, "k-1"), (resuelta, "k-2"), (ya_anonima, "k-3")):
        assert [sorted(r) for r in rs.raw(incidencia_id)[FIELD]] == [["at", "key", "scope", "status"]]
        assert rs.raw(incidencia_id)[FIELD][0]["key"] == key
    assert "fingerprint" in rs.raw(otra)[FIELD][0]
    outbox.clear()
    before = rs.raw(resuelta)
    with pytest.raises(KeyReused):  # refused, not a second comment
        services.comentar(rs.incidencias, rs.actor("e1"), resuelta, "¿Le va?", False, keyed("k-2", "e1", "¿Le va?"))
    assert rs.raw(resuelta) == before and outbox.events() == []


def test_a_newer_deactivation_hands_the_employees_open_work_to_the_others(rs, outbox):
    rs.registrar("e1")
    arrived = []
    for _ in range(3):
        arrived.append(rs.llega())
        rs.clock.advance(minutes=1)  # the sweep goes oldest first
    asignada, en_curso, resuelta = arrived
    services.iniciar(rs.incidencias, rs.actor("e1"), en_curso)
    services.resolver(rs.incidencias, rs.actor("e1"), resuelta, "Hecho")
    rs.registrar("e2")
    outbox.clear()

    baja = rs.registrar("e1", activo=False)
    assert [rs.holder(i) for i in (asignada, en_curso, resuelta)] == ["e2", "e2", "e1"]
    assert [rs.get(i).estado for i in (asignada, en_curso)] == [Estado.ASIGNADA, Estado.ASIGNADA]
    assert outbox.take() == [snapshot_event("incidencia.asignada", rs.get(i)) for i in (asignada, en_curso)]
    assert rs.empleados.get("e1")["activo"] is False
    # The same event again, or an older one, changes nothing.
    services.replicar_empleado(rs.incidencias, rs.empleados, baja, PORTAL)
    rs.registrar("e1", version=1)
    assert rs.empleados.get("e1")["activo"] is False and outbox.events() == []
    # A newer one brings the employee back; they get new work again.
    rs.registrar("e1", tipo="empleado.actualizado")
    assert rs.empleados.get("e1")["activo"] is True
    assert rs.holder(rs.llega()) == "e1"


def test_an_event_older_than_the_replica_changes_nothing_and_assigns_nothing(rs, outbox):
    rs.registrar("e1")
    rs.registrar("e2")
    incidencia_id = rs.llega()
    rs.registrar("e1", tipo="empleado.actualizado", version=5)
    waiting = rs.en_estado("abierta")  # stored, not yet assigned: the sweep's to pick up
    outbox.clear()
    services.replicar_empleado(rs.incidencias, rs.empleados, rs.empleado_event("e1", activo=False, version=3), PORTAL)
    assert rs.empleados.get("e1")["activo"] is True and rs.holder(incidencia_id) == "e1"
    assert rs.get(waiting).estado == Estado.ABIERTA and outbox.events() == []


# -- statistics ----------------------------------------------------------------------------------------
# The eight ISO weeks up to the clock's (T0, Sunday 1 November 2026: week 44), oldest first.
WEEKS = [(week, f"2026-{month:02d}-{day:02d}T00:00:00.000000Z") for week, month, day in (
    (37, 9, 7), (38, 9, 14), (39, 9, 21), (40, 9, 28), (41, 10, 5), (42, 10, 12), (43, 10, 19), (44, 10, 26))]


def by_channel(**this_week: int) -> list[dict[str, Any]]:
    """The channel rows with nothing in them but ``this_week``'s counts."""
    rows = [{"semana": f"2026-W{week}", "desde": desde, "web": 0, "telefono": 0, "email": 0} for week, desde in WEEKS]
    rows[-1].update(this_week)
    return rows


NINGUNA_VALORACION = {"valoraciones": 0, "cerradas": 0, "tasa_respuesta": None, "media": None,
                      "distribucion": {str(p): 0 for p in range(1, 6)}, "por_agente": [], "por_categoria": []}
SIN_ESPERAS = {"mediana_s": None, "p90_s": None, "muestras": 0}


def periodo(rs, incidencias: int) -> dict[str, Any]:
    """The last 30 days up to the clock's now."""
    return {"desde": format_instant(rs.clock.now - timedelta(days=30)), "hasta": format_instant(rs.clock.now),
            "incidencias": incidencias, "completo": True}


def test_estadisticas_counts_by_state_priority_and_load_and_times_from_the_history(rs):
    assert services.estadisticas(rs.incidencias, rs.empleados) == {
        "periodo": periodo(rs, 0), "niveles_de_servicio": [], "satisfaccion": NINGUNA_VALORACION,
        "espera_cliente": SIN_ESPERAS,
        "por_estado": {e: 0 for e in ("abierta", "asignada", "en_curso", "esperando_cliente", "resuelta", "reabierta",
                                      "cerrada", "cancelada", "fusionada")},
        "por_prioridad": {"baja": 0, "media": 0, "alta": 0, "critica": 0},
        "carga_por_empleado": [],
        "hasta_primera_asignacion": {"mediana_s": None, "p90_s": None, "muestras": 0},
        "hasta_resolucion": {"mediana_s": None, "p90_s": None, "muestras": 0},
        "muestra": 0,
        "por_canal_y_semana": by_channel(),
    }
    rs.registrar("a1")
    rs.registrar("e9")
    rs.registrar("e9", activo=False)  # inactive: not in the load table
    waiting = rs.llega(prioridad="alta")  # nobody to take it for 10 minutes
    rs.clock.advance(minutes=10)
    rs.registrar("e1")
    rs.registrar("e2")
    rs.clock.advance(minutes=10)
    second = rs.llega(prioridad="baja")  # e2 at once
    rs.clock.advance(minutes=10)
    third = rs.llega(prioridad="critica")  # e1 at once (a tie on load)
    rs.clock.advance(minutes=10)
    services.resolver(rs.incidencias, rs.actor("e1"), waiting, "Hecho")  # 40 minutes after it was opened
    services.iniciar(rs.incidencias, rs.actor("e2"), second)
    services.aplicar_cancelacion(rs.incidencias, third, "c1", None)
    assert [rs.holder(i) for i in (waiting, second, third)] == ["e1", "e2", "e1"]

    assert services.estadisticas(rs.incidencias, rs.empleados) == {
        "periodo": periodo(rs, 3), "niveles_de_servicio": [], "satisfaccion": NINGUNA_VALORACION,
        "espera_cliente": SIN_ESPERAS,
        "por_estado": {"abierta": 0, "asignada": 0, "en_curso": 1, "esperando_cliente": 0, "resuelta": 1,
                       "reabierta": 0, "cerrada": 0, "cancelada": 1, "fusionada": 0},
        "por_prioridad": {"baja": 1, "media": 0, "alta": 1, "critica": 1},
        "carga_por_empleado": [
            {"id": "a1", "nombre": "Alba Admin", "rol": "admin", "abiertas": 0},
            {"id": "e1", "nombre": "Eva Soporte", "rol": "agente", "abiertas": 0},
            {"id": "e2", "nombre": "Luis Gómez", "rol": "agente", "abiertas": 1},
        ],
        "hasta_primera_asignacion": {"mediana_s": 0.0, "p90_s": 600.0, "muestras": 3},
        "hasta_resolucion": {"mediana_s": 2400.0, "p90_s": 2400.0, "muestras": 1},
        "muestra": 3,
        "por_canal_y_semana": by_channel(web=3),
    }


def test_estadisticas_counts_the_incidents_opened_by_channel_in_each_of_the_last_eight_weeks(rs):
    rs.llega(canal="telefono")  # this week (Sunday)
    rs.llega(canal="email")
    rs.clock.advance(hours=14)  # Monday 00:00: the next week
    rs.llega(canal="telefono")
    rs.clock.advance(weeks=-1, seconds=-1)  # Sunday 23:59:59 a week before: week 43
    rs.llega()
    rs.clock.advance(weeks=-8)  # too old to count
    rs.llega(canal="telefono")
    # Stored before the channel was recorded (no canal), on Saturday of week 44: it came in by the web.
    stored_before = rs.incidencias.to_document(nueva_incidencia(T0 - timedelta(days=1)), DatosResolucion())
    del stored_before["canal"]
    rs.incidencias.collection.insert(stored_before, [])
    rs.clock.advance(weeks=9, seconds=1)  # back to Monday 00:00 of week 45

    rows = services.estadisticas(rs.incidencias, rs.empleados)["por_canal_y_semana"]
    assert [row["semana"] for row in rows] == [f"2026-W{week}" for week in range(38, 46)]
    assert rows[-1] == {"semana": "2026-W45", "desde": "2026-11-02T00:00:00.000000Z", "web": 0, "telefono": 1,
                        "email": 0}
    assert rows[-2] == {"semana": "2026-W44", "desde": "2026-10-26T00:00:00.000000Z", "web": 1, "telefono": 1,
                        "email": 1}
    assert rows[-3] == {"semana": "2026-W43", "desde": "2026-10-19T00:00:00.000000Z", "web": 1, "telefono": 0,
                        "email": 0}
    assert all(row["web"] == row["telefono"] == row["email"] == 0 for row in rows[:-3])
