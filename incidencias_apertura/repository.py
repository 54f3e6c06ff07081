"""Where incidencias_apertura keeps its replica of incidents, its replica of
customers and the customers' notifications (any store adapter).

An incident document is its public snapshot plus a few fields only this
side uses (``EXTRA_FIELDS``)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from common.messaging import Event
from common.storage import CollectionSpec, DuplicateKeyError, Index, Query, Store
from common.storage.retry import NotFound, update_document
from incidencias_dominio import FINAL_STATES, Estado, Incidencia, aplicar_snapshot

INCIDENCIAS = CollectionSpec(
    "incidencias",
    (
        Index(("cliente.id", "creada_en")),
        Index(("cliente.id", "estado", "creada_en")),
        Index(("estado", "resuelta_en")),
        Index(("cliente.id", "idempotency_key"), unique=True),
    ),
)
CLIENTES = CollectionSpec("clientes")
NOTIFICACIONES = CollectionSpec(
    "notificaciones",
    (
        Index(("cliente_id", "creada_en")),
        Index(("cliente_id", "leida", "creada_en")),
        # What a notification is about (an incident's version, a comment), so the
        # same news replayed under another event id does not notify twice.
        Index(("clave",), unique=True),
    ),
)
EXTRA_FIELDS = ("idempotency_key", "idempotency_hash", "cancelacion_solicitada_en")

# change(incidencia, extras) -> events to publish, or None to write nothing
Change = Callable[[Incidencia, dict[str, Any]], Sequence[Event] | None]


def to_document(incidencia: Incidencia, extras: dict[str, Any]) -> dict[str, Any]:
    return {**incidencia.to_snapshot(incluir_internas=False), **{k: extras.get(k) for k in EXTRA_FIELDS}}


def extras_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc.get(k) for k in EXTRA_FIELDS}


class IncidenciaRepository:
    def __init__(self, store: Store):
        self.collection = store.collection(INCIDENCIAS)

    def add(self, incidencia: Incidencia, extras: dict[str, Any], *events: Event) -> None:
        self.collection.insert(to_document(incidencia, extras), [e.to_outbox() for e in events])

    def get(self, incidencia_id: str) -> tuple[Incidencia, dict[str, Any]] | None:
        doc = self.collection.get(incidencia_id)
        return (Incidencia.from_snapshot(doc), extras_of(doc)) if doc else None

    def by_idempotency_key(self, cliente_id: str, key: str) -> tuple[Incidencia, dict[str, Any]] | None:
        doc = self.collection.find_one(Query(equals={"cliente.id": cliente_id, "idempotency_key": key}))
        return (Incidencia.from_snapshot(doc), extras_of(doc)) if doc else None

    def update(self, incidencia_id: str, change: Change) -> Incidencia:
        """Apply ``change`` and store it with its events atomically, retrying
        on concurrent writes; raises NotFound."""
        result: dict[str, Incidencia] = {}

        def apply(doc: dict[str, Any]):
            incidencia, extras = Incidencia.from_snapshot(doc), extras_of(doc)
            events = change(incidencia, extras)
            result["incidencia"] = incidencia
            if events is None:
                return None
            return to_document(incidencia, extras), [e.to_outbox() for e in events]

        update_document(self.collection, incidencia_id, apply)
        return result["incidencia"]

    def apply_snapshot(self, snapshot: dict[str, Any]) -> tuple[Incidencia, bool]:
        """Merge another service's snapshot into the replica (versions decide)."""
        for _ in range(20):
            current = self.collection.get(snapshot["id"])
            local = Incidencia.from_snapshot(current) if current else None
            merged, changed = aplicar_snapshot(local, snapshot, conservar_internas=False)
            if not changed:
                return merged, False
            if current is None:
                try:
                    self.collection.insert(to_document(merged, {}))
                    return merged, True
                except DuplicateKeyError:
                    continue
            if self.collection.replace({**to_document(merged, extras_of(current)), "_rev": current["_rev"]}):
                return merged, True
        raise RuntimeError(f"incident {snapshot['id']} kept changing while applying a snapshot")

    def _customer_query(self, cliente_id: str, estado: str | None) -> Query:
        equals: dict[str, Any] = {"cliente.id": cliente_id}
        if estado:
            equals["estado"] = estado
        return Query(equals=equals, sort=(("creada_en", -1),))

    def count_for_customer(self, cliente_id: str, estado: str | None = None) -> int:
        return self.collection.count(self._customer_query(cliente_id, estado))

    def list_for_customer(self, cliente_id: str, estado: str | None, skip: int, limit: int) -> list[Incidencia]:
        docs = self.collection.find(self._customer_query(cliente_id, estado), skip, limit)
        return [Incidencia.from_snapshot(d) for d in docs]

    def not_final_of_customer(self, cliente_id: str) -> list[str]:
        states = [e.value for e in Estado if e not in FINAL_STATES]
        docs = self.collection.find(Query(equals={"cliente.id": cliente_id}, any_of={"estado": states}))
        return [d["id"] for d in docs]

    def final_of_customer(self, cliente_id: str) -> list[str]:
        docs = self.collection.find(Query(equals={"cliente.id": cliente_id},
                                          any_of={"estado": [e.value for e in FINAL_STATES]}))
        return [d["id"] for d in docs]

    def resolved_before(self, instant: str, limit: int = 500) -> list[str]:
        docs = self.collection.find(
            Query(equals={"estado": Estado.RESUELTA.value}, less_than={"resuelta_en": instant},
                  sort=(("resuelta_en", 1),)),
            limit=limit,
        )
        return [d["id"] for d in docs]


