"""Read-modify-write with the store's optimistic concurrency."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .base import Collection, OutboxMessage


class NotFound(LookupError):
    pass


class TooMuchContention(RuntimeError):
    """The document kept changing under us; the caller should answer 409/503."""


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
