"""Where customer accounts are kept (any store adapter)."""
from __future__ import annotations

from typing import Any

from common.messaging import Event
from common.storage import CollectionSpec, Index, Query, Store
from common.storage.retry import keep_newest

from .domain import Cliente

CLIENTES = CollectionSpec(
    "clientes",
    (Index(("email",), unique=True), Index(("eliminado", "creado_en"))),
)

PERSONAL = CollectionSpec("personal")


class ConcurrentUpdate(Exception):
    """Someone else changed the account since it was read."""


class ClienteRepository:
    def __init__(self, store: Store):
        self.collection = store.collection(CLIENTES)

    def add(self, cliente: Cliente, *events: Event) -> None:
        stored = self.collection.insert(cliente.to_document(), [e.to_outbox() for e in events])
        cliente._rev = stored["_rev"]

    def save(self, cliente: Cliente, *events: Event) -> None:
        stored = self.collection.replace(cliente.to_document(), [e.to_outbox() for e in events])
        if stored is None:
            raise ConcurrentUpdate(cliente.id)
        cliente._rev = stored["_rev"]

    def get(self, cliente_id: str) -> Cliente | None:
        doc = self.collection.get(cliente_id)
        return Cliente.from_document(doc) if doc else None

    def by_email(self, email: str) -> Cliente | None:
        doc = self.collection.find_one(Query(equals={"email": email}))
        return Cliente.from_document(doc) if doc else None

    def _query(self, search: str | None) -> Query:
        return Query(
            equals={"eliminado": False},
            search=(("email", "nombre", "apellidos"), search) if search else None,
            sort=(("creado_en", -1),),
        )

    def count(self, search: str | None = None) -> int:
        return self.collection.count(self._query(search))

    def list(self, search: str | None, skip: int, limit: int) -> list[Cliente]:
        return [Cliente.from_document(d) for d in self.collection.find(self._query(search), skip, limit)]


class StaffReplica:
    """What clientes knows of each employee (role and whether active), from
    ``empleado.*`` events: enough to refuse a staff token at once when its
    employee is deactivated or changes role, as empleados does."""

    def __init__(self, store: Store):
        self.collection = store.collection(PERSONAL)

    def upsert(self, empleado: dict[str, Any], order: str) -> bool:
        """Keep the employee unless an event at least as recent (``order``) was applied."""
        return keep_newest(self.collection, empleado, order)

    def get(self, empleado_id: str) -> dict[str, Any] | None:
        return self.collection.get(empleado_id)
