"""Where incidencias_apertura keeps its replica of incidents, its replica of
customers and the customers' notifications (any store adapter).

An incident document is its public snapshot plus the fields only this side
uses (``DatosApertura``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.idempotency import IdempotentRequest, remember, replayed, without_fingerprints
from common.storage import CollectionSpec, DuplicateKeyError, Index, Query, Store
from common.storage.retry import TooMuchContention
from common.tokens import Principal
from cuentas.cuenta import sesion_anterior
from incidencias_dominio import ESTADOS_FINALES, Estado, Incidencia
from incidencias_replica.notificaciones import Notificaciones, notificaciones_spec
from incidencias_replica.repository import TEXTO_DE_INCIDENCIA, IncidenciaReplica

INCIDENCIAS = CollectionSpec(
    "incidencias",
    (
        Index(("cliente.id", "creada_en")),
        Index(("cliente.id", "estado", "creada_en")),
        Index(("estado", "resuelta_en")),
        Index(("estado", "actualizada_en")),  # the questions left unanswered (``to_remind``)
        Index(("estado", "recordatorio_en")),  # ... and reminded (``reminded_before``)
        # The key of the request that opened it, the customer's own (the
        # creation's key, looked up by ``create_once``; see common/idempotency.py).
        Index(("cliente.id", "idempotency_key"), unique=True),
    ),
    text=TEXTO_DE_INCIDENCIA,
)
CLIENTES = CollectionSpec("clientes")
NOTIFICACIONES = notificaciones_spec("cliente_id")
OUTBOX = (INCIDENCIAS, NOTIFICACIONES)
"""The collections whose writes carry events or mails (a notification's
mail to the customer is stored with the notification)."""


@dataclass
class DatosApertura:
    """What apertura keeps beside an incident's snapshot: the request that
    opened it (its Idempotency-Key and the request's fingerprint, under the
    names ``common.idempotency`` gives a creation's key), when the
    customer asked to cancel it, and when they were reminded of a question
    left unanswered (the one reminder of its wait)."""

    idempotency_key: str | None = None
    idempotency_hash: str | None = None
    cancelacion_solicitada_en: str | None = None
    recordatorio_en: str | None = None

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> DatosApertura:
        doc = doc or {}
        return cls(doc.get("idempotency_key"), doc.get("idempotency_hash"), doc.get("cancelacion_solicitada_en"),
                   doc.get("recordatorio_en"))

    def fields(self, incidencia: Incidencia) -> dict[str, Any]:
        # The reminder belongs to one wait: a new question starts without it.
        recordatorio = self.recordatorio_en if incidencia.estado is Estado.ESPERANDO_CLIENTE else None
        return {"idempotency_key": self.idempotency_key, "idempotency_hash": self.idempotency_hash,
                "cancelacion_solicitada_en": self.cancelacion_solicitada_en, "recordatorio_en": recordatorio}


class IncidenciaRepository(IncidenciaReplica[DatosApertura]):
    def __init__(self, store: Store):
        super().__init__(store, INCIDENCIAS, DatosApertura, conservar_internas=False)

    def by_idempotency_key(self, cliente_id: str, key: str) -> tuple[Incidencia, DatosApertura] | None:
        return self._find_one(Query(equals={"cliente.id": cliente_id, "idempotency_key": key}))

    @staticmethod
    def _of_cliente(cliente_id: str, estado: str | None, palabras: tuple[str, ...] = ()) -> Query:
        """A customer's incidents, newest first; with ``palabras``, those
        holding every word, the best matches first."""
        equals: dict[str, Any] = {"cliente.id": cliente_id}
        if estado:
            equals["estado"] = estado
        return Query(equals=equals, text=palabras, sort=() if palabras else (("creada_en", -1),))

    def count_of_cliente(self, cliente_id: str, estado: str | None = None, palabras: tuple[str, ...] = ()) -> int:
        return self._count(self._of_cliente(cliente_id, estado, palabras))

    def list_of_cliente(self, cliente_id: str, estado: str | None, skip: int, limit: int,
                        palabras: tuple[str, ...] = ()) -> list[Incidencia]:
        return self._find(self._of_cliente(cliente_id, estado, palabras), skip, limit)

    def not_final_of_cliente(self, cliente_id: str) -> list[str]:
        states = [e.value for e in Estado if e not in ESTADOS_FINALES]
        return self._ids(Query(equals={"cliente.id": cliente_id}, any_of={"estado": states}))

    def final_of_cliente(self, cliente_id: str) -> list[str]:
        return self._ids(Query(equals={"cliente.id": cliente_id}, any_of={"estado": [e.value for e in ESTADOS_FINALES]}))

    def to_remind(self, instant: str, limit: int = 500) -> list[str]:
        """The incidents waiting on their customer since before ``instant``
        and not reminded yet (nothing versioned changes while they wait:
        ``actualizada_en`` is when the question was asked)."""
        return self._ids(Query(equals={"estado": Estado.ESPERANDO_CLIENTE.value, "recordatorio_en": None},
                               less_than={"actualizada_en": instant}, sort=(("actualizada_en", 1),)), limit=limit)

    def reminded_before(self, instant: str, limit: int = 500) -> list[str]:
        """The incidents still waiting on their customer, reminded before ``instant``."""
        return self._ids(Query(equals={"estado": Estado.ESPERANDO_CLIENTE.value},
                               less_than={"recordatorio_en": instant}, sort=(("recordatorio_en", 1),)), limit=limit)

    def resolved_before(self, instant: str, limit: int = 500) -> list[str]:
        return self._ids(Query(equals={"estado": Estado.RESUELTA.value}, less_than={"resuelta_en": instant},
                              sort=(("resuelta_en", 1),)), limit=limit)


ORDER = "version_key"  # the replica order of the last cliente.* event stored
ERASED_FIELDS = ("email", "avisos_por_correo", "sesiones_desde", ORDER)


class ClienteReplica:
    """What this service knows of each customer, from ``cliente.*`` events,
    and the keys of the customer's requests that change no one document
    (marking every notification read)."""

    def __init__(self, store: Store):
        self.collection = store.collection(CLIENTES)

    def replayed(self, cliente_id: str, idempotency: IdempotentRequest | None) -> bool:
        """Whether the customer's document records ``idempotency`` already (KeyReused: for another request)."""
        return idempotency is not None and replayed(self.collection.get(cliente_id) or {}, idempotency)

    def remember(self, cliente_id: str, idempotency: IdempotentRequest | None, answer: dict[str, Any]) -> None:
        """Record ``idempotency`` and its ``answer`` in the customer's document
        (created bare when no ``cliente.*`` event brought it yet). A record of
        the same request written meanwhile is kept, and ``idempotency`` told
        it is a replay of it (KeyReused: of another request)."""
        if idempotency is None:
            return
        for _ in range(20):
            current = self.collection.get(cliente_id)
            new = remember({**(current or {"id": cliente_id})}, current, idempotency, answer)
            if current is None:
                try:
                    self.collection.insert(new)
                    return
                except DuplicateKeyError:
                    continue
            if self.collection.replace(new):
                return
        raise TooMuchContention(cliente_id)

    def erase(self, cliente_id: str) -> None:
        """The customer is erased: no name, no e-mail, no preferences, and of
        their keyed requests only the keys (``without_fingerprints``). Final:
        ``upsert`` never brings the customer back."""
        for _ in range(20):
            current = self.collection.get(cliente_id)
            kept = {k: v for k, v in without_fingerprints(current or {"id": cliente_id}).items()
                    if k not in ERASED_FIELDS}
            erased = {**kept, "eliminado": True, "nombre": None, "apellidos": None, "email": None}
            if current is None:
                try:
                    self.collection.insert(erased)
                    return
                except DuplicateKeyError:
                    continue
            if self.collection.replace(erased):
                return
        raise TooMuchContention(cliente_id)

    def upsert(self, cliente: dict[str, Any], order: str) -> None:
        """Store what a ``cliente.*`` event says of the customer unless an
        event at least as recent (``order``, ``Event.replica_order``) was
        stored already, so a late or redelivered older event never brings
        back an old e-mail address or an old start of sessions."""
        for _ in range(20):
            current = self.collection.get(cliente["id"])
            if current is None:
                try:
                    self.collection.insert({**cliente, ORDER: order})
                    return
                except DuplicateKeyError:
                    continue
            if current.get("eliminado") and not cliente.get("eliminado"):
                return  # erasure is final, whatever arrives late
            if ORDER in current and current[ORDER] >= order:
                return  # an event at least as recent is here already
            if self.collection.replace({**current, **cliente, ORDER: order}):
                return
        raise TooMuchContention(cliente["id"])

    def get(self, cliente_id: str) -> dict[str, Any] | None:
        return self.collection.get(cliente_id)

    def is_deleted(self, cliente_id: str) -> bool:
        doc = self.collection.get(cliente_id)
        return bool(doc and doc.get("eliminado"))

    def revokes(self, principal: Principal) -> bool:
        """Whether a customer token must be refused: the customer was erased,
        or changed their password after the token was issued (the instant
        ``sesiones_desde`` that clientes publishes). A customer this service
        has not heard of yet is vouched for by clientes' signature."""
        doc = self.collection.get(principal.id)
        return bool(doc) and (bool(doc.get("eliminado"))
                              or sesion_anterior(doc.get("sesiones_desde"), principal.claims.get("iat")))


class NotificacionRepository(Notificaciones):
    """The customers' notifications."""

    def __init__(self, store: Store):
        super().__init__(store, NOTIFICACIONES, "cliente_id")

    def delete_of_cliente(self, cliente_id: str) -> None:
        """The customer's notifications, and every mail for them not sent yet."""
        self.delete_of(cliente_id)
