"""incidencias_apertura's use cases (incidencias_apertura/services.py) against
the in-memory store: what a customer does with their incidents, and what the
events from incidencias_resolucion and clientes make happen here.

resolucion's changes arrive the way its events carry them: the test takes the
step on apertura's own copy with the domain and hands the snapshot to
``replicar_cambio``, as the handler does."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from common.errors import NotFound
from common import idempotency
from common.idempotency import FIELD, MAX_KEYS, KeyInProgress, KeyReused
from common.messaging import Event, PermanentError, make_event
from common.storage import Query, StorageError
from common.tokens import Principal
from cuentas.personal import PersonalReplica
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_apertura import services
from incidencias_apertura.bootstrap import Components
from incidencias_apertura.handlers import AperturaHandlers
from incidencias_apertura.repository import (
    OUTBOX,
    ClienteReplica,
    DatosApertura,
    IncidenciaRepository,
    NotificacionRepository,
)
from incidencias_dominio import (
    Actor,
    Canal,
    Cliente,
    Comentario,
    ConflictoDeEstado,
    EmpleadoRef,
    Estado,
    Incidencia,
    IncidenciaFinalizada,
    NoEsPropietario,
    Prioridad,
    Producto,
    format_instant,
)
from incidencias_replica.repository import IncidenciaNoEncontrada
from incidencias_resolucion import events as resolucion_events
from tests.services.incident_helpers import EVA, EVA_ACTOR, NOMBRES, SOLUCION, avanzar, sin_rev
from tests.services.keyed import keyed

pytestmark = pytest.mark.outbox(*OUTBOX)

ANA = Actor("c1", "cliente", "Ana Pérez")
ANA_EN_CLIENTES = {"id": "c1", "nombre": "Ana", "apellidos": "Pérez"}  # what cliente.* says of her
PORTAL = "https://portal.example"
TITULO = "La radio no enciende"


def cuerpo(**overrides: Any) -> dict[str, Any]:
    """An opening request as the schema hands it over (prioridad defaulted)."""
    datos = {"titulo": TITULO, "descripcion": "Desde ayer no da señal de vida.",
             "producto": {"referencia": "RAD-100", "nombre": "Radio portátil"}, "prioridad": "media"}
    datos.update(overrides)
    return datos


def cliente(cliente_id: str = "c1") -> dict[str, str]:
    return {"id": cliente_id, "nombre": NOMBRES[cliente_id]}


def abrir_con(key: str, cliente_id: str = "c1", **datos: Any):
    """The keyed request that opens ``cuerpo(**datos)``, as the HTTP layer builds it."""
    return keyed(key, cliente_id, ("POST", "/incidencias", cuerpo(**datos)), 201)


class Apertura:
    """apertura's repositories on the test's store, and what resolucion would send."""

    def __init__(self, store, clock):
        self.store = store
        self.clock = clock
        self.incidencias = IncidenciaRepository(store)
        self.notificaciones = NotificacionRepository(store)
        self.clientes = ClienteReplica(store)

    def abrir(self, cliente_id: str = "c1", key: str | None = None, **datos: Any) -> Incidencia:
        return services.abrir_incidencia(self.incidencias, cliente(cliente_id), cuerpo(**datos),
                                         abrir_con(key, cliente_id, **datos) if key else None)[0]

    def desde_resolucion(self, incidencia_id: str, *pasos: str) -> list[Event]:
        """resolucion takes ``pasos``, a minute apart; each snapshot event is replicated here."""
        delivered = []
        for paso in pasos:
            self.clock.advance(minutes=1)
            incidencia = self.get(incidencia_id)
            event = resolucion_events.snapshot(avanzar(incidencia, paso, self.clock.now), incidencia)
            services.replicar_cambio(self.incidencias, self.notificaciones, self.clientes, PORTAL, event,
                                     event.datos["incidencia"])
            delivered.append(event)
        return delivered

    def llevar_a(self, estado: str, cliente_id: str = "c1") -> str:
        """A new incident of ``cliente_id`` brought to ``estado``."""
        self.clock.advance(minutes=1)
        incidencia_id = self.abrir(cliente_id).id
        actor = Actor(cliente_id, "cliente", NOMBRES[cliente_id])
        pasos = {"abierta": (), "asignada": ("asignada",), "en_curso": ("asignada", "en_curso"),
                 "cancelada": ("cancelada",)}.get(estado, ("asignada", "resuelta"))
        self.desde_resolucion(incidencia_id, *pasos)
        self.clock.advance(minutes=1)
        if estado == "cerrada":
            services.cerrar(self.incidencias, actor, incidencia_id)
        elif estado == "reabierta":
            services.reabrir(self.incidencias, actor, incidencia_id, "Sigue igual")
        assert self.get(incidencia_id).estado.value == estado
        return incidencia_id

    def get(self, incidencia_id: str) -> Incidencia:
        return self.incidencias.get(incidencia_id)[0]

    def raw(self, incidencia_id: str) -> dict[str, Any]:
        return self.incidencias.collection.get(incidencia_id)

    def count(self) -> int:
        return self.incidencias.collection.count(Query())

    def notas(self, cliente_id: str = "c1") -> list[dict[str, Any]]:
        return [sin_rev(n) for n in self.notificaciones.list(cliente_id, False, 0, 100)]


@pytest.fixture
def ap(store, clock) -> Apertura:
    return Apertura(store, clock)


def instant(ap: Apertura) -> str:
    return format_instant(ap.clock.now)


# -- opening -----------------------------------------------------------------------------------

def test_opening_stores_the_incident_and_records_incidencia_abierta(ap, outbox):
    incidencia, side = services.abrir_incidencia(ap.incidencias, cliente(), cuerpo(
        titulo="  La radio no enciende \n", descripcion="\tDesde ayer. ", categoria="sonido", prioridad="alta"), None)
    assert (incidencia.estado, incidencia.version, incidencia.titulo, incidencia.descripcion, incidencia.categoria,
            incidencia.prioridad) == (Estado.ABIERTA, 1, TITULO, "Desde ayer.", "sonido", Prioridad.ALTA)
    assert incidencia.cliente == Cliente("c1", "Ana Pérez")
    assert incidencia.producto == Producto("RAD-100", "Radio portátil", None)
    assert incidencia.creada_en == incidencia.actualizada_en == ap.clock.now
    assert (incidencia.asignada_a, incidencia.comentarios, incidencia.resolucion) == (None, [], None)
    assert [e.to_dict() for e in incidencia.historial] == [
        {"de": None, "a": "abierta", "por": {"id": "c1", "rol": "cliente"}, "en": instant(ap), "motivo": None,
         "cambios": None}]
    assert side == DatosApertura(None, None, None)
    assert ap.incidencias.get(incidencia.id) == (incidencia, side)
    assert outbox.events() == [("incidencia.abierta", {"incidencia": incidencia.to_snapshot(incluir_internas=False)})]
    [message] = outbox.messages()
    assert (message.origen, message.ocurrido_en) == ("incidencias_apertura", "2026-11-01T10:00:00.000000Z")


def test_the_event_is_part_of_the_write_that_stores_the_incident(memory_store):
    # A store not told that incidencias carries an outbox refuses the write, event and incident alike.
    bare = memory_store()
    incidencias = IncidenciaRepository(bare)
    with pytest.raises(StorageError):
        services.abrir_incidencia(incidencias, cliente(), cuerpo(), None)
    assert incidencias.collection.count(Query()) == 0 and bare.pending_events() == []


@pytest.mark.parametrize("producto, pedido, esperado", [
    ({"referencia": "TV-1", "nombre": "Tele"}, "PED-7", "PED-7"),
    ({"referencia": "TV-1", "nombre": "Tele", "pedido": None}, "PED-7", "PED-7"),
    ({"referencia": "TV-1", "nombre": "Tele", "pedido": "PED-1"}, "PED-7", "PED-1"),
    ({"referencia": "TV-1", "nombre": "Tele"}, None, None),
], ids=["copied", "copied over null", "the product's own wins", "none"])
def test_a_top_level_pedido_goes_into_the_product(ap, producto, pedido, esperado):
    datos = cuerpo(producto=dict(producto), **({"pedido": pedido} if pedido else {}))
    incidencia, _ = services.abrir_incidencia(ap.incidencias, cliente(), datos, None)
    assert incidencia.producto == Producto("TV-1", "Tele", esperado)
    assert ap.get(incidencia.id).producto == Producto("TV-1", "Tele", esperado)
    assert datos["producto"] == producto  # the request itself is left as it came


def test_an_employee_opens_one_for_a_customer_who_called(ap, outbox):
    services.replicar_cliente(ap.clientes, ANA_EN_CLIENTES, "1")
    incidencia, _ = services.abrir_por_telefono(ap.incidencias, ap.clientes, EVA_ACTOR, "c1", cuerpo(), None)
    assert (incidencia.canal, incidencia.cliente) == (Canal.TELEFONO, Cliente("c1", "Ana Pérez"))
    assert [e.to_dict() for e in incidencia.historial] == [
        {"de": None, "a": "abierta", "por": {"id": EVA_ACTOR.id, "rol": "agente"}, "en": instant(ap),
         "motivo": None, "cambios": None}]
    assert outbox.events() == [("incidencia.abierta", {"incidencia": incidencia.to_snapshot(incluir_internas=False)})]
    # Hers, as if she had opened it.
    assert [i.id for i in services.incidencias_del_cliente(ap.incidencias, "c1", None).fetch(0, 10)] == [incidencia.id]


@pytest.mark.parametrize("erased", [False, True], ids=["never heard of", "erased"])
def test_no_incident_for_a_customer_apertura_does_not_know(ap, outbox, erased):
    if erased:
        services.replicar_cliente(ap.clientes, ANA_EN_CLIENTES, "1")
        services.borrar_cliente(ap.incidencias, ap.clientes, ap.notificaciones, "c1")
    with pytest.raises(NotFound, match="El cliente no existe"):
        services.abrir_por_telefono(ap.incidencias, ap.clientes, EVA_ACTOR, "c1", cuerpo(), None)
    assert ap.count() == 0 and outbox.events() == []


# -- idempotency ---------------------------------------------------------------------------------

def test_the_same_key_and_body_return_the_first_incident_as_it_is_now_with_one_event(ap, outbox):
    request = abrir_con("pedido-42-intento")
    first, side = services.abrir_incidencia(ap.incidencias, cliente(), cuerpo(), request)
    assert side.idempotency_key == "pedido-42-intento" and side.cancelacion_solicitada_en is None
    assert side.idempotency_hash == request.fingerprint and not request.replayed
    ap.clock.advance(seconds=5)
    retry = abrir_con("pedido-42-intento")
    assert services.abrir_incidencia(ap.incidencias, cliente(), cuerpo(), retry) == (first, side)
    assert retry.replayed_status == 201
    ap.desde_resolucion(first.id, "asignada")
    again, again_side = services.abrir_incidencia(ap.incidencias, cliente(), cuerpo(), abrir_con("pedido-42-intento"))
    assert (again.id, again.estado, again.version, again_side) == (first.id, Estado.ASIGNADA, 2, side)
    assert outbox.tipos() == ["incidencia.abierta"] and ap.count() == 1


def test_the_same_key_with_another_body_is_a_conflict_and_writes_nothing(ap, outbox):
    first = ap.abrir(key="k-1")
    outbox.clear()
    with pytest.raises(KeyReused) as refused:
        services.abrir_incidencia(ap.incidencias, cliente(), cuerpo(titulo="Otra cosa"),
                                  abrir_con("k-1", titulo="Otra cosa"))
    error = refused.value
    assert (error.status, error.slug, error.title, error.detail, error.errores) == (
        409, "idempotencia", "Clave de idempotencia reutilizada", "Esa Idempotency-Key ya se usó con otra petición",
        [{"campo": "Idempotency-Key", "mensaje": "Ya se usó con otra petición", "ubicacion": "cabeceras"}])
    assert outbox.events() == [] and ap.count() == 1 and ap.get(first.id).titulo == TITULO


def test_customers_keys_are_their_own_and_without_a_key_every_request_opens_one(ap, outbox):
    mine, theirs = ap.abrir("c1", key="mismo"), ap.abrir("c2", key="mismo")
    assert mine.id != theirs.id and (mine.cliente.id, theirs.cliente.id) == ("c1", "c2")
    sin_clave = [services.abrir_incidencia(ap.incidencias, cliente(), cuerpo(), None) for _ in range(3)]
    assert len({i.id for i, _ in sin_clave}) == 3 and [s for _, s in sin_clave] == [DatosApertura(None, None, None)] * 3
    assert outbox.tipos() == ["incidencia.abierta"] * 5 and ap.count() == 5


class LaggingKeys(IncidenciaRepository):
    """The repository on a database whose reads lag its unique indexes (what
    is faked: MongoDB's majority reads, which may not see yet an incident the
    primary already refuses a second of): the next ``misses`` lookups by key
    find nothing."""

    misses: float = 0

    def by_idempotency_key(self, cliente_id, key):
        if self.misses > 0:
            self.misses -= 1
            return None
        return super().by_idempotency_key(cliente_id, key)


def test_a_retry_that_cannot_read_the_first_incident_yet_waits_for_it_and_gets_the_first_answer(store, outbox):
    incidencias = LaggingKeys(store)
    first = services.abrir_incidencia(incidencias, cliente(), cuerpo(), abrir_con("k-1"))
    incidencias.misses = 1
    retry = abrir_con("k-1")
    assert services.abrir_incidencia(incidencias, cliente(), cuerpo(), retry) == first and retry.replayed_status == 201
    assert outbox.tipos() == ["incidencia.abierta"] and incidencias.collection.count(Query()) == 1


def test_a_retry_whose_first_incident_stays_unreadable_is_told_to_retry(store, outbox, monkeypatch):
    monkeypatch.setattr(idempotency, "IN_PROGRESS_WAIT", 0.2)
    incidencias = LaggingKeys(store)
    services.abrir_incidencia(incidencias, cliente(), cuerpo(), abrir_con("k-1"))
    incidencias.misses = float("inf")
    with pytest.raises(KeyInProgress) as refused:
        services.abrir_incidencia(incidencias, cliente(), cuerpo(), abrir_con("k-1"))
    assert (refused.value.status, refused.value.slug) == (409, "idempotencia-en-curso")
    assert outbox.tipos() == ["incidencia.abierta"] and incidencias.collection.count(Query()) == 1


# -- reading --------------------------------------------------------------------------------------

def test_a_customer_reads_their_own_incident_and_nobody_elses(ap):
    mine, theirs = ap.abrir("c1"), ap.abrir("c2")
    assert services.incidencia_del_cliente(ap.incidencias, "c1", mine.id) == (mine, DatosApertura(None, None, None))
    for incidencia_id in (theirs.id, "no-existe"):
        with pytest.raises(IncidenciaNoEncontrada) as refused:
            services.incidencia_del_cliente(ap.incidencias, "c1", incidencia_id)
        error = refused.value
        # Nothing tells "exists but not yours" apart from "does not exist".
        assert (type(error), error.status, error.slug, error.title, error.detail, error.incidencia_id) == (
            IncidenciaNoEncontrada, 404, "no-encontrada", "No encontrada", "La incidencia no existe", incidencia_id)


def test_a_customers_list_is_theirs_newest_first_and_filters_by_estado(ap):
    ids = []
    for n in range(3):
        ids.append(ap.abrir("c1", titulo=f"Incidencia {n}").id)
        ap.clock.advance(minutes=1)
    ap.abrir("c2")
    ap.desde_resolucion(ids[0], "asignada")
    todas = services.incidencias_del_cliente(ap.incidencias, "c1", None)
    assert todas.count() == 3
    assert [i.id for i in todas.fetch(0, 10)] == ids[::-1]
    assert [i.id for i in todas.fetch(1, 1)] == [ids[1]]
    assert todas.fetch(3, 10) == []
    abiertas = services.incidencias_del_cliente(ap.incidencias, "c1", "abierta")
    assert (abiertas.count(), [i.id for i in abiertas.fetch(0, 10)]) == (2, [ids[2], ids[1]])
    asignadas = services.incidencias_del_cliente(ap.incidencias, "c1", "asignada")
    assert (asignadas.count(), [i.id for i in asignadas.fetch(0, 10)]) == (1, [ids[0]])
    cerradas = services.incidencias_del_cliente(ap.incidencias, "c1", "cerrada")
    assert (cerradas.count(), cerradas.fetch(0, 10)) == (0, [])
    theirs = services.incidencias_del_cliente(ap.incidencias, "c2", "asignada")
    assert (theirs.count(), theirs.fetch(0, 10)) == (0, [])


# -- comments, closing, reopening, cancelling ----------------------------------------------------

ACCIONES = {
    "comentar": lambda ap, actor, i: services.comentar(ap.incidencias, actor, i, "hola"),
    "cerrar": lambda ap, actor, i: services.cerrar(ap.incidencias, actor, i),
    "reabrir": lambda ap, actor, i: services.reabrir(ap.incidencias, actor, i, "No va"),
    "solicitar_cancelacion": lambda ap, actor, i: services.solicitar_cancelacion(ap.incidencias, actor, i, None),
}


def test_a_customer_comment_is_stored_and_recorded_as_incidencia_comentada(ap, outbox):
    opened = ap.abrir()
    outbox.clear()
    ap.clock.advance(minutes=3)
    incidencia, side = services.comentar(ap.incidencias, ANA, opened.id, "  ¿Alguna novedad?\n")
    [comentario] = incidencia.comentarios
    assert comentario.to_dict() == {"id": comentario.id, "autor": {"id": "c1", "rol": "cliente", "nombre": "Ana Pérez"},
                                    "texto": "¿Alguna novedad?", "interna": False, "creado_en": instant(ap)}
    # Comments are not versioned.
    assert (incidencia.version, incidencia.actualizada_en) == (1, opened.actualizada_en)
    assert ap.incidencias.get(opened.id) == (incidencia, side)
    assert outbox.events() == [("incidencia.comentada", {"incidencia_id": opened.id,
                                                         "comentario": comentario.to_dict()})]


@pytest.mark.parametrize("accion", ACCIONES)
def test_acting_on_another_customers_incident_is_not_found_and_writes_nothing(ap, outbox, accion):
    theirs = ap.llevar_a("resuelta", "c2")
    before = ap.raw(theirs)
    outbox.clear()
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        ACCIONES[accion](ap, ANA, theirs)
    assert (type(refused.value), refused.value.incidencia_id) == (IncidenciaNoEncontrada, theirs)
    assert ap.raw(theirs) == before and outbox.events() == []


@pytest.mark.parametrize("estado", ["cancelada", "cerrada"])
def test_commenting_on_a_final_incident_is_refused(ap, outbox, estado):
    incidencia_id = ap.llevar_a(estado)
    before = ap.raw(incidencia_id)
    outbox.clear()
    with pytest.raises(IncidenciaFinalizada) as refused:
        services.comentar(ap.incidencias, ANA, incidencia_id, "hola")
    assert refused.value.estado_actual == Estado(estado)
    assert ap.raw(incidencia_id) == before and outbox.events() == []


def test_the_customer_closes_a_resolved_incident(ap, outbox):
    incidencia_id = ap.llevar_a("resuelta")
    outbox.clear()
    incidencia, side = services.cerrar(ap.incidencias, ANA, incidencia_id)
    assert (incidencia.estado, incidencia.version, incidencia.cerrada_en) == (Estado.CERRADA, 4, ap.clock.now)
    assert incidencia.historial[-1].to_dict() == {"de": "resuelta", "a": "cerrada",
                                                  "por": {"id": "c1", "rol": "cliente"}, "en": instant(ap),
                                                  "motivo": None, "cambios": None}
    assert ap.incidencias.get(incidencia_id) == (incidencia, side)
    assert outbox.events() == [("incidencia.cerrada", {"incidencia": incidencia.to_snapshot(incluir_internas=False)})]


def test_the_customer_reopens_a_resolved_incident_saying_why_and_it_keeps_its_employee(ap, outbox):
    incidencia_id = ap.llevar_a("resuelta")
    outbox.clear()
    incidencia, _ = services.reabrir(ap.incidencias, ANA, incidencia_id, " Sigue sin ir \t")
    assert (incidencia.estado, incidencia.version, incidencia.motivo_reapertura) == (
        Estado.REABIERTA, 4, "Sigue sin ir")
    assert incidencia.asignada_a == EVA and incidencia.resolucion.texto == SOLUCION
    assert incidencia.historial[-1].to_dict() == {"de": "resuelta", "a": "reabierta",
                                                  "por": {"id": "c1", "rol": "cliente"}, "en": instant(ap),
                                                  "motivo": "Sigue sin ir", "cambios": None}
    assert ap.get(incidencia_id) == incidencia
    assert outbox.events() == [("incidencia.reabierta", {"incidencia": incidencia.to_snapshot(incluir_internas=False)})]


@pytest.mark.parametrize("accion", ["cerrar", "reabrir"])
@pytest.mark.parametrize("estado, propietario", [
    ("abierta", "resolucion"), ("asignada", "resolucion"), ("en_curso", "resolucion"), ("reabierta", "resolucion"),
    ("cancelada", None), ("cerrada", None),
])
def test_closing_or_reopening_outside_resuelta_is_refused_and_writes_nothing(ap, outbox, accion, estado, propietario):
    incidencia_id = ap.llevar_a(estado)
    before = ap.raw(incidencia_id)
    outbox.clear()
    with pytest.raises(NoEsPropietario) as refused:
        ACCIONES[accion](ap, ANA, incidencia_id)
    assert isinstance(refused.value, ConflictoDeEstado)
    assert (refused.value.estado_actual, refused.value.propietario) == (Estado(estado), propietario)
    assert ap.raw(incidencia_id) == before and outbox.events() == []


@pytest.mark.parametrize("estado", ["abierta", "asignada", "en_curso", "reabierta"])
def test_a_cancellation_is_requested_while_resolucion_owns_the_incident(ap, outbox, estado):
    incidencia_id = ap.llevar_a(estado)
    before = ap.get(incidencia_id)
    outbox.clear()
    ap.clock.advance(minutes=2)
    incidencia, side = services.solicitar_cancelacion(ap.incidencias, ANA, incidencia_id, "\tYa no lo necesito  ")
    # Only a request: the state is resolucion's to change.
    assert incidencia == before
    assert side == DatosApertura(None, None, instant(ap))
    assert ap.incidencias.get(incidencia_id) == (before, side)
    assert outbox.events() == [("incidencia.cancelacion_solicitada", {
        "incidencia_id": incidencia_id, "cliente_id": "c1", "motivo": "Ya no lo necesito",
        "solicitada_en": instant(ap)})]


@pytest.mark.parametrize("motivo", [None, "", " \n "])
def test_a_cancellation_without_a_reason_carries_none(ap, outbox, motivo):
    opened = ap.abrir()
    outbox.clear()
    services.solicitar_cancelacion(ap.incidencias, ANA, opened.id, motivo)
    [(tipo, datos)] = outbox.events()
    assert (tipo, datos["motivo"]) == ("incidencia.cancelacion_solicitada", None)


@pytest.mark.parametrize("estado, propietario", [("resuelta", "apertura"), ("cancelada", None), ("cerrada", None)])
def test_a_cancellation_is_refused_once_resolucion_no_longer_owns_the_incident(ap, outbox, estado, propietario):
    incidencia_id = ap.llevar_a(estado)
    before = ap.raw(incidencia_id)
    outbox.clear()
    with pytest.raises(NoEsPropietario) as refused:
        services.solicitar_cancelacion(ap.incidencias, ANA, incidencia_id, "Ya no")
    assert (refused.value.estado_actual, refused.value.propietario) == (Estado(estado), propietario)
    assert ap.raw(incidencia_id) == before and outbox.events() == []


# -- what resolucion did: the replica and the customer's notifications ---------------------------

def test_each_change_from_resolucion_is_replicated_and_notified_newest_first(ap, outbox):
    opened = ap.abrir()
    outbox.clear()
    asignada, en_curso, resuelta = ap.desde_resolucion(opened.id, "asignada", "en_curso", "resuelta")
    assert ap.get(opened.id) == Incidencia.from_snapshot(resuelta.datos["incidencia"])
    assert outbox.events() == []  # replicating records nothing to publish

    def nota(event: Event, mensaje: str, version: int) -> dict[str, Any]:
        return {"id": event.id, "cliente_id": "c1", "incidencia_id": opened.id, "tipo": event.tipo, "mensaje": mensaje,
                "creada_en": event.ocurrido_en, "leida": False, "clave": f"{opened.id}:{event.tipo}:v{version}"}

    listing = services.notificaciones_del_cliente(ap.notificaciones, "c1", False)
    assert listing.count() == 3
    assert [sin_rev(n) for n in listing.fetch(0, 10)] == [
        nota(resuelta, f"Su incidencia «{TITULO}» tiene una solución propuesta: confírmela o reábrala.", 4),
        nota(en_curso, f"Eva Soporte está trabajando en su incidencia «{TITULO}».", 3),
        nota(asignada, f"Su incidencia «{TITULO}» ha sido asignada a Eva Soporte.", 2),
    ]
    assert [n["id"] for n in listing.fetch(1, 1)] == [en_curso.id]
    assert services.notificaciones_del_cliente(ap.notificaciones, "c2", False).count() == 0


@pytest.mark.parametrize("pasos, mensaje", [
    (("cancelada",), f"Su incidencia «{TITULO}» ha sido cancelada."),
    (("actualizada",), f"Su incidencia «{TITULO}» ha cambiado de prioridad o categoría."),
])
def test_cancellations_and_data_changes_are_notified_too(ap, pasos, mensaje):
    opened = ap.abrir()
    [event] = ap.desde_resolucion(opened.id, *pasos)
    assert [(n["tipo"], n["mensaje"]) for n in ap.notas()] == [(event.tipo, mensaje)]


def test_an_assignment_to_an_employee_without_a_name_says_un_agente(ap):
    incidencia = ap.abrir()
    incidencia.asignar("resolucion", EmpleadoRef("e9"), EVA_ACTOR, ap.clock.now)
    event = resolucion_events.snapshot("incidencia.asignada", incidencia)
    services.replicar_cambio(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, event,
                             event.datos["incidencia"])
    assert [n["mensaje"] for n in ap.notas()] == [f"Su incidencia «{TITULO}» ha sido asignada a un agente."]


def test_a_piece_of_news_notifies_once_redelivered_or_under_a_new_event_id(ap):
    opened = ap.abrir()
    [asignada] = ap.desde_resolucion(opened.id, "asignada")
    replayed = make_event(asignada.tipo, asignada.datos, asignada.origen)
    assert replayed.id != asignada.id
    for event in (asignada, replayed):
        services.replicar_cambio(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, event,
                                 event.datos["incidencia"])
    assert [n["id"] for n in ap.notas()] == [asignada.id]
    assert ap.get(opened.id).version == 2


def test_a_malformed_snapshot_is_a_permanent_error_and_stores_nothing(ap):
    event = make_event("incidencia.asignada", {"incidencia": {"id": "i-roto", "version": 0}}, "incidencias_resolucion")
    with pytest.raises(PermanentError) as refused:
        services.replicar_cambio(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, event,
                                 event.datos["incidencia"])
    assert str(refused.value).startswith("invalid snapshot: ")
    assert ap.incidencias.get("i-roto") is None and ap.notificaciones.collection.count(Query()) == 0


def staff_comment(ap: Apertura, incidencia_id: str, comentario_id: str = "ec1", autor: Actor = EVA_ACTOR):
    comentario = Comentario(comentario_id, autor, "Estamos en ello", False, ap.clock.now)
    return resolucion_events.comentada(incidencia_id, comentario.to_dict()), comentario


def test_a_staff_comment_is_merged_and_notified_once(ap, outbox):
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada")
    outbox.clear()
    event, comentario = staff_comment(ap, opened.id)
    again = resolucion_events.comentada(opened.id, comentario.to_dict())  # the same comment, a new event id
    for delivered in (event, event, again):
        services.replicar_comentario(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, delivered, opened.id,
                                     comentario)
    assert ap.get(opened.id).comentarios == [comentario]
    assert [n for n in ap.notas() if n["tipo"] == "incidencia.comentada"] == [{
        "id": event.id, "cliente_id": "c1", "incidencia_id": opened.id, "tipo": "incidencia.comentada",
        "mensaje": f"Hay un nuevo comentario en su incidencia «{TITULO}».", "creada_en": event.ocurrido_en,
        "leida": False, "clave": f"{opened.id}:comentario:ec1"}]
    assert outbox.events() == []


def test_a_customers_own_comment_from_resolucion_is_merged_without_a_notification(ap):
    opened = ap.abrir()
    event, comentario = staff_comment(ap, opened.id, "cc1", ANA)
    services.replicar_comentario(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, event, opened.id,
                                 comentario)
    assert ap.get(opened.id).comentarios == [comentario] and ap.notas() == []


def test_a_comment_on_an_unknown_incident_is_not_found_and_notifies_nothing(ap):
    event, comentario = staff_comment(ap, "no-existe")
    with pytest.raises(IncidenciaNoEncontrada) as refused:
        services.replicar_comentario(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, event, "no-existe",
                                     comentario)
    assert refused.value.incidencia_id == "no-existe" and ap.notas() == []


def test_internal_notes_are_refused_by_the_handler_before_any_use_case(ap):
    opened = ap.abrir()
    handlers = AperturaHandlers(Components(settings=None, store=ap.store, verifier=None, incidencias=ap.incidencias,
                                           clientes=ap.clientes, notificaciones=ap.notificaciones,
                                           personal=PersonalReplica(ap.store), politicas=PoliticaSlaStore(ap.store)))
    nota = Comentario("n1", EVA_ACTOR, "NOTA INTERNA", True, ap.clock.now).to_dict()
    event = make_event("incidencia.comentada", {"incidencia_id": opened.id, "comentario": nota},
                       "incidencias_resolucion")
    with pytest.raises(PermanentError):
        handlers.on_comment(event)
    assert ap.get(opened.id).comentarios == [] and ap.notas() == []


# -- reading notifications -----------------------------------------------------------------------

def test_marking_notifications_read(ap):
    opened = ap.abrir()
    asignada, en_curso, resuelta = ap.desde_resolucion(opened.id, "asignada", "en_curso", "resuelta")
    marked = services.marcar_leida(ap.notificaciones, "c1", asignada.id)
    assert (marked["id"], marked["leida"]) == (asignada.id, True)
    assert services.marcar_leida(ap.notificaciones, "c1", asignada.id)["leida"] is True  # idempotent
    unread = services.notificaciones_del_cliente(ap.notificaciones, "c1", True)
    assert (unread.count(), [n["id"] for n in unread.fetch(0, 10)]) == (2, [resuelta.id, en_curso.id])
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1") == 2
    assert (unread.count(), unread.fetch(0, 10)) == (0, [])
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1") == 0
    assert [n["leida"] for n in ap.notas()] == [True, True, True]


def test_another_customers_notification_is_not_found_and_stays_unread(ap):
    theirs = ap.abrir("c2")
    [event] = ap.desde_resolucion(theirs.id, "asignada")
    for notificacion_id in (event.id, "no-existe"):
        with pytest.raises(NotFound) as refused:
            services.marcar_leida(ap.notificaciones, "c1", notificacion_id)
        error = refused.value
        assert (type(error), error.status, error.slug, error.title, error.detail) == (
            NotFound, 404, "no-encontrada", "No encontrada", "La notificación no existe")
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1") == 0
    assert [n["leida"] for n in ap.notas("c2")] == [False]


# -- retries of keyed changes -------------------------------------------------------------------
# Each change of an incident with an Idempotency-Key: the key is stored in the
# same write as the change; the retry changes nothing, records no event and
# answers the incident as it is; the key reused for another request is refused.
KEYED = {
    "comentar": ("asignada", 201, lambda ap, i, k, texto="hola": services.comentar(ap.incidencias, ANA, i, texto, k)),
    "cerrar": ("resuelta", 200, lambda ap, i, k, texto=None: services.cerrar(ap.incidencias, ANA, i, k)),
    "reabrir": ("resuelta", 200, lambda ap, i, k, texto="No va": services.reabrir(ap.incidencias, ANA, i, texto, k)),
    "solicitar_cancelacion": ("asignada", 202, lambda ap, i, k, texto="Ya no": services.solicitar_cancelacion(
        ap.incidencias, ANA, i, texto, k)),
}


def _peticion(accion: str, incidencia_id: str, key: str = "k-1", sent: Any = "a"):
    return keyed(key, "c1", (accion, incidencia_id, sent), KEYED[accion][1])


@pytest.mark.parametrize("accion", KEYED)
def test_a_retried_change_is_applied_once_and_answered_with_the_incident_as_it_is(ap, outbox, accion):
    estado, status, act = KEYED[accion]
    incidencia_id = ap.llevar_a(estado)
    outbox.clear()
    first_request = _peticion(accion, incidencia_id)
    first, first_side = act(ap, incidencia_id, first_request)
    assert not first_request.replayed
    [record] = ap.raw(incidencia_id)[FIELD]
    assert (record["key"], record["scope"], record["fingerprint"], record["status"], record["at"]) == (
        "k-1", "c1", first_request.fingerprint, status, instant(ap))
    events = outbox.take()
    assert len(events) == 1
    ap.clock.advance(minutes=1)
    retry = _peticion(accion, incidencia_id)
    again, again_side = act(ap, incidencia_id, retry)
    assert (retry.replayed, retry.replayed_status) == (True, status)
    assert (again, again_side) == (first, first_side) == ap.incidencias.get(incidencia_id)
    assert outbox.events() == [] and len(ap.get(incidencia_id).comentarios) == len(first.comentarios)


@pytest.mark.parametrize("accion", KEYED)
def test_a_change_key_reused_for_another_request_is_refused_and_writes_nothing(ap, outbox, accion):
    estado, _status, act = KEYED[accion]
    incidencia_id = ap.llevar_a(estado)
    act(ap, incidencia_id, _peticion(accion, incidencia_id))
    before = ap.raw(incidencia_id)
    outbox.clear()
    with pytest.raises(KeyReused):
        act(ap, incidencia_id, _peticion(accion, incidencia_id, sent="b"))
    assert ap.raw(incidencia_id) == before and outbox.events() == []


KEYED_AS = {
    "comentar": lambda ap, actor, i, k: services.comentar(ap.incidencias, actor, i, "hola", k),
    "cerrar": lambda ap, actor, i, k: services.cerrar(ap.incidencias, actor, i, k),
    "reabrir": lambda ap, actor, i, k: services.reabrir(ap.incidencias, actor, i, "No va", k),
    "solicitar_cancelacion": lambda ap, actor, i, k: services.solicitar_cancelacion(
        ap.incidencias, actor, i, "Ya no", k),
}


@pytest.mark.parametrize("accion", KEYED)
def test_a_keyed_request_on_another_customers_incident_is_not_found_before_any_replay(ap, outbox, accion):
    """Ownership is checked first, whatever the key: even a request carrying
    the owner's recorded key and fingerprint is answered 404, not replayed."""
    estado, _status, act = KEYED[accion]
    incidencia_id = ap.llevar_a(estado)
    act(ap, incidencia_id, _peticion(accion, incidencia_id))
    before = ap.raw(incidencia_id)
    outbox.clear()
    bruno = Actor("c2", "cliente", NOMBRES["c2"])
    for request in (keyed("k-1", "c2", (accion, incidencia_id, "a")), _peticion(accion, incidencia_id)):
        with pytest.raises(IncidenciaNoEncontrada):
            KEYED_AS[accion](ap, bruno, incidencia_id, request)
        assert not request.replayed
    assert ap.raw(incidencia_id) == before and outbox.events() == []


