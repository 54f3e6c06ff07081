"""Where incidencias_resolucion keeps its replica of incidents (with the
internal notes), its replica of employees, and events that arrived before
the incident they refer to."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Sequence

from common.messaging import Event
from common.storage import CollectionSpec, DuplicateKeyError, Index, Query, Store
from common.storage.retry import keep_newest, update_document
from incidencias_dominio import Estado, Incidencia, Prioridad, aplicar_snapshot

from .domain import ESTADOS_CON_CARGA

INCIDENCIAS = CollectionSpec(
    "incidencias",
    (
        Index(("estado", "creada_en")),
        Index(("asignada_a.id", "estado", "creada_en")),  # an agent's queue, in order
        Index(("prioridad_rank", "creada_en")),
        Index(("categoria", "creada_en")),
        Index(("cliente.id", "estado")),
        Index(("creada_en",)),
    ),
)
EMPLEADOS = CollectionSpec("empleados", (Index(("activo", "rol")),))
APARCADOS = CollectionSpec("eventos_aparcados", (Index(("incidencia_id",)),))

Change = Callable[[Incidencia], Sequence[Event] | None]
SORTS = {
    "antiguedad": (("creada_en", 1),),
    "recientes": (("creada_en", -1),),
    "prioridad": (("prioridad_rank", -1), ("creada_en", 1)),
}


def to_document(incidencia: Incidencia) -> dict[str, Any]:
    return {**incidencia.to_snapshot(incluir_internas=True), "prioridad_rank": incidencia.prioridad.rank}


class IncidenciaRepository:
    def __init__(self, store: Store):
        self.collection = store.collection(INCIDENCIAS)

    def get(self, incidencia_id: str) -> Incidencia | None:
        doc = self.collection.get(incidencia_id)
        return Incidencia.from_snapshot(doc) if doc else None

    def update(self, incidencia_id: str, change: Change) -> Incidencia:
        """Apply ``change`` and store it with its events atomically, retrying
        on concurrent writes; raises NotFound."""
        result: dict[str, Incidencia] = {}

        def apply(doc: dict[str, Any]):
            incidencia = Incidencia.from_snapshot(doc)
            events = change(incidencia)
            result["incidencia"] = incidencia
            if events is None:
                return None
            return to_document(incidencia), [e.to_outbox() for e in events]

        update_document(self.collection, incidencia_id, apply)
        return result["incidencia"]

    def apply_snapshot(self, snapshot: dict[str, Any]) -> tuple[Incidencia, bool]:
        """Merge apertura's snapshot into the replica; versions decide."""
        for _ in range(20):
            current = self.collection.get(snapshot["id"])
            local = Incidencia.from_snapshot(current) if current else None
            merged, changed = aplicar_snapshot(local, snapshot, conservar_internas=True)
            if not changed:
                return merged, False
            if current is None:
                try:
                    self.collection.insert(to_document(merged))
                    return merged, True
                except DuplicateKeyError:
                    continue
            if self.collection.replace({**to_document(merged), "_rev": current["_rev"]}):
                return merged, True
        raise RuntimeError(f"incident {snapshot['id']} kept changing while applying a snapshot")

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
        return Query(equals=equals, any_of=any_of, sort=SORTS[orden])

    def count(self, filters: dict[str, Any]) -> int:
        return self.collection.count(self.query(filters))

    def list(self, filters: dict[str, Any], orden: str, skip: int, limit: int) -> list[Incidencia]:
        return [Incidencia.from_snapshot(d) for d in self.collection.find(self.query(filters, orden), skip, limit)]

    def ids(self, filters: dict[str, Any], limit: int | None = None) -> list[str]:
        return [d["id"] for d in self.collection.find(self.query(filters), limit=limit)]

    def load_of(self, empleado_ids: Iterable[str]) -> dict[str, int]:
        states = [e.value for e in ESTADOS_CON_CARGA]
        return {
            empleado_id: self.collection.count(
                Query(equals={"asignada_a.id": empleado_id}, any_of={"estado": states}))
            for empleado_id in empleado_ids
        }

    def recent(self, limit: int) -> list[Incidencia]:
        docs = self.collection.find(Query(sort=(("creada_en", -1),)), limit=limit)
        return [Incidencia.from_snapshot(d) for d in docs]


class EmpleadoReplica:
    """The employees this service can assign to, from ``empleado.*`` events."""

    def __init__(self, store: Store):
        self.collection = store.collection(EMPLEADOS)

    def upsert(self, empleado: dict[str, Any], version_key: str) -> bool:
        """Store the employee unless an event at least as recent was applied
        (``version_key`` orders the events of one account)."""
        return keep_newest(self.collection, empleado, version_key)

    def get(self, empleado_id: str) -> dict[str, Any] | None:
        return self.collection.get(empleado_id)

    def active(self) -> list[dict[str, Any]]:
        return self.collection.find(Query(equals={"activo": True}, sort=(("rol", 1),)))

    def inactive_ids(self) -> list[str]:
        return [d["id"] for d in self.collection.find(Query(equals={"activo": False}))]


class ParkedEvents:
    """Events about an incident not seen yet: kept, then replayed once it arrives."""

    def __init__(self, store: Store):
        self.collection = store.collection(APARCADOS)

    def park(self, incidencia_id: str, event: Event) -> None:
        try:
            self.collection.insert({"id": event.id, "incidencia_id": incidencia_id, "evento": event.to_json()})
        except DuplicateKeyError:
            pass

    def take(self, incidencia_id: str) -> list[tuple[str, str]]:
        docs = self.collection.find(Query(equals={"incidencia_id": incidencia_id}))
        return [(d["id"], d["evento"]) for d in docs]

    def done(self, event_id: str) -> None:
        self.collection.delete(event_id)
