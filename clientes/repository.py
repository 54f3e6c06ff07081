"""Where customer accounts are kept (any store adapter)."""
from __future__ import annotations

from common.idempotency import CREATION_INDEX
from common.storage import CollectionSpec, Index, Query
from cuentas.repository import ConcurrentUpdate, CuentaRepository

from .domain import Cliente

__all__ = ["CLIENTES", "OUTBOX", "ClienteRepository", "ConcurrentUpdate"]

CLIENTES = CollectionSpec(
    "clientes",
    (Index(("email",), unique=True), Index(("eliminado", "creado_en")),
     CREATION_INDEX),  # the Idempotency-Key of the registration (common/idempotency.py)
)
OUTBOX = (CLIENTES,)
"""The collections whose writes carry clientes' events."""


class ClienteRepository(CuentaRepository[Cliente]):
    spec, model = CLIENTES, Cliente

    @staticmethod
    def _query(search: str | None) -> Query:
        return Query(
            equals={"eliminado": False},
            search=(("email", "nombre", "apellidos"), search) if search else None,
            sort=(("creado_en", -1),),
        )

    def count(self, search: str | None = None) -> int:
        return self.collection.count(self._query(search))

    def list(self, search: str | None, skip: int, limit: int) -> list[Cliente]:
        return [Cliente.from_document(d) for d in self.collection.find(self._query(search), skip, limit)]