class ClienteReplica:
    """What this service knows of each customer, from ``cliente.*`` events."""

    def __init__(self, store: Store):
        self.collection = store.collection(CLIENTES)

    def upsert(self, cliente: dict[str, Any]) -> None:
        for _ in range(20):
            current = self.collection.get(cliente["id"])
            if current is None:
                try:
                    self.collection.insert(cliente)
                    return
                except DuplicateKeyError:
                    continue
            if current.get("eliminado") and not cliente.get("eliminado"):
                return  # erasure is final, whatever arrives late
            if self.collection.replace({**current, **cliente}):
                return

    def is_deleted(self, cliente_id: str) -> bool:
        doc = self.collection.get(cliente_id)
        return bool(doc and doc.get("eliminado"))


class NotificationRepository:
    def __init__(self, store: Store):
        self.collection = store.collection(NOTIFICACIONES)

    def add(self, notification: dict[str, Any]) -> bool:
        try:
            self.collection.insert(notification)
            return True
        except DuplicateKeyError:
            return False  # same event, or the same news under another event id

    def _query(self, cliente_id: str, solo_no_leidas: bool) -> Query:
        equals: dict[str, Any] = {"cliente_id": cliente_id}
        if solo_no_leidas:
            equals["leida"] = False
        return Query(equals=equals, sort=(("creada_en", -1),))

    def count(self, cliente_id: str, solo_no_leidas: bool = False) -> int:
        return self.collection.count(self._query(cliente_id, solo_no_leidas))

    def list(self, cliente_id: str, solo_no_leidas: bool, skip: int, limit: int) -> list[dict[str, Any]]:
        return self.collection.find(self._query(cliente_id, solo_no_leidas), skip, limit)

    def mark_read(self, cliente_id: str, notification_id: str) -> dict[str, Any]:
        def change(doc):
            if doc["cliente_id"] != cliente_id:
                raise NotFound(notification_id)
            return ({**doc, "leida": True}, []) if not doc["leida"] else None

        return update_document(self.collection, notification_id, change)

    def mark_all_read(self, cliente_id: str) -> int:
        marked = 0
        for doc in self.collection.find(self._query(cliente_id, True)):
            self.mark_read(cliente_id, doc["id"])
            marked += 1
        return marked

    def delete_for_customer(self, cliente_id: str) -> None:
        for doc in self.collection.find(Query(equals={"cliente_id": cliente_id})):
            self.collection.delete(doc["id"])
