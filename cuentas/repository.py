"""Where an account service keeps its accounts (any store adapter): what
``ClienteRepository`` and ``EmpleadoRepository`` share. Each write carries
the events it causes; the store's revision (``_rev``) refuses a write based
on a stale read.

An account document also holds what ``common.idempotency`` records of the
keyed requests that created or changed it. The account model knows nothing
of it, so every rewrite carries it over from the stored document."""
from __future__ import annotations

from typing import Generic, Sequence, TypeVar

from common.errors import Conflict
from common.idempotency import (
    CREATION_FINGERPRINT, IdempotentRequest, creation_fields, creation_query, forgotten, remember,
    replayed,
)
from common.messaging import Event
from common.storage import CollectionSpec, OutboxMail, Query, Store
from common.tokens import Principal

from .cuenta import Cuenta

C = TypeVar("C", bound=Cuenta)


class ConcurrentUpdate(Conflict):
    """Someone else changed the account since it was read (answered 409; the caller reloads)."""

    def __init__(self, cuenta_id: str):
        super().__init__("La cuenta cambió mientras tanto; reintente", slug="conflicto-concurrente")
        self.key = cuenta_id


class CuentaRepository(Generic[C]):
    """A collection of accounts of type ``model``, unique by e-mail. The
    e-mails a write decides (``mails``: a link to follow, a notice) are
    stored with it, in the same atomic write, in the store's mail outbox
    (the account collection carries one: the service's ``OUTBOX``)."""

    spec: CollectionSpec
    model: type[C]

    def __init__(self, store: Store):
        self.store = store
        self.collection = store.collection(self.spec)

    def add(self, cuenta: C, *events: Event, idempotency: IdempotentRequest | None = None,
            mails: Sequence[OutboxMail] = ()) -> None:
        """Store a new account, its events and its mails in one write (with
        the key of the request creating it); DuplicateKeyError (nothing
        written) when the email, or that key, is taken."""
        stored = self.collection.insert({**cuenta.to_document(), **creation_fields(idempotency)},
                                        [*(e.to_outbox() for e in events), *mails])
        cuenta._rev = stored["_rev"]

    def created_by(self, idempotency: IdempotentRequest) -> tuple[C, str | None] | None:
        """The account the keyed request created, with that request's fingerprint."""
        doc = self.collection.find_one(creation_query(idempotency))
        return (self.model.from_document(doc), doc.get(CREATION_FINGERPRINT)) if doc else None

    def save(self, cuenta: C, *events: Event, idempotency: IdempotentRequest | None = None,
             erased: bool = False, mails: Sequence[OutboxMail] = ()) -> None:
        """Replace the account read before and add its events and mails (and
        the key of the request changing it); ConcurrentUpdate (nothing written) when it
        changed since, DuplicateKeyError when its new email is taken.
        ``erased``: keep nothing that was derived from personal data (only
        the keys stay, so that a late retry is refused, not a second
        account: ``common.idempotency.without_fingerprints``)."""
        current = self.collection.get(cuenta.id)
        if current is None or current.get("_rev") != cuenta._rev:
            raise ConcurrentUpdate(cuenta.id)
        doc = cuenta.to_document()
        doc = {**doc, **forgotten(current)} if erased else remember(doc, current, idempotency)
        stored = self.collection.replace(doc, [*(e.to_outbox() for e in events), *mails])
        if stored is None:
            raise ConcurrentUpdate(cuenta.id)
        cuenta._rev = stored["_rev"]

    def get(self, cuenta_id: str, idempotency: IdempotentRequest | None = None) -> C | None:
        """The account; with ``idempotency``, whether it records that request
        already is told to it (``idempotency.replayed``; KeyReused when the
        key was used for another request)."""
        doc = self.collection.get(cuenta_id)
        if doc is None:
            return None
        replayed(doc, idempotency)
        return self.model.from_document(doc)

    def cancel_mails(self, cuenta_id: str) -> int:
        """Delete the mails to the account not sent yet (its erasure)."""
        return self.store.cancel_mails(cuenta_id)

    def by_email(self, email: str) -> C | None:
        doc = self.collection.find_one(Query(equals={"email": email}))
        return self.model.from_document(doc) if doc else None

    def revokes(self, principal: Principal) -> bool:
        """Whether a token this service issued must be refused: its account
        is gone, may no longer log in, now holds another role, or changed
        its password after the token was issued (``iat`` before ``sesiones_desde``)."""
        cuenta = self.get(principal.id)
        return (cuenta is None or not cuenta.puede_iniciar_sesion or cuenta.rol != principal.rol
                or cuenta.sesion_revocada(principal.claims.get("iat")))
