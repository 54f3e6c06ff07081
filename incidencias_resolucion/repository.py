"""Where incidencias_resolucion keeps its replica of incidents (with the
internal notes), its replica of employees, and events that arrived before
the incident they refer to."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from common.idempotency import (
    CREATION_FINGERPRINT, CREATION_INDEX, IdempotentRequest, creation_fields, creation_query, remember, replayed,
)
from common.messaging import Event
from common.storage import CollectionSpec, DuplicateKeyError, Index, Query, Store
from common.storage.retry import update_document
from cuentas.personal import PersonalReplica
from common.clock import utc_now
from incidencias_dominio import (
    EN_RIESGO, INCUMPLIDO, Canal, Incidencia, format_instant, pendientes, proximo_aviso, seguimiento,
)
from incidencias_replica.repository import TEXTO_DE_INCIDENCIA, IncidenciaReplica
from incidencias_replica.notificaciones import Notificaciones, notificaciones_spec
from incidencias_replica.sla import POLITICA_SLA

from .asignacion import ESTADOS_CON_CARGA
from .respuestas import RespuestaPredefinida

INCIDENCIAS = CollectionSpec(
    "incidencias",
    (
        # Each view of the list (everyone's, an agent's queue; the unassigned
        # ones are read in the order of everyone's), alone or by state, in
        # each order (``SORTS``: by age either way, or by priority then age).
        Index(("creada_en",)),
        Index(("prioridad_rank", "creada_en"), descending=("prioridad_rank",)),
        Index(("estado", "creada_en")),
        Index(("estado", "prioridad_rank", "creada_en"), descending=("prioridad_rank",)),
        Index(("asignada_a.id", "creada_en")),
        Index(("asignada_a.id", "prioridad_rank", "creada_en"), descending=("prioridad_rank",)),
        Index(("asignada_a.id", "estado", "creada_en")),
        Index(("asignada_a.id", "estado", "prioridad_rank", "creada_en"), descending=("prioridad_rank",)),
        Index(("categoria", "creada_en")),
        Index(("cliente.id", "estado")),
        Index(("cliente.id", "creada_en")),  # a customer's history, by age either way
        Index(("canal", "creada_en")),  # the incidents by channel and week of /estadisticas
        Index(("sla_vence_en",)),  # the first due first (``orden=vencimiento``), and the filters by SLA state
        Index(("asignada_a.id", "sla_vence_en")),
        Index(("estado", "sla_vence_en")),
        Index(("sla_riesgo_en",)),
        Index(("sla_aviso_en",)),  # the warnings due (``IncidenciaRepository.warnings_due``)
    ),
    text=TEXTO_DE_INCIDENCIA,
)
# resolucion has always called its staff replica "empleados".
EMPLEADOS = CollectionSpec("empleados", (Index(("activo", "rol")),))
APARCADOS = CollectionSpec("eventos_aparcados", (Index(("incidencia_id",)),))
ETIQUETAS = CollectionSpec("etiquetas")
"""Every tag ever used (its id is the tag): the names whose counters
``etiquetas_en_uso`` reads. Written before the first incident carrying it,
so a tag is never counted without being listed."""
RESPUESTAS = CollectionSpec("respuestas_predefinidas", (Index(("activa", "titulo")), Index(("titulo",)), CREATION_INDEX))
NOTIFICACIONES = notificaciones_spec("empleado_id", "notificaciones_equipo")
"""Staff's notifications: a service level at risk or run out (with their mails)."""
OUTBOX = (INCIDENCIAS, POLITICA_SLA, NOTIFICACIONES)
"""The collections whose writes carry events."""

LOAD_STATES = frozenset(e.value for e in ESTADOS_CON_CARGA)
LOADS_COUNTED = "carga:*"
"""The counter that says the loads were counted from the documents once
(``IncidenciaRepository.ensure_loads``)."""


def carga_counter(empleado_id: str) -> str:
    """The name of the counter of ``empleado_id``'s open load."""
    return f"carga:{empleado_id}"


def carga(doc: Mapping[str, Any] | None) -> dict[str, int]:
    """What a stored incident adds to the loads: one to its assignee's, while
    it is in a state that counts (``ESTADOS_CON_CARGA``)."""
    if not doc or doc.get("estado") not in LOAD_STATES:
        return {}
    holder = (doc.get("asignada_a") or {}).get("id")
    return {carga_counter(holder): 1} if isinstance(holder, str) else {}


