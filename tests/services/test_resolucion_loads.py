"""Each employee's open load in incidencias_resolucion is a named counter
(``carga:<empleado_id>``) that every write of an incident moves in the same
atomic write (``IncidenciaReplica.counter_changes``). These tests hold it to
what counting the documents gives (``recount_loads``) after every step of
random histories, in every delivery order of one incident's snapshots, and
for a store written before the counters existed (``ensure_loads``).

apertura is modelled by what it sends: it keeps its own copy of each
incident, learns resolucion's changes before it acts (as its consumers would
have), and every snapshot it ever published may be delivered again, late or
not at all yet."""
from __future__ import annotations

import copy
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from common.errors import Forbidden, Invalid
from common.messaging import make_event
from common.storage.memory import MemoryStore
from cuentas.roles import CLIENTE
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_resolucion.repository import NotificacionEquipoRepository
from incidencias_apertura import events as apertura_events
from incidencias_dominio import (
    APERTURA,
    RESOLUCION,
    SISTEMA,
    Actor,
    ConflictoDeEstado,
    EmpleadoRef,
    Estado,
    Incidencia,
    aplicar_snapshot,
)
from incidencias_replica.repository import IncidenciaNoEncontrada
from incidencias_resolucion import services
from incidencias_resolucion.bootstrap import Components
from incidencias_resolucion.handlers import ResolucionHandlers
from incidencias_resolucion.repository import (
    OUTBOX,
    DatosResolucion,
    IncidenciaRepository,
    EtiquetaRepository,
    ParkedEvents,
    RespuestaRepository,
    carga_counter,
    empleado_replica,
)
from tests.services.conftest import T0
from tests.services.incident_helpers import PRODUCTO

pytestmark = pytest.mark.outbox(*OUTBOX)
PORTAL = "https://portal.example"

STAFF = {  # id: (rol, nombre, apellidos)
    "e1": ("agente", "Eva", "Soporte"),
    "e2": ("agente", "Luis", "Gómez"),
    "e3": ("agente", "Nora", "Vidal"),
    "e4": ("agente", "Iván", "Ruiz"),
    "s1": ("supervisor", "Sara", "Jefa"),
}
AGENTES = ("e1", "e2", "e3", "e4")
SUPERVISOR = "s1"
CATEGORIAS = ("envios", "sonido")
CLIENTES = ("c1", "c2", "c3")
REFUSED = (ConflictoDeEstado, Forbidden, Invalid, IncidenciaNoEncontrada)
"""What a use case may answer to a step the history made at random: a
refusal, never a half-done write."""


def actor(empleado_id: str) -> Actor:
    rol, nombre, apellidos = STAFF[empleado_id]
    return Actor(empleado_id, rol, f"{nombre} {apellidos}")


def abrir(incidencia_id: str, cliente_id: str, categoria: str | None, en) -> Incidencia:
    """An incident as apertura opens it (abierta, version 1), with an id of
    the test's own so that every run takes the same decisions."""
    return Incidencia.abrir(incidencia_id, {"id": cliente_id, "nombre": "Cliente"}, PRODUCTO,
                            "La radio no enciende", "Desde ayer no da señal de vida.", categoria, "media", en)


def publicado(tipo: str, incidencia: Incidencia) -> dict[str, Any]:
    """The snapshot apertura's event carries."""
    return apertura_events.snapshot(tipo, incidencia).datos["incidencia"]


