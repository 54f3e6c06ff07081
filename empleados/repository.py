"""Where employee accounts are kept (any store adapter)."""
from __future__ import annotations

from common.idempotency import CREATION_INDEX
from common.storage import CollectionSpec, Index, Query
from cuentas.repository import ConcurrentUpdate, CuentaRepository
from cuentas.roles import ADMIN

from .domain import Empleado

__all__ = ["EMPLEADOS", "OUTBOX", "ConcurrentUpdate", "EmpleadoRepository"]

EMPLEADOS = CollectionSpec(
    "empleados",
    (
        Index(("email",), unique=True),
        # The list, newest first: everyone, by activo, by rol, by both.
        Index(("creado_en",)),
        Index(("activo", "creado_en")),
        Index(("rol", "creado_en")),
        Index(("rol", "activo", "creado_en")),
        CREATION_INDEX,  # the admin's Idempotency-Key of the registration (common/idempotency.py)
    ),
)
OUTBOX = (EMPLEADOS,)
"""The collections whose writes carry empleados' events."""


class EmpleadoRepository(CuentaRepository[Empleado]):
    spec, model = EMPLEADOS, Empleado

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
