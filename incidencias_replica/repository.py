"""A service's replica of incidents on the storage port: each document is
the incident's snapshot plus the service's own side fields."""
from __future__ import annotations

from typing import Any, Callable, Generic, Mapping, Protocol, Sequence, TypeVar

from common.errors import NotFound
from common.idempotency import IdempotentRequest, fingerprinted, remember, replayed, without_fingerprints
from common.messaging import Event
from common.storage import (
    CollectionSpec,
    CounterChange,
    DuplicateKeyError,
    OutboxMail,
    OutboxMessage,
    Query,
    Store,
)
from common.storage.retry import NotFound as NoDocument
from common.storage.text import TextIndex
from common.storage.retry import TooMuchContention, update_document
from incidencias_dominio import Incidencia, aplicar_snapshot


CAMBIO_CONCURRENTE = "La incidencia cambió mientras tanto; reintente"

TEXTO_DE_INCIDENCIA = TextIndex((("titulo", 4), ("descripcion", 2), ("comentarios.texto", 1), ("resolucion.texto", 1)))
"""What a search of incidents reads (``q=``): the title weighs most, then the
description, then the comments and the resolution. Each service indexes its
own replica: apertura's holds no internal notes, so a customer's search
never finds one; resolucion's holds them, for staff."""


class IncidenciaNoEncontrada(NotFound):
    def __init__(self, incidencia_id: str):
        super().__init__("La incidencia no existe", slug="no-encontrada", title="No encontrada")
        self.incidencia_id = incidencia_id


class SideFields(Protocol):
    """What a service stores beside the snapshot (a dataclass a change may modify)."""

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> "SideFields": ...

    def fields(self, incidencia: Incidencia) -> dict[str, Any]: ...


S = TypeVar("S", bound=SideFields)
# change(incidencia, side) -> the events to publish and the mails to send, or
# None to write nothing
Change = Callable[[Incidencia, S], Sequence[Event | OutboxMail] | None]
# guard(incidencia, side) -> None, or raises the refusal (Forbidden, NotFound)
Guard = Callable[[Incidencia, S], None]
# counted(document or None) -> what the document adds to the store's named counters
Counted = Callable[[Mapping[str, Any] | None], Mapping[str, int]]


def _outbox(items: Sequence[Event | OutboxMail]) -> list[OutboxMessage | OutboxMail]:
    """What a write hands the store: each event as its outbox message, each
    mail as it is (both stored in the same atomic write as the document)."""
    return [item if isinstance(item, OutboxMail) else item.to_outbox() for item in items]


def _nothing_counted(_doc: Mapping[str, Any] | None) -> Mapping[str, int]:
    return {}