def test_without_a_key_or_with_another_key_each_comment_is_a_comment(ap, outbox):
    opened = ap.abrir()
    outbox.clear()
    services.comentar(ap.incidencias, ANA, opened.id, "hola", _peticion("comentar", opened.id, "k-1"))
    services.comentar(ap.incidencias, ANA, opened.id, "hola", _peticion("comentar", opened.id, "k-2"))
    services.comentar(ap.incidencias, ANA, opened.id, "hola")
    services.comentar(ap.incidencias, ANA, opened.id, "hola")
    assert len(ap.get(opened.id).comentarios) == 4 and outbox.tipos() == ["incidencia.comentada"] * 4
    assert [r["key"] for r in ap.raw(opened.id)[FIELD]] == ["k-1", "k-2"]


def test_a_key_is_forgotten_after_a_day_and_a_document_keeps_the_newest_keys_only(ap, outbox):
    opened = ap.abrir()
    services.comentar(ap.incidencias, ANA, opened.id, "hola", _peticion("comentar", opened.id, "viejo"))
    ap.clock.advance(hours=24, seconds=1)
    services.comentar(ap.incidencias, ANA, opened.id, "hola", _peticion("comentar", opened.id, "viejo"))
    assert len(ap.get(opened.id).comentarios) == 2
    for n in range(MAX_KEYS + 5):
        services.comentar(ap.incidencias, ANA, opened.id, "hola", _peticion("comentar", opened.id, f"k-{n}"))
    records = ap.raw(opened.id)[FIELD]
    assert [r["key"] for r in records] == [f"k-{n}" for n in range(5, MAX_KEYS + 5)]


