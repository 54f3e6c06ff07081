"""The events incidencias_resolucion publishes. Internal notes never leave
this service: snapshots exclude them and they have no event."""
from __future__ import annotations

from datetime import datetime

from common.messaging import Event, make_event
from incidencias_dominio import (
    EN_RIESGO, EVENTO_POLITICA_SLA, EVENTO_SLA_EN_RIESGO, EVENTO_SLA_INCUMPLIDO, INCUMPLIDO, Incidencia, PoliticaSla,
    Seguimiento, format_instant,
)
from incidencias_replica.events import IncidentEvents

ORIGIN = "incidencias_resolucion"

# The consumers its worker runs, each with its own queue <exchange>.incidencias_resolucion.<name>:
# name → the ResolucionHandlers method giving its {event tipo: handler}. Here, not in
# worker.py, so that /metrics and the dead-letter command know the service's
# queues without importing its worker.
CONSUMERS = {"incidencias": "routes", "empleados": "empleado_routes",
             "clientes": "cliente_routes"}

EVENTS = IncidentEvents(ORIGIN)
snapshot = EVENTS.snapshot
comentada = EVENTS.comentada


def politica_sla(politica: PoliticaSla, version: int, en: datetime) -> Event:
    """The whole policy with its version, for apertura's replica (``datos.version`` orders it)."""
    return make_event(EVENTO_POLITICA_SLA, {"politica": politica.to_dict(), "version": version,
                                            "actualizada_en": format_instant(en)}, ORIGIN)


TIPOS_DE_AVISO = {EN_RIESGO: EVENTO_SLA_EN_RIESGO, INCUMPLIDO: EVENTO_SLA_INCUMPLIDO}
"""The event, and the staff notification's tipo, of each warning (``plazos.avisos_debidos``)."""


def aviso_sla(nivel: str, incidencia: Incidencia, seguimiento: Seguimiento) -> Event:
    """A target at risk (``nivel`` en_riesgo) or run out (incumplido): who holds it and when it is due."""
    return make_event(TIPOS_DE_AVISO[nivel], {
        "incidencia_id": incidencia.id, "objetivo": seguimiento.objetivo, "prioridad": incidencia.prioridad.value,
        "vence_en": format_instant(seguimiento.vence_en) if seguimiento.vence_en else None,
        "asignada_a": incidencia.asignada_a.id if incidencia.asignada_a else None,
    }, ORIGIN)
