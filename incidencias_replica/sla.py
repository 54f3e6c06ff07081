"""Where each incident service keeps the service-level policy: resolucion
its own (``PUT /sla``), each change numbered and published as
``EVENTO_POLITICA_SLA``; apertura a replica of it, so that an incident
opened there carries its targets from its first version (the customer
learns at once when to expect an answer)."""
from __future__ import annotations

from typing import Any

from common.messaging import Event
from common.storage import CollectionSpec, DuplicateKeyError, Store
from common.storage.retry import TooMuchContention, keep_newest
from incidencias_dominio import PoliticaSla, format_instant

POLITICA_SLA = CollectionSpec("politica_sla")
"""One document, ``POLITICA``: the policy, its version (0: never set) and when it was set."""
POLITICA = "politica"


class PoliticaSlaStore:
    def __init__(self, store: Store):
        self.collection = store.collection(POLITICA_SLA)

    def current(self) -> tuple[PoliticaSla | None, int, str | None]:
        """The policy (None: never set, no service levels), its version and when it was set."""
        doc = self.collection.get(POLITICA)
        if doc is None:
            return None, 0, None
        return PoliticaSla.of(doc["politica"]), doc["version"], doc.get("actualizada_en")

    def politica(self) -> PoliticaSla | None:
        return self.current()[0]

    def set(self, politica: PoliticaSla, en: Any, announce: Any) -> tuple[int, bool]:
        """Store ``politica`` as the next version, with the event
        ``announce(politica, version, en)`` in the same write; nothing when it
        is the one stored. Returns the version now stored and whether it was
        written."""
        for _ in range(20):
            current = self.collection.get(POLITICA)
            if current is not None and PoliticaSla.of(current["politica"]) == politica:
                return current["version"], False
            version = 1 if current is None else current["version"] + 1
            doc = {"id": POLITICA, "politica": politica.to_dict(), "version": version,
                   "actualizada_en": format_instant(en)}
            event: Event = announce(politica, version, en)
            if current is None:
                try:
                    self.collection.insert(doc, [event.to_outbox()])
                    return version, True
                except DuplicateKeyError:
                    continue
            if self.collection.replace({**doc, "_rev": current["_rev"]}, [event.to_outbox()]):
                return version, True
        raise TooMuchContention(POLITICA)

    def replicate(self, politica: dict[str, Any], version: int, actualizada_en: str | None, order: str) -> bool:
        """Keep another service's policy, unless a newer one is here already."""
        PoliticaSla.of(politica)  # refuse a malformed one before storing it
        return keep_newest(self.collection, {"id": POLITICA, "politica": politica, "version": version,
                                             "actualizada_en": actualizada_en}, order)
