"""Service levels in incidencias_resolucion's use cases, against the
in-memory store with the fixed clock (``tests/services/conftest.py`` says
what is faked): the policy (``PUT /sla``'s use case), the targets a change
of priority takes, the lists by due instant and SLA state, the warnings
before and at a breach (each once, however many workers look), and the
choice of assignee among the equally loaded."""
from __future__ import annotations

import pytest

from common.errors import Invalid
from common.messaging import new_id
from incidencias_apertura import events as apertura_events
from incidencias_dominio import Actor, Incidencia, PoliticaSla
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_resolucion import services
from incidencias_resolucion.repository import OUTBOX, IncidenciaRepository, NotificacionEquipoRepository, empleado_replica
from tests.services.conftest import T0

pytestmark = pytest.mark.outbox(*OUTBOX)
PORTAL = "https://portal.example"
# Every day, all day (but the last minute) in UTC and no holidays: business time is wall time here.
SIEMPRE = {"zona": "UTC", "dias": [0, 1, 2, 3, 4, 5, 6], "desde": "00:00", "hasta": "23:59", "pais": None,
           "region": None, "cierres": []}
POLITICA = {"calendario": SIEMPRE,
            "por_prioridad": {"alta": {"primera_respuesta_minutos": 60, "resolucion_minutos": 240},
                              "media": {"primera_respuesta_minutos": 120, "resolucion_minutos": 480}},
            "por_categoria": {}}
STAFF = {"e1": "agente", "e2": "agente", "s1": "supervisor", "s2": "supervisor", "a1": "admin"}


@pytest.fixture
def world(store, clock):
    incidencias, empleados = IncidenciaRepository(store), empleado_replica(store)
    for n, (empleado_id, rol) in enumerate(STAFF.items(), start=1):
        empleados.apply(_empleado(empleado_id, rol, n))
    return incidencias, empleados, NotificacionEquipoRepository(store), clock


def _empleado(empleado_id: str, rol: str, version: int):
    from common.messaging import make_event
    return make_event("empleado.registrado", {
        "id": empleado_id, "nombre": empleado_id.upper(), "apellidos": "", "rol": rol, "categorias": [],
        "activo": True, "version": version, "email": f"{empleado_id}@example.com"}, "empleados")


def llega(world, prioridad: str = "alta") -> str:
    """An incident opened now with the policy's targets arrives (and is assigned)."""
    incidencias, empleados, _n, clock = world
    incidencia = Incidencia.abrir(new_id(), {"id": "c1", "nombre": "Ana"}, {"referencia": "R", "nombre": "Radio"},
                                  "La radio no enciende", "Nada", None, prioridad, clock.now,
                                  plazos=PoliticaSla.of(POLITICA).plazos_para(prioridad, None))
    snapshot = apertura_events.snapshot("incidencia.abierta", incidencia).datos["incidencia"]
    services.replicar_cambio(incidencias, empleados, snapshot, lambda _id: None, PORTAL)
    return incidencia.id


def test_an_admin_sets_the_policy_once_and_the_same_again_changes_nothing(store, outbox, clock):
    politicas = PoliticaSlaStore(store)
    assert services.politica_sla(politicas) == {**PoliticaSla.vacia().to_dict(), "version": 0, "actualizada_en": None}
    datos = {**POLITICA, "calendario": {**SIEMPRE, "cierres": []}}
    first = services.fijar_politica_sla(politicas, datos)
    assert (first["version"], first["por_prioridad"]["alta"]) == (1, POLITICA["por_prioridad"]["alta"])
    assert [(tipo, d["version"]) for tipo, d in outbox.events()] == [("sla.politica_actualizada", 1)]
    outbox.clear()
    assert services.fijar_politica_sla(politicas, datos) == first and outbox.events() == []


def test_a_calendar_only_the_whole_can_refuse_is_a_422_naming_it(store):
    politicas = PoliticaSlaStore(store)
    with pytest.raises(Invalid) as refused:
        services.fijar_politica_sla(politicas, {**POLITICA, "calendario": {**SIEMPRE, "zona": "Marte/Olimpo"}})
    assert refused.value.errores[0]["campo"] == "calendario" and services.politica_sla(politicas)["version"] == 0


def test_a_change_of_priority_takes_the_policy_targets_of_the_new_one(world):
    incidencias, _e, _n, clock = world
    incidencia_id = llega(world, "media")
    politica = PoliticaSla.of(POLITICA)
    changed = services.cambiar_datos(incidencias, Actor("s1", "supervisor"), incidencia_id, {"prioridad": "alta"},
                                     politica)
    assert changed.plazos == politica.plazos_para("alta", None)
    doc = incidencias.collection.get(incidencia_id)
    assert doc["sla_vence_en"] == "2026-11-01T11:00:00.000000Z"  # opened at 10:00, 60 minutes to answer


