"""The events incidencias_apertura publishes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from common.messaging import Event, make_event
from incidencias_dominio import EVENTO_CANCELACION_SOLICITADA, EVENTO_COMENTADA, Incidencia, format_instant

ORIGIN = "incidencias_apertura"


def snapshot(tipo: str, incidencia: Incidencia) -> Event:
    """A state change: the full public snapshot with its version."""
    return make_event(tipo, {"incidencia": incidencia.to_snapshot(incluir_internas=False)}, ORIGIN)


def comentada(incidencia_id: str, comentario: dict[str, Any]) -> Event:
    return make_event(EVENTO_COMENTADA, {"incidencia_id": incidencia_id, "comentario": comentario}, ORIGIN)


def cancelacion_solicitada(incidencia: Incidencia, motivo: str | None, at: datetime) -> Event:
    return make_event(
        EVENTO_CANCELACION_SOLICITADA,
        {"incidencia_id": incidencia.id, "cliente_id": incidencia.cliente.id, "motivo": motivo,
         "solicitada_en": format_instant(at)},
        ORIGIN,
    )
