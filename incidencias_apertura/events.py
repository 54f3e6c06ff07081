"""The events incidencias_apertura publishes."""
from __future__ import annotations

from datetime import datetime

from common.messaging import Event, make_event
from incidencias_dominio import EVENTO_CANCELACION_SOLICITADA, EVENTO_VALORADA, Incidencia, format_instant
from incidencias_replica.events import IncidentEvents

ORIGIN = "incidencias_apertura"

# The consumers its worker runs, each with its own queue <exchange>.incidencias_apertura.<name>:
# name → the AperturaHandlers method giving its {event tipo: handler}. Here, not in
# worker.py, so that /metrics and the dead-letter command know the service's
# queues without importing its worker.
CONSUMERS = {"incidencias": "routes", "clientes": "cliente_routes", "empleados": "empleado_routes"}

EVENTS = IncidentEvents(ORIGIN)
snapshot = EVENTS.snapshot
comentada = EVENTS.comentada


def cancelacion_solicitada(incidencia: Incidencia, motivo: str | None, at: datetime) -> Event:
    return make_event(
        EVENTO_CANCELACION_SOLICITADA,
        {"incidencia_id": incidencia.id, "cliente_id": incidencia.cliente.id, "motivo": motivo,
         "solicitada_en": format_instant(at)},
        ORIGIN,
    )


def valorada(incidencia: Incidencia) -> Event:
    """The customer's rating of their closed incident, for resolucion's figures."""
    if incidencia.valoracion is None:
        raise ValueError("the incident is not rated")
    return make_event(EVENTO_VALORADA, {"incidencia_id": incidencia.id, "valoracion": incidencia.valoracion.to_dict()},
                      ORIGIN)