def test_the_keys_survive_the_snapshots_of_resolucion(ap, outbox):
    opened = ap.abrir()
    services.comentar(ap.incidencias, ANA, opened.id, "hola", _peticion("comentar", opened.id))
    ap.desde_resolucion(opened.id, "asignada", "en_curso")
    outbox.clear()
    retry = _peticion("comentar", opened.id)
    services.comentar(ap.incidencias, ANA, opened.id, "hola", retry)
    assert retry.replayed and outbox.events() == [] and len(ap.get(opened.id).comentarios) == 1


def test_a_retried_read_mark_answers_as_the_first_time(ap):
    opened = ap.abrir()
    asignada, en_curso = ap.desde_resolucion(opened.id, "asignada", "en_curso")
    first = services.marcar_leida(ap.notificaciones, "c1", asignada.id, keyed("k-1", "c1", asignada.id))
    retry = keyed("k-1", "c1", asignada.id)
    assert sin_rev(services.marcar_leida(ap.notificaciones, "c1", asignada.id, retry)) == sin_rev(first)
    assert retry.replayed
    # A key is remembered by the document it changed: on another notification it is another request.
    elsewhere = keyed("k-1", "c1", en_curso.id)
    services.marcar_leida(ap.notificaciones, "c1", en_curso.id, elsewhere)
    assert not elsewhere.replayed and [n["leida"] for n in ap.notas()] == [True, True]


