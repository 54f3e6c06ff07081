"""Where customer accounts are kept (any store adapter)."""
from __future__ import annotations

from common.idempotency import CREATION_INDEX
from common.storage import CollectionSpec, Index, Query, Store
from cuentas.repository import ConcurrentUpdate, CuentaRepository

from .domain import PHONE_DIGITS, Cliente, digitos_de_telefono, texto_de_busqueda

__all__ = ["CLIENTES", "OUTBOX", "ClienteRepository", "ConcurrentUpdate"]

CLIENTES = CollectionSpec(
    "clientes",
    (Index(("email",), unique=True), Index(("eliminado", "creado_en")),
     CREATION_INDEX),  # the Idempotency-Key of the registration (common/idempotency.py)
)
OUTBOX = (CLIENTES,)
"""The collections whose writes carry clientes' events."""
PHONE_DIGITS_KEPT = "telefono_digitos:*"
"""The counter that says every stored account has its phone's digits
(``ClienteRepository.ensure_phone_digits``)."""


class ClienteRepository(CuentaRepository[Cliente]):
    spec, model = CLIENTES, Cliente

    def __init__(self, store: Store):
        super().__init__(store)
        self._phone_digits_ensured = False

    def _query(self, search: str | None) -> Query:
        if search and not self._phone_digits_ensured:
            self.ensure_phone_digits()
            self._phone_digits_ensured = True
        return Query(
            equals={"eliminado": False},
            search=(("email", "nombre", "apellidos", PHONE_DIGITS), texto_de_busqueda(search)) if search else None,
            sort=(("creado_en", -1),),
        )

    def count(self, search: str | None = None) -> int:
        return self.collection.count(self._query(search))

    def list(self, search: str | None, skip: int, limit: int) -> list[Cliente]:
        return [Cliente.from_document(d) for d in self.collection.find(self._query(search), skip, limit)]

    def ensure_phone_digits(self) -> bool:
        """Store the phone's digits of every account written before they
        were kept, once (the first search of a process asks); True if it
        did. An account written meanwhile by this version has them already
        (a lost race only skips it); one written by an older version does
        not (``docs/deploy.md``: no rolling upgrade across this)."""
        if self.store.counters([PHONE_DIGITS_KEPT]).get(PHONE_DIGITS_KEPT):
            return False
        for doc in self.collection.find(Query(equals={PHONE_DIGITS: None})):
            if PHONE_DIGITS not in doc and doc.get("telefono"):
                self.collection.replace({**doc, PHONE_DIGITS: digitos_de_telefono(doc["telefono"])})
        self.store.set_counters({PHONE_DIGITS_KEPT: 1})
        return True