class Resolucion:
    """resolucion's repositories on one store, with its handlers for the
    events parked until their incident arrives."""

    def __init__(self, store: MemoryStore):
        self.store = store
        self.incidencias = IncidenciaRepository(store)
        self.empleados = empleado_replica(store)
        self.aparcados = ParkedEvents(store)
        self.handlers = ResolucionHandlers(Components(settings=None, store=store, verifier=None,
                                                      incidencias=self.incidencias, empleados=self.empleados,
                                                      aparcados=self.aparcados, respuestas=RespuestaRepository(store),
                                                      etiquetas=EtiquetaRepository(store),
                                                      politicas=PoliticaSlaStore(store), notificaciones=NotificacionEquipoRepository(store)))
        self.versions: dict[str, int] = {}

    def empleado(self, empleado_id: str, activo: bool, categorias: list[str]) -> None:
        """empleados' newest event about ``empleado_id`` arrives."""
        rol, nombre, apellidos = STAFF[empleado_id]
        version = self.versions[empleado_id] = self.versions.get(empleado_id, 0) + 1
        tipo = "empleado.baja" if not activo else "empleado.actualizado" if version > 1 else "empleado.registrado"
        event = make_event(tipo, {"id": empleado_id, "nombre": nombre, "apellidos": apellidos, "rol": rol,
                                  "categorias": categorias, "activo": activo, "version": version}, "empleados")
        services.replicar_empleado(self.incidencias, self.empleados, event, PORTAL)

    def recibe(self, snapshot: dict[str, Any]) -> None:
        """apertura's snapshot event arrives (its handler's call)."""
        services.replicar_cambio(self.incidencias, self.empleados, copy.deepcopy(snapshot),
                                 self.handlers.replay_parked, PORTAL, self.aparcados.any_for)

    def publico(self, incidencia_id: str) -> dict[str, Any] | None:
        """What resolucion's events have told apertura of the incident so far."""
        found = self.incidencias.get(incidencia_id)
        return None if found is None else found[0].to_snapshot(incluir_internas=False)

    def check_loads(self, empleado_ids) -> dict[str, int]:
        ids = sorted(empleado_ids)
        counted, recounted = self.incidencias.load_of(ids), self.incidencias.recount_loads(ids)
        assert counted == recounted, f"counters {counted} != recount {recounted}"
        return counted