def test_a_retried_mark_all_answers_the_first_count(ap):
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada", "en_curso")
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", keyed("todas", "c1", {})) == 2
    ap.desde_resolucion(opened.id, "resuelta")
    retry = keyed("todas", "c1", {})
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", retry) == 2
    assert retry.replayed and [n["leida"] for n in ap.notas()] == [False, True, True]
    with pytest.raises(KeyReused):
        services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", keyed("todas", "c1", {"otra": 1}))
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", keyed("otra", "c1", {})) == 1
    # What the customer's replica holds stays theirs: a later cliente.* event keeps the keys.
    services.replicar_cliente(ap.clientes, ANA_EN_CLIENTES, "1")
    assert [r["key"] for r in ap.clientes.collection.get("c1")[FIELD]] == ["todas", "otra"]


def test_two_concurrent_mark_alls_with_one_key_keep_the_first_count(ap):
    """The count is recorded after the marks, not in one write with them: the
    same request sent twice at once passes the replay check twice. The second
    to record finds the first's record and keeps it (and answers it), instead
    of replacing it with the nothing it found left to mark."""
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada", "en_curso")
    answers = []

    class MeanwhileTheOther:
        """The notifications, where the other request runs whole between this one's check and its marks."""

        def mark_all_read(self, cliente_id):
            answers.append(services.marcar_todas_leidas(ap.notificaciones, ap.clientes, cliente_id,
                                                        keyed("todas", "c1", {})))
            return ap.notificaciones.mark_all_read(cliente_id)

    late = keyed("todas", "c1", {})
    answers.append(services.marcar_todas_leidas(MeanwhileTheOther(), ap.clientes, "c1", late))
    assert answers == [2, 2] and late.replayed
    [record] = ap.clientes.collection.get("c1")[FIELD]
    assert record["answer"] == {"marcadas": 2}
    retry = keyed("todas", "c1", {})
    assert services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", retry) == 2 and retry.replayed