def etiqueta_counter(etiqueta: str) -> str:
    """The name of the counter of the incidents tagged ``etiqueta``."""
    return f"etiqueta:{etiqueta}"


def contados(doc: Mapping[str, Any] | None) -> dict[str, int]:
    """What a stored incident adds to the store's counters: its assignee's
    load (``carga``) and one to each of its tags."""
    tags = (doc or {}).get("etiquetas") or ()
    return {**carga(doc), **{etiqueta_counter(t): 1 for t in tags if isinstance(t, str)}}


SORTS = {
    "relevancia": (),  # with ``q``: the best matches first (``Query.ranked``)
    "antiguedad": (("creada_en", 1),),
    "recientes": (("creada_en", -1),),
    "prioridad": (("prioridad_rank", -1), ("creada_en", 1)),
    "vencimiento": (("sla_vence_en", 1),),  # only those whose service-level clock runs (``sla_fields``)
}
SLA_STATES = ("en_plazo", EN_RIESGO, INCUMPLIDO)
"""The states of a running service-level clock a list filters by (``sla=``)."""


def sla_fields(incidencia: Incidencia, avisados: Iterable[str] = ()) -> dict[str, str | None]:
    """When the first of its unmet targets runs out and when it is at risk
    (None: no target runs), for the lists by due instant and SLA state; and
    when the next warning is due (``sla_aviso_en``, ``plazos.proximo_aviso``
    of the warnings not in ``avisados``), for the job that gives them. These
    instants do not move while nothing happens to the incident, so each
    write stores them and a reader compares them with its own time."""
    sla = seguimiento(incidencia, utc_now())
    corren = pendientes(sla)
    if not corren:
        return {"sla_vence_en": None, "sla_riesgo_en": None, "sla_aviso_en": None}
    siguiente = proximo_aviso(sla, set(avisados))
    return {"sla_vence_en": format_instant(min(s.vence_en for s in corren)),
            "sla_riesgo_en": format_instant(min(s.en_riesgo_desde for s in corren if s.en_riesgo_desde)),
            "sla_aviso_en": None if siguiente is None else format_instant(siguiente)}


def sla_bounds(estado: str | None, orden: str, ahora: str) -> tuple[dict[str, str], dict[str, str]]:
    """The bounds (less_than, at_least) that list the incidents in SLA state ``estado`` at ``ahora``."""
    less_than: dict[str, str] = {}
    at_least: dict[str, str] = {"sla_vence_en": ""} if orden == "vencimiento" else {}
    if estado == "incumplido":
        less_than["sla_vence_en"] = ahora
    elif estado == "en_riesgo":
        less_than["sla_riesgo_en"], at_least["sla_vence_en"] = ahora, ahora
    elif estado == "en_plazo":
        at_least["sla_riesgo_en"] = ahora
    return less_than, at_least


@dataclass
class DatosResolucion:
    """What resolucion keeps beside a snapshot: the priority's rank, so the
    queue sorts by it; the service-level warnings given (``plazos.aviso``), each
    once; and the instants of its service level the lists and the warning
    job read (``sla_fields``)."""

    avisos_sla: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> DatosResolucion:
        return cls(list((doc or {}).get("avisos_sla") or ()))

    def fields(self, incidencia: Incidencia) -> dict[str, Any]:
        return {"prioridad_rank": incidencia.prioridad.rank, "avisos_sla": list(self.avisos_sla),
                **sla_fields(incidencia, self.avisos_sla)}