class LoadsMachine(RuleBasedStateMachine):
    """Random histories of incidents between apertura and resolucion, with
    a changing staff; after every step each counter equals the recount."""

    incidencias = Bundle("incidencias")

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        clock.set(T0)
        self.rs = Resolucion(MemoryStore(outbox=OUTBOX))
        self.apertura: dict[str, Incidencia] = {}  # apertura's copy of each incident
        self.enviados: dict[str, list[dict[str, Any]]] = {}  # every snapshot apertura published, oldest first
        self.clientes = {c: c for c in CLIENTES}  # a slot's current customer; an erased one is replaced
        self.categorias: dict[str, list[str]] = {}

    # -- staff -------------------------------------------------------------------------------------
    @initialize(agentes=st.lists(st.sampled_from(AGENTES), min_size=2, max_size=4, unique=True),
                categorias=st.lists(st.lists(st.sampled_from(CATEGORIAS), max_size=2, unique=True),
                                    min_size=4, max_size=4))
    def plantilla(self, agentes, categorias):
        """Counters exact from the first write: the once-only recount of
        ``ensure_loads`` runs on the empty store, so it cannot mend anything."""
        assert self.rs.incidencias.ensure_loads() is True
        self.categorias = {e: c for e, c in zip(AGENTES, categorias)} | {SUPERVISOR: []}
        for empleado_id in (*agentes, SUPERVISOR):
            self.empleado_cambia(empleado_id, True)

    def empleado_cambia(self, empleado_id: str, activo: bool) -> None:
        self.rs.empleado(empleado_id, activo, self.categorias[empleado_id])

    @rule(empleado_id=st.sampled_from((*AGENTES, SUPERVISOR)))
    def baja(self, empleado_id):
        """Deactivated: their open work goes to the others."""
        self.empleado_cambia(empleado_id, False)

    @rule(empleado_id=st.sampled_from((*AGENTES, SUPERVISOR)))
    def alta(self, empleado_id):
        """Registered, or back after a deactivation: what waits is assigned again."""
        self.empleado_cambia(empleado_id, True)

    # -- apertura ------------------------------------------------------------------------------------
    def publica(self, incidencia_id: str, tipo: str, llega: bool) -> None:
        snapshot = publicado(tipo, self.apertura[incidencia_id])
        self.enviados[incidencia_id].append(snapshot)
        if llega:
            self.rs.recibe(snapshot)

    def al_dia(self, incidencia_id: str) -> Incidencia:
        """apertura's copy once resolucion's events about it have arrived there."""
        ahora = self.rs.publico(incidencia_id)
        if ahora is not None:
            self.apertura[incidencia_id] = aplicar_snapshot(self.apertura[incidencia_id], ahora,
                                                            conservar_internas=False)[0]
        return self.apertura[incidencia_id]

    @rule(target=incidencias, cliente=st.sampled_from(CLIENTES),
          categoria=st.sampled_from((None, *CATEGORIAS, "pantallas")), llega=st.booleans())
    def abre(self, cliente, categoria, llega):
        """A customer opens an incident; its abierta arrives now, or later (``llega``)."""
        self.clock.advance(minutes=1)
        incidencia_id = f"i{len(self.apertura) + 1}"
        self.apertura[incidencia_id] = abrir(incidencia_id, self.clientes[cliente], categoria, self.clock.now)
        self.enviados[incidencia_id] = []
        self.publica(incidencia_id, "incidencia.abierta", llega)
        return incidencia_id

    @rule(incidencia_id=incidencias)
    def entrega_la_ultima(self, incidencia_id):
        """apertura's newest snapshot arrives: the first time, or again."""
        self.rs.recibe(self.enviados[incidencia_id][-1])

    @rule(incidencia_id=incidencias, cual=st.integers(0, 3))
    def entrega_una_vieja(self, incidencia_id, cual):
        """An older snapshot of apertura's arrives late (the newest if there is only one)."""
        enviados = self.enviados[incidencia_id]
        self.rs.recibe(enviados[max(0, len(enviados) - 2 - cual)])

    @rule(incidencia_id=incidencias, llega=st.booleans())
    def reabre(self, incidencia_id, llega):
        """The customer rejects the solution (only a resuelta one)."""
        incidencia = self.al_dia(incidencia_id)
        if incidencia.estado == Estado.RESUELTA:
            self.clock.advance(minutes=1)
            incidencia.reabrir(APERTURA, "Sigue sin encender", Actor(incidencia.cliente.id, CLIENTE), self.clock.now)
            self.publica(incidencia_id, "incidencia.reabierta", llega)

    @rule(incidencia_id=incidencias, llega=st.booleans())
    def cierra(self, incidencia_id, llega):
        """The customer accepts the solution (only a resuelta one)."""
        incidencia = self.al_dia(incidencia_id)
        if incidencia.estado == Estado.RESUELTA:
            self.clock.advance(minutes=1)
            incidencia.cerrar(APERTURA, Actor(incidencia.cliente.id, CLIENTE), self.clock.now)
            self.publica(incidencia_id, "incidencia.cerrada", llega)

    @rule(incidencia_id=incidencias, ahora=st.integers(0, 2))
    def cancelacion(self, incidencia_id, ahora):
        """The customer's request to cancel arrives (parked if the incident
        has not); one draw in three, so that most incidents live longer."""
        if ahora:
            return
        event = apertura_events.cancelacion_solicitada(self.apertura[incidencia_id], "Ya no", self.clock.now)
        self.rs.handlers.on_cancellation_request(event)

    @rule(slot=st.sampled_from(CLIENTES), ahora=st.integers(0, 3))
    def borra_cliente(self, slot, ahora):
        """A customer's erasure (one draw in four): resolucion cancels what
        it owns, apertura closes the resuelta ones; the slot gets a new customer."""
        if ahora:
            return
        cliente_id = self.clientes[slot]
        services.borrar_cliente(self.rs.incidencias, cliente_id)
        for incidencia_id in self.apertura:
            incidencia = self.al_dia(incidencia_id)
            if incidencia.cliente.id == cliente_id:
                incidencia.anonimizar_cliente()
                if incidencia.estado == Estado.RESUELTA:
                    incidencia.cerrar(APERTURA, SISTEMA, self.clock.now)
                    self.publica(incidencia_id, "incidencia.cerrada", True)
        self.clientes[slot] = f"{slot}.{len(self.apertura)}"

    # -- resolucion's own steps --------------------------------------------------------------------------
    def holder(self, incidencia_id: str) -> str | None:
        found = self.rs.incidencias.get(incidencia_id)
        return None if found is None or found[0].asignada_a is None else found[0].asignada_a.id

    @rule(incidencia_id=incidencias, empleado_id=st.sampled_from((*AGENTES, SUPERVISOR)), by_hand=st.booleans())
    def asigna(self, incidencia_id, empleado_id, by_hand):
        """A supervisor gives it to an employee, or an agent takes it (``by_hand`` false)."""
        quien = SUPERVISOR if by_hand else empleado_id
        try:
            services.asignar(self.rs.incidencias, self.rs.empleados, actor(quien), incidencia_id, empleado_id, PORTAL)
        except REFUSED:
            pass

    @rule(incidencia_id=incidencias, by_supervisor=st.booleans())
    def inicia(self, incidencia_id, by_supervisor):
        quien = SUPERVISOR if by_supervisor else (self.holder(incidencia_id) or AGENTES[0])
        try:
            services.iniciar(self.rs.incidencias, actor(quien), incidencia_id)
        except REFUSED:
            pass

    @rule(incidencia_id=incidencias, by_supervisor=st.booleans())
    def resuelve(self, incidencia_id, by_supervisor):
        quien = SUPERVISOR if by_supervisor else (self.holder(incidencia_id) or AGENTES[0])
        self.clock.advance(minutes=1)
        try:
            services.resolver(self.rs.incidencias, actor(quien), incidencia_id, "Cambie las pilas")
        except REFUSED:
            pass

    @rule()
    def reparte(self):
        """The periodic sweep."""
        services.repartir_pendientes(self.rs.incidencias, self.rs.empleados, PORTAL)

    # -- the property ------------------------------------------------------------------------------------
    @invariant()
    def cada_carga_es_el_recuento(self):
        loads = self.rs.check_loads(STAFF)
        assert all(n >= 0 for n in loads.values()), loads


