"""Which events a consumer has already applied, by event id."""
from __future__ import annotations

from common.storage import CollectionSpec, DuplicateKeyError, Store

from .envelope import rfc3339, utc_now

PROCESSED = CollectionSpec("eventos_procesados")


class ProcessedEvents:
    def __init__(self, store: Store):
        self.collection = store.collection(PROCESSED)

    def seen(self, event_id: str) -> bool:
        return self.collection.get(event_id) is not None

    def remember(self, event_id: str, tipo: str) -> None:
        try:
            self.collection.insert({"id": event_id, "tipo": tipo, "en": rfc3339(utc_now())})
        except DuplicateKeyError:
            pass
