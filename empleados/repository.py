"""Where employee accounts are kept (any store adapter)."""
from __future__ import annotations

from common.messaging import Event
from common.storage import CollectionSpec, Index, Query, Store

from .domain import ADMIN, Empleado

EMPLEADOS = CollectionSpec(
    "empleados",
    (
        Index(("email",), unique=True),
        Index(("activo", "creado_en")),
        Index(("rol", "activo", "creado_en")),
    ),
)


class ConcurrentUpdate(Exception):
    """Someone else changed the account since it was read."""


class EmpleadoRepository:
    def __init__(self, store: Store):
        self.collection = store.collection(EMPLEADOS)

    def add(self, empleado: Empleado, *events: Event) -> None:
        """Store a new account and its events in one write; DuplicateKeyError
        (nothing written) when the email is taken."""
        stored = self.collection.insert(empleado.to_document(), [e.to_outbox() for e in events])
        empleado._rev = stored["_rev"]

    def save(self, empleado: Empleado, *events: Event) -> None:
        stored = self.collection.replace(empleado.to_document(), [e.to_outbox() for e in events])
        if stored is None:
            raise ConcurrentUpdate(empleado.id)
        empleado._rev = stored["_rev"]

    def get(self, empleado_id: str) -> Empleado | None:
        doc = self.collection.get(empleado_id)
        return Empleado.from_document(doc) if doc else None

    def by_email(self, email: str) -> Empleado | None:
        doc = self.collection.find_one(Query(equals={"email": email}))
        return Empleado.from_document(doc) if doc else None

    def active_admins(self) -> int:
        return self.collection.count(Query(equals={"rol": ADMIN, "activo": True}))

    @staticmethod
    def _query(rol: str | None, activo: bool | None, search: str | None) -> Query:
        equals: dict[str, object] = {}
        if rol is not None:
            equals["rol"] = rol
        if activo is not None:
            equals["activo"] = activo
        return Query(
            equals=equals,
            search=(("email", "nombre", "apellidos"), search) if search else None,
            sort=(("creado_en", -1),),
        )

    def count(self, rol: str | None = None, activo: bool | None = None, search: str | None = None) -> int:
        return self.collection.count(self._query(rol, activo, search))

    def list(self, rol: str | None = None, activo: bool | None = None, search: str | None = None,
             skip: int = 0, limit: int | None = None) -> list[Empleado]:
        docs = self.collection.find(self._query(rol, activo, search), skip, limit)
        return [Empleado.from_document(d) for d in docs]