def test_lists_by_due_instant_and_sla_state_follow_the_clock(world):
    incidencias, _e, _n, clock = world
    alta = llega(world, "alta")
    clock.advance(minutes=1)
    media = llega(world, "media")
    clock.advance(minutes=1)
    sin_sla = llega(world, "baja")
    clock.advance(minutes=-2)
    listed = lambda **f: [i.id for i in incidencias.list(f, f.pop("orden", "antiguedad"), 0, 20)]  # noqa: E731
    assert listed(orden="vencimiento") == [alta, media]  # the one without a service level is not listed
    assert incidencias.count({}, "vencimiento") == 2 and incidencias.count({}) == 3
    assert listed(sla="en_plazo") == [alta, media]
    clock.advance(minutes=50)  # alta's first answer is at risk (48 of 60 minutes gone)
    assert (listed(sla="en_riesgo"), listed(sla="en_plazo"), listed(sla="incumplido")) == ([alta], [media], [])
    clock.advance(minutes=11)
    assert (listed(sla="incumplido"), listed(sla="en_riesgo")) == ([alta], [])
    assert sin_sla not in listed(sla="en_plazo") + listed(sla="en_riesgo") + listed(sla="incumplido")


def test_warnings_reach_the_holder_at_risk_and_the_supervisors_at_the_breach_once_each(world, outbox, store):
    incidencias, empleados, notificaciones, clock = world
    incidencia_id = llega(world, "alta")
    holder = incidencias.get(incidencia_id)[0].asignada_a.id
    outbox.clear()
    look = lambda: services.vigilar_plazos(incidencias, empleados, notificaciones, PORTAL)  # noqa: E731
    assert look() == 0
    clock.advance(minutes=49)
    assert [look(), look()] == [1, 0]  # two workers looking: one warning
    assert [(tipo, d["objetivo"]) for tipo, d in outbox.events()] == [("incidencia.sla_en_riesgo", "primera_respuesta")]
    assert [(n["empleado_id"], n["tipo"], n["mensaje"]) for n in notificaciones.list(holder, False, 0, 10)] == [
        (holder, "incidencia.sla_en_riesgo", "A «La radio no enciende» le queda poco para la primera respuesta: vence "
                                             "el 01/11/2026 a las 11:00 (UTC).")]
    outbox.clear()
    clock.advance(minutes=12)
    assert [look(), look()] == [1, 0]
    assert [(tipo, d["objetivo"]) for tipo, d in outbox.events()] == [
        ("incidencia.sla_incumplido", "primera_respuesta")]
    told = {e: [n["tipo"] for n in notificaciones.list(e, False, 0, 10)] for e in STAFF}
    assert told == {holder: ["incidencia.sla_en_riesgo"], **{e: [] for e in STAFF if e not in (holder, "s1", "s2")},
                    "s1": ["incidencia.sla_incumplido"], "s2": ["incidencia.sla_incumplido"]}
    mails = sorted(m.recipient for m in store.due_mails("2999-01-01T00:00:00Z", 100) if ":asignada:" not in m.id)
    assert mails == sorted([holder, "s1", "s2"])  # each notification's mail (besides the assignment's)
    clock.advance(hours=3, minutes=10)  # the resolution target: at risk at 13:12, run out at 14:00
    assert look() == 1
    assert [d["objetivo"] for _t, d in outbox.events()][-1] == "resolucion"


def test_an_answer_before_the_risk_means_no_warning_for_that_target(world, outbox):
    incidencias, empleados, notificaciones, clock = world
    incidencia_id = llega(world, "alta")
    holder = incidencias.get(incidencia_id)[0].asignada_a.id
    clock.advance(minutes=10)
    services.comentar(incidencias, Actor(holder, "agente", "E"), incidencia_id, "Lo miramos", False)
    outbox.clear()
    clock.advance(minutes=60)
    assert services.vigilar_plazos(incidencias, empleados, notificaciones, PORTAL) == 0
    assert outbox.events() == []


def test_among_equally_loaded_agents_the_urgent_incident_goes_to_whom_has_the_least_urgent_work(world):
    incidencias, _e, _n, clock = world
    first, second = llega(world, "alta"), llega(world, "media")  # e1 gets the first, e2 the second (loads 0, then 1/0)
    holders = {incidencias.get(i)[0].asignada_a.id: i for i in (first, second)}
    assert set(holders) == {"e1", "e2"}
    # Both hold one; the one whose incident runs out last (the media one: 12:00) takes the next.
    third = llega(world, "alta")
    assert incidencias.get(third)[0].asignada_a.id == incidencias.get(second)[0].asignada_a.id
