"""The events incidencias_resolucion publishes. Internal notes never leave
this service: snapshots exclude them and they have no event."""
from __future__ import annotations

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
