"""The events incidencias_resolucion publishes. Internal notes never leave
this service: snapshots exclude them and they have no event."""
from __future__ import annotations

from typing import Any

from common.messaging import Event, make_event
from incidencias_dominio import EVENTO_COMENTADA, Incidencia

ORIGIN = "incidencias_resolucion"


def snapshot(tipo: str, incidencia: Incidencia) -> Event:
    return make_event(tipo, {"incidencia": incidencia.to_snapshot(incluir_internas=False)}, ORIGIN)


def comentada(incidencia_id: str, comentario: dict[str, Any]) -> Event:
    if comentario.get("interna"):
        raise ValueError("internal notes are never published")
    return make_event(EVENTO_COMENTADA, {"incidencia_id": incidencia_id, "comentario": comentario}, ORIGIN)