class IncidenciaRepository(IncidenciaReplica[DatosResolucion]):
    def __init__(self, store: Store):
        super().__init__(store, INCIDENCIAS, DatosResolucion, conservar_internas=True, counted=contados)
        self._loads_ensured = False

    @staticmethod
    def query(filters: dict[str, Any], orden: str = "antiguedad") -> Query:
        equals: dict[str, Any] = {}
        any_of: dict[str, Any] = {}
        for name in ("estado", "prioridad", "categoria"):
            if filters.get(name):
                equals[name] = filters[name]
        if filters.get("asignada_a"):
            equals["asignada_a.id"] = filters["asignada_a"]
        if filters.get("sin_asignar"):
            equals["asignada_a"] = None
        if filters.get("cliente_id"):
            equals["cliente.id"] = filters["cliente_id"]
        if filters.get("estados"):
            any_of["estado"] = list(filters["estados"])
        contains = {"etiquetas": filters["etiqueta"]} if filters.get("etiqueta") else {}
        less_than, at_least = sla_bounds(filters.get("sla"), orden, format_instant(utc_now()))
        return Query(equals=equals, any_of=any_of, contains=contains, less_than=less_than, at_least=at_least,
                     text=tuple(filters.get("q") or ()), sort=SORTS[orden])

    def count(self, filters: dict[str, Any], orden: str = "antiguedad") -> int:
        return self._count(self.query(filters, orden))

    def list(self, filters: dict[str, Any], orden: str, skip: int, limit: int) -> list[Incidencia]:
        return self._find(self.query(filters, orden), skip, limit)

    def count_opened(self, desde: datetime, hasta: datetime, canal: Canal | None = None) -> int:
        """Incidents opened in [desde, hasta), by one channel or all. (The
        ones stored before the channel was recorded have no ``canal``: they
        came in by the web, and count in the total only.)"""
        return self._count(Query(equals={"canal": canal.value} if canal else {},
                                 at_least={"creada_en": format_instant(desde)},
                                 less_than={"creada_en": format_instant(hasta)}))

    def ids(self, filters: dict[str, Any], limit: int | None = None, orden: str = "antiguedad") -> list[str]:
        return self._ids(self.query(filters, orden), limit=limit)

    def load_of(self, empleado_ids: Iterable[str]) -> dict[str, int]:
        """Each employee's open load, from the counters every write moves: one
        read whatever the number of open incidents."""
        ids = list(empleado_ids)
        if not self._loads_ensured:
            self.ensure_loads(ids)
            self._loads_ensured = True
        values = self.store.counters([carga_counter(i) for i in ids])
        return {i: values.get(carga_counter(i), 0) for i in ids}

    def recount_loads(self, empleado_ids: Iterable[str]) -> dict[str, int]:
        """Each employee's open load counted from the documents (what the
        counters must always equal)."""
        states = sorted(LOAD_STATES)
        return {
            empleado_id: self._count(Query(equals={"asignada_a.id": empleado_id}, any_of={"estado": states}))
            for empleado_id in empleado_ids
        }

    def ensure_loads(self, also: Iterable[str] = ()) -> bool:
        """Count the loads from the documents once, for a store written before
        the counters existed (the holders of open incidents, every employee
        known, and ``also``); True if it did. A process asks the first time
        it needs a load, so that it starts during a storage outage as before
        (and answers 503 meanwhile). A write that assigns or
        releases an incident while it counts can leave that employee's
        counter off by one, so an upgrade should start the new version on a
        quiet system (``docs/deploy.md``)."""
        if self.store.counters([LOADS_COUNTED]).get(LOADS_COUNTED):
            return False
        # Zero for every employee known and asked for: a write before this
        # count may have moved the counter of one who holds nothing now.
        known = set(also) | {d.get("id") for d in self.store.collection(EMPLEADOS).find(Query())}
        values = {carga_counter(i): 0 for i in known if isinstance(i, str)}
        for doc in self.collection.find(Query(any_of={"estado": sorted(LOAD_STATES)})):
            for name, n in carga(doc).items():  # the same rule every write counts the loads by
                values[name] = values.get(name, 0) + n
        self.store.set_counters({**values, LOADS_COUNTED: 1})
        return True

    def opened_in(self, desde: datetime, hasta: datetime, limit: int) -> list[Incidencia]:
        """The incidents opened in [desde, hasta), the newest first, at most ``limit``."""
        return self._find(Query(at_least={"creada_en": format_instant(desde)},
                                less_than={"creada_en": format_instant(hasta)}, sort=(("creada_en", -1),)), limit=limit)

    def warnings_due(self, ahora: str, limit: int = 500) -> list[str]:
        """The incidents a service-level warning is due for at ``ahora``, the longest due first."""
        return self._ids(Query(less_than={"sla_aviso_en": ahora}, sort=(("sla_aviso_en", 1),)), limit=limit)

    def earliest_due(self, empleado_ids: Iterable[str]) -> dict[str, str]:
        """Each employee's most urgent incident: when its first target runs
        out (only those who hold one whose clock runs)."""
        found: dict[str, str] = {}
        for empleado_id in empleado_ids:
            docs = self.collection.find(Query(equals={"asignada_a.id": empleado_id}, at_least={"sla_vence_en": ""},
                                              sort=(("sla_vence_en", 1),)), limit=1)
            if docs:
                found[empleado_id] = docs[0]["sla_vence_en"]
        return found

    def recent(self, limit: int) -> list[Incidencia]:
        return self._find(Query(sort=(("creada_en", -1),)), limit=limit)