def test_the_same_key_for_another_request_recorded_meanwhile_is_refused(ap):
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada")

    class MeanwhileAnother:
        def mark_all_read(self, cliente_id):
            services.marcar_todas_leidas(ap.notificaciones, ap.clientes, cliente_id, keyed("todas", "c1", {"b": 1}))
            return ap.notificaciones.mark_all_read(cliente_id)

    with pytest.raises(KeyReused):
        services.marcar_todas_leidas(MeanwhileAnother(), ap.clientes, "c1", keyed("todas", "c1", {}))
    [record] = ap.clientes.collection.get("c1")[FIELD]
    assert (record["fingerprint"], record["answer"]) == (keyed("todas", "c1", {"b": 1}).fingerprint, {"marcadas": 1})


# -- customers -----------------------------------------------------------------------------------

def test_erasing_a_customer(ap, outbox):
    services.replicar_cliente(ap.clientes, ANA_EN_CLIENTES, "1")
    en_curso = ap.llevar_a("en_curso")  # resolucion's to cancel: only anonymised here
    services.comentar(ap.incidencias, ANA, en_curso, "Llámenme al 600 000 000")
    resuelta = ap.llevar_a("resuelta")  # apertura's: closed here
    cerrada = ap.llevar_a("cerrada")  # final: only anonymised
    otra = ap.llevar_a("asignada", "c2")
    outbox.clear()
    ap.clock.advance(hours=1)

    services.borrar_cliente(ap.incidencias, ap.clientes, ap.notificaciones, "c1")

    assert [ap.get(i).cliente for i in (en_curso, resuelta, cerrada)] == [Cliente("c1", "Cliente eliminado", True)] * 3
    assert [ap.get(i).estado for i in (en_curso, resuelta, cerrada)] == [Estado.EN_CURSO, Estado.CERRADA,
                                                                         Estado.CERRADA]
    [comentario] = ap.get(en_curso).comentarios
    assert (comentario.autor, comentario.texto) == (Actor("c1", "cliente", "Cliente eliminado"),
                                                    "Llámenme al 600 000 000")
    closed = ap.get(resuelta)
    assert (closed.cerrada_en, closed.historial[-1].to_dict()) == (ap.clock.now, {
        "de": "resuelta", "a": "cerrada", "por": {"id": "sistema", "rol": "sistema"}, "en": instant(ap),
        "motivo": None, "cambios": None})
    assert outbox.take() == [("incidencia.cerrada", {"incidencia": closed.to_snapshot(incluir_internas=False)})]
    assert ap.notas("c1") == [] and len(ap.notas("c2")) == 1
    assert ap.get(otra).cliente == Cliente("c2", "Bruno Díaz")

    # The token is refused from now on; only that customer's, and a customer's only.
    components = Components(settings=None, store=ap.store, verifier=None, incidencias=ap.incidencias,
                            clientes=ap.clientes, notificaciones=ap.notificaciones, personal=PersonalReplica(ap.store),
                            politicas=PoliticaSlaStore(ap.store))
    assert [components.is_revoked(p) for p in (
        Principal("c1", "cliente", "clientes"), Principal("c2", "cliente", "clientes"),
        Principal("c3", "cliente", "clientes"), Principal("c1", "agente", "empleados"))] == [True, False, False, False]
    # Erasing again changes nothing; a late cliente.actualizado does not bring the account back.
    services.borrar_cliente(ap.incidencias, ap.clientes, ap.notificaciones, "c1")
    services.replicar_cliente(ap.clientes, ANA_EN_CLIENTES, "1")
    assert ap.clientes.is_deleted("c1") and outbox.events() == []
    # Later news about their incidents notifies nobody.
    ap.desde_resolucion(en_curso, "resuelta")
    assert ap.get(en_curso).estado == Estado.RESUELTA and ap.notas("c1") == []


