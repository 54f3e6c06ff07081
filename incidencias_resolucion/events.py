"""The events incidencias_resolucion publishes. Internal notes never leave
this service: snapshots exclude them and they have no event."""
from __future__ import annotations

from incidencias_replica.events import IncidentEvents

ORIGIN = "incidencias_resolucion"
EVENTS = IncidentEvents(ORIGIN)
snapshot = EVENTS.snapshot
comentada = EVENTS.comentada
