"""Where an account service keeps its accounts (any store adapter): what
``ClienteRepository`` and ``EmpleadoRepository`` share. Each write carries
the events it causes; the store's revision (``_rev``) refuses a write based
on a stale read."""
from __future__ import annotations

from typing import Generic, TypeVar

from common.errors import Conflict
from common.messaging import Event
from common.storage import CollectionSpec, Query, Store
from common.tokens import Principal

from .cuenta import Cuenta

C = TypeVar("C", bound=Cuenta)


class ConcurrentUpdate(Conflict):
    """Someone else changed the account since it was read (answered 409; the caller reloads)."""

    def __init__(self, cuenta_id: str):
        super().__init__("La cuenta cambió mientras tanto; reintente", slug="conflicto-concurrente")
        self.key = cuenta_id


class CuentaRepository(Generic[C]):
    """A collection of accounts of type ``model``, unique by e-mail."""

    spec: CollectionSpec
    model: type[C]

    def __init__(self, store: Store):
        self.collection = store.collection(self.spec)

    def add(self, cuenta: C, *events: Event) -> None:
        """Store a new account and its events in one write; DuplicateKeyError
        (nothing written) when the email is taken."""
        stored = self.collection.insert(cuenta.to_document(), [e.to_outbox() for e in events])
        cuenta._rev = stored["_rev"]

    def save(self, cuenta: C, *events: Event) -> None:
        """Replace the account read before and add its events; ConcurrentUpdate
        (nothing written) when it changed since, DuplicateKeyError when its
        new email is taken."""
        stored = self.collection.replace(cuenta.to_document(), [e.to_outbox() for e in events])
        if stored is None:
            raise ConcurrentUpdate(cuenta.id)
        cuenta._rev = stored["_rev"]

    def get(self, cuenta_id: str) -> C | None:
        doc = self.collection.get(cuenta_id)
        return self.model.from_document(doc) if doc else None

    def by_email(self, email: str) -> C | None:
        doc = self.collection.find_one(Query(equals={"email": email}))
        return self.model.from_document(doc) if doc else None

    def revokes(self, principal: Principal) -> bool:
        """Whether a token this service issued must be refused: its account
        is gone, may no longer log in, or now holds another role."""
        cuenta = self.get(principal.id)
        return cuenta is None or not cuenta.puede_iniciar_sesion or cuenta.rol != principal.rol