def _fingerprints(doc: dict[str, Any]) -> list[str]:
    """What a stored document holds that was derived from what was sent or answered."""
    found = ["idempotency_hash"] if doc.get("idempotency_hash") else []
    return found + [f"{r['key']}.{part}" for r in doc.get(FIELD) or ()
                    for part in ("fingerprint", "answer") if part in r]


def test_erasing_a_customer_keeps_no_fingerprint_of_their_requests_and_a_late_retry_is_refused(ap, outbox):
    services.replicar_cliente(ap.clientes, ANA_EN_CLIENTES, "1")
    en_curso = ap.abrir(key="alta-1").id
    ap.desde_resolucion(en_curso, "asignada", "en_curso")
    comentario = _peticion("comentar", en_curso)
    services.comentar(ap.incidencias, ANA, en_curso, "hola", comentario)
    cerrada = ap.llevar_a("resuelta")
    services.cerrar(ap.incidencias, ANA, cerrada, _peticion("cerrar", cerrada))
    services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", keyed("todas", "c1", {}))
    # resolucion's anonymised snapshot may come first: anonymising changes nothing then, forgetting still does.
    ya_anonima = ap.llevar_a("en_curso")
    services.comentar(ap.incidencias, ANA, ya_anonima, "hola", _peticion("comentar", ya_anonima))
    anonima = ap.get(ya_anonima)
    anonima.anonimizar_cliente()
    anonima.version += 1
    ap.incidencias.apply_snapshot(anonima.to_snapshot(incluir_internas=False))
    assert _fingerprints(ap.raw(ya_anonima)) == ["k-1.fingerprint"]
    otra = ap.abrir("c2", key="alta-1").id
    ap.clock.advance(hours=1)

    services.borrar_cliente(ap.incidencias, ap.clientes, ap.notificaciones, "c1")

    for incidencia_id in (en_curso, cerrada, ya_anonima):
        assert _fingerprints(ap.raw(incidencia_id)) == [], incidencia_id
        assert [(r["key"], r["scope"]) for r in ap.raw(incidencia_id)[FIELD]] == [("k-1", "c1")]
    assert ap.raw(en_curso)["idempotency_key"] == "alta-1"
    assert _fingerprints(ap.clientes.collection.get("c1")) == [] and ap.clientes.is_deleted("c1")
    assert _fingerprints(ap.raw(otra)) == ["idempotency_hash"]
    # Refused, never applied twice: the token is refused first, and past it the key has nothing to match.
    outbox.clear()
    with pytest.raises(KeyReused):
        ap.abrir(key="alta-1")
    with pytest.raises(KeyReused):
        services.comentar(ap.incidencias, ANA, en_curso, "hola", _peticion("comentar", en_curso))
    with pytest.raises(KeyReused):
        services.marcar_todas_leidas(ap.notificaciones, ap.clientes, "c1", keyed("todas", "c1", {}))
    assert outbox.events() == [] and len(ap.get(en_curso).comentarios) == 1
    assert ap.incidencias.collection.count(Query(equals={"cliente.id": "c1"})) == 3