def test_every_load_counter_equals_the_recount_after_every_step(clock):
    run_state_machine_as_test(lambda: LoadsMachine(clock),
                              settings=settings(max_examples=200, stateful_step_count=60, deadline=None))


# -- one incident's snapshots, in every order ------------------------------------------------------------

def una_vida() -> list[dict[str, Any]]:
    """What apertura publishes in one incident's life: abierta (v1); after
    resolucion gave it to e2 and e2 resolved it, reabierta (v4); after e2
    again, cerrada (v7)."""
    incidencia = abrir("i1", "c1", None, T0)
    e2, agente = EmpleadoRef("e2", "Luis Gómez"), actor("e2")
    enviados = [publicado("incidencia.abierta", incidencia)]
    at = iter(T0 + timedelta(minutes=m) for m in range(1, 10))
    incidencia.asignar(RESOLUCION, e2, SISTEMA, next(at))
    incidencia.resolver(RESOLUCION, "Cambie las pilas", agente, next(at))
    incidencia.reabrir(APERTURA, "Sigue sin encender", Actor("c1", CLIENTE), next(at))
    enviados.append(publicado("incidencia.reabierta", incidencia))
    incidencia.asignar(RESOLUCION, e2, SISTEMA, next(at))
    incidencia.resolver(RESOLUCION, "Cambie el altavoz", agente, next(at))
    incidencia.cerrar(APERTURA, Actor("c1", CLIENTE), next(at))
    enviados.append(publicado("incidencia.cerrada", incidencia))
    return enviados


def ordenes(n: int) -> list[tuple[int, ...]]:
    """Every order of ``n`` deliveries, each of them once or twice."""
    found: set[tuple[int, ...]] = set()
    for twice in itertools.product((1, 2), repeat=n):
        found |= set(itertools.permutations([i for i in range(n) for _ in range(twice[i])]))
    return sorted(found)


