"""Read-modify-write with the store's optimistic concurrency."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from common.errors import Conflict
from common.errors import NotFound as Missing

from .base import Collection, DuplicateKeyError, OutboxMessage


class NotFound(Missing):
    """No document with that id (``key``)."""

    def __init__(self, key: str, detail: str = "El recurso no existe"):
        super().__init__(detail)
        self.key = key


class TooMuchContention(Conflict, RuntimeError):
    """The document kept changing under us: answered 409, the caller retries."""

    def __init__(self, key: str, detail: str = "El recurso cambió mientras tanto; reintente"):
        super().__init__(detail, slug="conflicto-concurrente")
        self.key = key


Change = Callable[[dict[str, Any]], tuple[dict[str, Any], Sequence[OutboxMessage]] | None]


def update_document(collection: Collection, doc_id: str, change: Change, attempts: int = 20) -> dict[str, Any]:
    """Apply ``change`` to the current document and store it if nobody wrote
    in between, else reload and apply again. ``change`` returns the new
    document and its events, or None to leave the document untouched; it may
    raise to abort (nothing is written)."""
    for _ in range(attempts):
        current = collection.get(doc_id)
        if current is None:
            raise NotFound(doc_id)
        result = change(current)
        if result is None:
            return current
        new_doc, events = result
        stored = collection.replace({**new_doc, "id": doc_id, "_rev": current["_rev"]}, events)
        if stored is not None:
            return stored
    raise TooMuchContention(doc_id)


def keep_newest(collection: Collection, document: dict[str, Any], order: str, *,
                field: str = "version_key", attempts: int = 20) -> bool:
    """Store ``document`` (a replica of someone else's record) unless a version
    at least as recent, by the string ``order``, is stored already: the replica
    converges whatever the order its events arrive in. True if it was written."""
    for _ in range(attempts):
        current = collection.get(document["id"])
        if current is None:
            try:
                collection.insert({**document, field: order})
                return True
            except DuplicateKeyError:
                continue
        elif current.get(field, "") >= order:
            return False
        elif collection.replace({**current, **document, field: order}):
            return True
    raise TooMuchContention(document["id"])
