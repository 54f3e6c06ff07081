"""The incident events both services publish, in one shape: a state change
carries the full public snapshot with its version; a comment carries the
comment. Internal notes are never published."""
from __future__ import annotations

from typing import Any

from common.messaging import Event, make_event
from incidencias_dominio import EVENTO_COMENTADA, Incidencia


class IncidentEvents:
    """The events of one service (``origin``, its name)."""

    def __init__(self, origin: str):
        self.origin = origin

    def snapshot(self, tipo: str, incidencia: Incidencia) -> Event:
        return make_event(tipo, {"incidencia": incidencia.to_snapshot(incluir_internas=False)}, self.origin)

    def comentada(self, incidencia_id: str, comentario: dict[str, Any]) -> Event:
        if comentario.get("interna"):
            raise ValueError("internal notes are never published")
        return make_event(EVENTO_COMENTADA, {"incidencia_id": incidencia_id, "comentario": comentario}, self.origin)

    def is_own(self, event: Event) -> bool:
        return event.origen == self.origin