def empleado_replica(store: Store) -> PersonalReplica:
    """The employees this service can assign to, from ``empleado.*`` events,
    with the e-mail address an assignment is sent to."""
    return PersonalReplica(store, EMPLEADOS, extra=("email",))


class ParkedEvents:
    """Events about an incident not seen yet: kept, then replayed once it arrives."""

    def __init__(self, store: Store):
        self.collection = store.collection(APARCADOS)

    def park(self, incidencia_id: str, event: Event) -> None:
        try:
            self.collection.insert({"id": event.id, "incidencia_id": incidencia_id, "evento": event.to_json()})
        except DuplicateKeyError:
            pass

    def any_for(self, incidencia_id: str) -> bool:
        return self.collection.find_one(Query(equals={"incidencia_id": incidencia_id})) is not None

    def take(self, incidencia_id: str) -> list[tuple[str, str]]:
        docs = self.collection.find(Query(equals={"incidencia_id": incidencia_id}))
        return [(d["id"], d["evento"]) for d in docs]

    def done(self, event_id: str) -> None:
        self.collection.delete(event_id)


class RespuestaRepository:
    """The canned replies, by title; a retired one is kept (``activa`` false)."""

    def __init__(self, store: Store):
        self.collection = store.collection(RESPUESTAS)

    def add(self, respuesta: RespuestaPredefinida, idempotency: IdempotentRequest | None = None) -> None:
        """Store a new reply (with the key of the request creating it);
        DuplicateKeyError (nothing written) when that key is taken."""
        self.collection.insert({**respuesta.to_document(), **creation_fields(idempotency)})

    def created_by(self, idempotency: IdempotentRequest) -> tuple[RespuestaPredefinida, str | None] | None:
        doc = self.collection.find_one(creation_query(idempotency))
        return (RespuestaPredefinida.from_document(doc), doc.get(CREATION_FINGERPRINT)) if doc else None

    def get(self, respuesta_id: str) -> RespuestaPredefinida | None:
        doc = self.collection.get(respuesta_id)
        return RespuestaPredefinida.from_document(doc) if doc else None

    def update(self, respuesta_id: str, change: Callable[[RespuestaPredefinida], RespuestaPredefinida],
               idempotency: IdempotentRequest | None = None) -> RespuestaPredefinida:
        """Apply ``change`` to the stored reply, again if someone wrote it
        meanwhile (with the key of the request, whose retry changes nothing);
        NotFound when there is none."""
        def apply(doc: dict[str, Any]):
            if replayed(doc, idempotency):
                return None
            new = change(RespuestaPredefinida.from_document(doc))
            return remember(new.to_document(), doc, idempotency), []

        return RespuestaPredefinida.from_document(update_document(self.collection, respuesta_id, apply))

    @staticmethod
    def _query(incluir_retiradas: bool) -> Query:
        return Query(sort=(("titulo", 1),)) if incluir_retiradas else Query(equals={"activa": True},
                                                                            sort=(("titulo", 1),))

    def count(self, incluir_retiradas: bool = False) -> int:
        return self.collection.count(self._query(incluir_retiradas))

    def list(self, incluir_retiradas: bool, skip: int, limit: int) -> list[RespuestaPredefinida]:
        return [RespuestaPredefinida.from_document(d)
                for d in self.collection.find(self._query(incluir_retiradas), skip, limit)]


class EtiquetaRepository:
    """The tags in use and how many incidents carry each (the counters every
    write of an incident moves, ``contados``)."""

    def __init__(self, store: Store):
        self.store = store
        self.collection = store.collection(ETIQUETAS)

    def register(self, etiqueta: str) -> None:
        """Know ``etiqueta`` from now on (before an incident carries it; once)."""
        if self.collection.get(etiqueta) is None:
            try:
                self.collection.insert({"id": etiqueta})
            except DuplicateKeyError:
                pass  # another request registered it first

    def in_use(self) -> dict[str, int]:
        """Each tag some incident carries, with how many do."""
        names = [d["id"] for d in self.collection.find(Query())]
        counts = self.store.counters(etiqueta_counter(n) for n in names)
        return {n: counts[etiqueta_counter(n)] for n in names if counts[etiqueta_counter(n)] > 0}


class NotificacionEquipoRepository(Notificaciones):
    """Staff's notifications, each to one employee."""

    def __init__(self, store: Store):
        super().__init__(store, NOTIFICACIONES, "empleado_id")