def test_one_incidents_snapshots_in_every_order_leave_every_load_equal_to_the_recount(clock):
    enviados = una_vida()
    orders = ordenes(len(enviados))
    assert len(orders) == 222
    for order in orders:
        rs = Resolucion(MemoryStore(outbox=OUTBOX))
        for empleado_id in ("e1", "e2"):
            rs.empleado(empleado_id, True, [])
        for step, i in enumerate(order):
            rs.recibe(enviados[i])
            counted = rs.incidencias.load_of(["e1", "e2"])
            assert counted == rs.incidencias.recount_loads(["e1", "e2"]), (order, step, counted)
        final = rs.incidencias.get("i1")[0]
        assert (final.estado, final.version) == (Estado.CERRADA, 7), order
        assert rs.incidencias.load_of(["e1", "e2"]) == rs.incidencias.recount_loads(["e1", "e2"]) \
            == {"e1": 0, "e2": 0}, order


# -- a store written before the counters existed ------------------------------------------------------------

def written_before_the_counters(store: MemoryStore, holders: dict[str, list[str]]) -> list[str]:
    """Incidents stored the way the previous version did, moving no counter:
    ``holders`` maps each state to whom they are assigned (None: nobody)."""
    old = IncidenciaRepository(store)
    ids = []
    for estado, empleados in holders.items():
        for empleado_id in empleados:
            incidencia = abrir(f"i{len(ids) + 1}", "c1", None, T0)
            ref = None if empleado_id is None else EmpleadoRef(empleado_id, " ".join(STAFF[empleado_id][1:]))
            if ref is not None:
                incidencia.asignar(RESOLUCION, ref, SISTEMA, T0)
            if estado == "en_curso":
                incidencia.iniciar(RESOLUCION, actor(empleado_id), T0)
            if estado in ("resuelta", "reabierta", "cerrada"):
                incidencia.resolver(RESOLUCION, "Hecho", actor(empleado_id), T0)
            if estado == "reabierta":
                incidencia.reabrir(APERTURA, "Otra vez", Actor("c1", CLIENTE), T0)
            if estado == "cerrada":
                incidencia.cerrar(APERTURA, Actor("c1", CLIENTE), T0)
            assert incidencia.estado == Estado(estado)
            old.collection.insert(old.to_document(incidencia, DatosResolucion()))
            ids.append(incidencia.id)
    return ids


OLD_STORE = {"abierta": [None], "asignada": ["e1", "e1", "e2"], "en_curso": ["e1"], "reabierta": ["e2"],
             "resuelta": ["e3"], "cerrada": ["e3"]}
STAFF_IDS = ["e1", "e2", "e3", "e4"]


def test_a_store_written_before_the_counters_is_recounted_once_then_the_counters_are_kept(memory_store):
    store = memory_store(*OUTBOX)
    written_before_the_counters(store, OLD_STORE)
    assert store.counters([carga_counter(e) for e in STAFF_IDS]) == {carga_counter(e): 0 for e in STAFF_IDS}

    incidencias = IncidenciaRepository(store)
    expected = {"e1": 3, "e2": 2, "e3": 0, "e4": 0}
    assert incidencias.recount_loads(STAFF_IDS) == expected
    assert incidencias.load_of(STAFF_IDS) == expected

    # From now on the counters are the truth: neither this process nor the
    # next one counts again.
    store.set_counters({carga_counter("e1"): 42})
    assert incidencias.load_of(STAFF_IDS) == {**expected, "e1": 42}
    another = IncidenciaRepository(store)
    assert another.ensure_loads() is False
    assert another.load_of(STAFF_IDS) == {**expected, "e1": 42}


def test_a_release_written_before_the_first_recount_still_leaves_the_recount(memory_store, clock):
    """A process of the new version on an old store resolves an incident
    (moving the counter from the zero the old version left) before anything
    asked for a load; the recount that follows must still give the truth."""
    store = memory_store(*OUTBOX)
    [held] = written_before_the_counters(store, {"asignada": ["e3"]})
    incidencias = IncidenciaRepository(store)
    services.resolver(incidencias, actor("e3"), held, "Hecho")
    assert incidencias.recount_loads(["e3"]) == {"e3": 0}
    assert incidencias.load_of(["e3"]) == {"e3": 0}