# -- closing what the customer left resolved -------------------------------------------------------

def test_cerrar_vencidas_closes_only_what_stayed_resuelta_more_than_the_days_given(ap, outbox):
    vieja = ap.llevar_a("resuelta")
    ap.clock.advance(days=1)
    reciente = ap.llevar_a("resuelta")
    en_curso = ap.llevar_a("en_curso")
    resuelta_en = ap.get(vieja).resuelta_en
    outbox.clear()

    ap.clock.set(resuelta_en + timedelta(days=3))
    assert services.cerrar_vencidas(ap.incidencias, dias=3) == 0  # exactly 3 days: not more
    assert services.cerrar_vencidas(ap.incidencias, dias=7) == 0
    assert outbox.events() == []

    ap.clock.advance(microseconds=1)
    assert services.cerrar_vencidas(ap.incidencias, dias=3) == 1
    closed = ap.get(vieja)
    assert (closed.estado, closed.cerrada_en) == (Estado.CERRADA, ap.clock.now)
    assert closed.historial[-1].to_dict() == {"de": "resuelta", "a": "cerrada",
                                              "por": {"id": "sistema", "rol": "sistema"}, "en": instant(ap),
                                              "motivo": "cierre automático", "cambios": None}
    assert outbox.take() == [("incidencia.cerrada", {"incidencia": closed.to_snapshot(incluir_internas=False)})]
    assert [ap.get(i).estado for i in (reciente, en_curso)] == [Estado.RESUELTA, Estado.EN_CURSO]
    assert services.cerrar_vencidas(ap.incidencias, dias=3) == 0 and outbox.events() == []

    # ``ahora`` stands for the clock.
    ahora = ap.get(reciente).resuelta_en + timedelta(days=2, seconds=1)
    assert services.cerrar_vencidas(ap.incidencias, dias=2, ahora=ahora) == 1
    assert (ap.get(reciente).estado, ap.get(reciente).cerrada_en) == (Estado.CERRADA, ahora)
    assert outbox.tipos() == ["incidencia.cerrada"]


