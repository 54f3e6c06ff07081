"""Notifications kept for the people they are for: apertura's to customers
(what happened to their incidents), resolucion's to staff (a service level
at risk or broken). One store of the same shape for both, each document
owned by one recipient (``campo``: the field that names them)."""
from __future__ import annotations

from typing import Any

from common.errors import NotFound as NoSuchNotification
from common.idempotency import IdempotentRequest, remember, replayed
from common.listing import Listing
from common.mail import Mail
from common.storage import CollectionSpec, DuplicateKeyError, Index, Query, Store
from common.storage.retry import NotFound, update_document


def notificaciones_spec(campo: str, name: str = "notificaciones") -> CollectionSpec:
    """The collection of one service's notifications, by recipient (``campo``)."""
    return CollectionSpec(
        name,
        (
            Index((campo, "creada_en")),
            Index((campo, "leida", "creada_en")),
            # What a notification is about (an incident's version, a comment, a
            # target at risk), so the same news replayed does not notify twice.
            Index(("clave",), unique=True),
        ),
    )


class Notificaciones:
    def __init__(self, store: Store, spec: CollectionSpec, campo: str):
        self.store = store
        self.collection = store.collection(spec)
        self.campo = campo

    def add(self, notificacion: dict[str, Any], mail: Mail | None = None) -> bool:
        """Store the notification, and with it (same write) its ``mail`` to
        its recipient, under the notification's id. False when this news was
        notified already (its ``clave``): then no second mail either."""
        outbox = [mail.outbox(notificacion["id"], notificacion[self.campo])] if mail is not None else []
        try:
            self.collection.insert(notificacion, outbox)
            return True
        except DuplicateKeyError:
            return False  # same event, or the same news under another id

    def _query(self, destinatario: str, solo_no_leidas: bool) -> Query:
        equals: dict[str, Any] = {self.campo: destinatario}
        if solo_no_leidas:
            equals["leida"] = False
        return Query(equals=equals, sort=(("creada_en", -1),))

    def count(self, destinatario: str, solo_no_leidas: bool = False) -> int:
        return self.collection.count(self._query(destinatario, solo_no_leidas))

    def list(self, destinatario: str, solo_no_leidas: bool, skip: int, limit: int) -> list[dict[str, Any]]:
        return self.collection.find(self._query(destinatario, solo_no_leidas), skip, limit)

    def mark_read(self, destinatario: str, notificacion_id: str,
                  idempotency: IdempotentRequest | None = None) -> dict[str, Any]:
        """Raises NotFound for someone else's notification too; with
        ``idempotency``, its key is stored in the same write."""
        def change(doc):
            if doc[self.campo] != destinatario:
                raise NotFound(notificacion_id)
            if replayed(doc, idempotency) or (doc["leida"] and idempotency is None):
                return None
            return remember({**doc, "leida": True}, doc, idempotency), []

        return update_document(self.collection, notificacion_id, change)

    def mark_all_read(self, destinatario: str) -> int:
        marked = 0
        for doc in self.collection.find(self._query(destinatario, True)):
            self.mark_read(destinatario, doc["id"])
            marked += 1
        return marked

    def delete_of(self, destinatario: str) -> None:
        """The recipient's notifications, and every mail for them not sent yet."""
        for doc in self.collection.find(Query(equals={self.campo: destinatario})):
            self.collection.delete(doc["id"])
        self.store.cancel_mails(destinatario)


# -- the use cases both services offer on them ----------------------------------------
def notificaciones_de(notificaciones: Notificaciones, destinatario: str,
                      solo_no_leidas: bool) -> Listing[dict[str, Any]]:
    """The recipient's notifications, newest first."""
    return Listing(lambda: notificaciones.count(destinatario, solo_no_leidas),
                   lambda skip, limit: notificaciones.list(destinatario, solo_no_leidas, skip, limit))


def marcar_leida(notificaciones: Notificaciones, destinatario: str, notificacion_id: str,
                 idempotency: IdempotentRequest | None = None) -> dict[str, Any]:
    """Mark one of the recipient's notifications read (already read:
    unchanged; someone else's, like a missing one, is not found)."""
    try:
        return notificaciones.mark_read(destinatario, notificacion_id, idempotency)
    except NotFound as exc:
        raise NoSuchNotification("La notificación no existe", slug="no-encontrada", title="No encontrada") from exc