class IncidenciaReplica(Generic[S]):
    """Reads and writes one service's incidents; ``conservar_internas`` says
    whether internal notes are kept (resolucion) or dropped (apertura).

    ``counted`` says what a stored document adds to the store's named
    counters (resolucion: one to its assignee's open load). Every write of a
    document moves them by the difference between what it replaces and what
    it stores, in the same atomic write, so a counter is always the count
    over the stored documents: a redelivered or replayed event that changes
    nothing moves nothing, and no write path can forget one."""

    def __init__(self, store: Store, spec: CollectionSpec, side: type[S], *, conservar_internas: bool,
                 counted: Counted = _nothing_counted):
        self.store = store
        self.collection = store.collection(spec)
        self.side = side
        self.conservar_internas = conservar_internas
        self.counted = counted

    def counter_changes(self, before: Mapping[str, Any] | None,
                        after: Mapping[str, Any] | None) -> list[CounterChange]:
        """What replacing ``before`` (None: nothing stored) by ``after``
        (None: deleted) moves in the counters."""
        old, new = self.counted(before), self.counted(after)
        return [CounterChange(name, new.get(name, 0) - old.get(name, 0))
                for name in sorted(old.keys() | new.keys()) if new.get(name, 0) != old.get(name, 0)]

    def to_document(self, incidencia: Incidencia, side: S) -> dict[str, Any]:
        return {**incidencia.to_snapshot(incluir_internas=self.conservar_internas), **side.fields(incidencia)}

    def _read(self, doc: dict[str, Any]) -> tuple[Incidencia, S]:
        return Incidencia.from_snapshot(doc), self.side.of(doc)

    def add(self, incidencia: Incidencia, side: S, *events: Event | OutboxMail) -> None:
        document = self.to_document(incidencia, side)
        self.collection.insert(document, [*_outbox(events), *self.counter_changes(None, document)])

    def get(self, incidencia_id: str) -> tuple[Incidencia, S] | None:
        doc = self.collection.get(incidencia_id)
        return self._read(doc) if doc else None

    def _find_one(self, query: Query) -> tuple[Incidencia, S] | None:
        doc = self.collection.find_one(query)
        return self._read(doc) if doc else None

    def update(self, incidencia_id: str, change: Change, idempotency: IdempotentRequest | None = None,
               guard: Guard | None = None, *, forget_requests: bool = False) -> tuple[Incidencia, S]:
        """Apply ``change`` and store it with its events atomically, retrying
        on concurrent writes. ``change`` may modify the incident and the side
        fields, and returns the events and the mails (``OutboxMail``) the
        change decides (None: write nothing). With
        ``idempotency``, the request's key is stored in that same write (even
        when the change writes nothing else), and a retry of it changes
        nothing and returns the incident as it is (``common.idempotency``).

        ``guard`` is who may act on the incident as it is now (it raises the
        refusal). It runs before the replay decision, on the document that
        decision reads: a replay answers the incident as it is now, so it
        must be refused exactly when a first request would be (an agent the
        incident was taken from since, say), or it would show what the
        caller may no longer see.

        ``forget_requests`` (the customer's erasure): the document keeps the
        keys of the requests made to it but no fingerprint of what they sent
        (``common.idempotency.without_fingerprints``), written even when
        ``change`` changes nothing else (the other replica's snapshot may
        have anonymised the incident already). Raises IncidenciaNoEncontrada,
        KeyReused, TooMuchContention or what ``guard`` or ``change`` raise."""
        result: list[tuple[Incidencia, S]] = []

        def apply(doc: dict[str, Any]):
            incidencia, side = self._read(doc)
            result[:] = [(incidencia, side)]
            if guard is not None:
                guard(incidencia, side)
            if replayed(doc, idempotency):
                return None
            events = change(incidencia, side)
            forgets = forget_requests and fingerprinted(doc)
            if events is None and idempotency is None and not forgets:
                return None
            document, previous = self.to_document(incidencia, side), doc
            if forgets:
                document, previous = without_fingerprints(document), without_fingerprints(doc)
            return (remember(document, previous, idempotency),
                    [*_outbox(events or ()), *self.counter_changes(doc, document)])

        try:
            update_document(self.collection, incidencia_id, apply)
        except NoDocument as exc:
            raise IncidenciaNoEncontrada(incidencia_id) from exc
        except TooMuchContention as exc:
            raise TooMuchContention(incidencia_id, CAMBIO_CONCURRENTE) from exc
        return result[0]

    def apply_snapshot(self, snapshot: dict[str, Any], then: Change | None = None) -> tuple[Incidencia, bool]:
        """Merge the other service's snapshot into the replica (versions
        decide, comments merge, side fields stay). When the merge changes
        the replica, ``then`` may change the merged incident further in the
        same write, returning the events and mails of that change (resolucion
        assigns an arriving incident so: one write, no second read). Returns
        the incident as stored and whether anything was written."""
        for _ in range(20):
            current = self.collection.get(snapshot["id"])
            local = Incidencia.from_snapshot(current) if current else None
            merged, changed = aplicar_snapshot(local, snapshot, conservar_internas=self.conservar_internas)
            if not changed:
                return merged, False
            side = self.side.of(current)
            items = _outbox((then(merged, side) if then is not None else None) or ())
            if current is None:
                document = self.to_document(merged, side)
                try:
                    self.collection.insert(document, [*items, *self.counter_changes(None, document)])
                    return merged, True
                except DuplicateKeyError:
                    continue
            document = remember(self.to_document(merged, side), current, None)
            if self.collection.replace({**document, "_rev": current["_rev"]},
                                       [*items, *self.counter_changes(current, document)]):
                return merged, True
        raise TooMuchContention(snapshot["id"], CAMBIO_CONCURRENTE)

    # -- for the services' own queries --------------------------------------
    def _count(self, query: Query) -> int:
        return self.collection.count(query)

    def _find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[Incidencia]:
        return [Incidencia.from_snapshot(d) for d in self.collection.find(query, skip, limit)]

    def _ids(self, query: Query, limit: int | None = None) -> list[str]:
        return [d["id"] for d in self.collection.find(query, limit=limit)]