def test_cerrar_vencidas_leaves_an_incident_resolved_again_meanwhile(ap, outbox):
    vencida = ap.llevar_a("resuelta")
    ap.clock.advance(days=8)
    outbox.clear()

    class ReopenedAndResolvedAgainMeanwhile(IncidenciaRepository):
        def resolved_before(self, instant: str, limit: int = 500) -> list[str]:
            found = super().resolved_before(instant, limit)
            services.reabrir(ap.incidencias, ANA, vencida, "Sigue igual")
            ap.desde_resolucion(vencida, "asignada", "resuelta")
            return found

    assert services.cerrar_vencidas(ReopenedAndResolvedAgainMeanwhile(ap.store), dias=7) == 0
    again = ap.get(vencida)
    assert (again.estado, again.version, again.resuelta_en) == (Estado.RESUELTA, 6, ap.clock.now)
    assert outbox.tipos() == ["incidencia.reabierta"]  # the customer's, nothing else


def the_customer_closes_it_meanwhile(ap: Apertura) -> tuple[str, IncidenciaRepository]:
    """An incident resolved 8 days ago, and a repository on which the
    customer closes it right after cerrar_vencidas has looked for it."""
    vencida = ap.llevar_a("resuelta")
    ap.clock.advance(days=8)

    class TheCustomerClosesItMeanwhile(IncidenciaRepository):
        def resolved_before(self, instant: str, limit: int = 500) -> list[str]:
            found = super().resolved_before(instant, limit)
            services.cerrar(ap.incidencias, ANA, vencida)
            return found

    return vencida, TheCustomerClosesItMeanwhile(ap.store)


def test_cerrar_vencidas_leaves_an_incident_the_customer_closed_meanwhile(ap, outbox):
    vencida, incidencias = the_customer_closes_it_meanwhile(ap)
    outbox.clear()
    services.cerrar_vencidas(incidencias, dias=7)
    closed = ap.get(vencida)
    assert (closed.estado, closed.version, closed.historial[-1].por) == (Estado.CERRADA, 4, Actor("c1", "cliente"))
    assert outbox.tipos() == ["incidencia.cerrada"]  # the customer's close, nothing else


def test_cerrar_vencidas_counts_only_what_it_closed(ap):
    _vencida, incidencias = the_customer_closes_it_meanwhile(ap)
    assert services.cerrar_vencidas(incidencias, dias=7) == 0
