"""How incidencias_resolucion reacts to events: each handler decodes its
event and calls one use case (``services``). An event about an incident not
seen yet (a comment, a cancellation request) is parked and replayed once the
incident arrives."""
from __future__ import annotations

from typing import Any

from common.messaging import Event, PermanentError
from cuentas.personal import EVENTOS_EMPLEADO
from incidencias_dominio import (
    EVENTO_ABIERTA,
    EVENTO_CANCELACION_SOLICITADA,
    EVENTO_CANCELADA,
    EVENTO_CERRADA,
    EVENTO_COMENTADA,
    EVENTO_EN_CURSO,
    EVENTO_REABIERTA,
    EVENTO_VALORADA,
    Comentario,
    Valoracion,
)
from incidencias_replica.repository import IncidenciaNoEncontrada

from . import events, services
from .bootstrap import Components


class ResolucionHandlers:
    def __init__(self, components: Components):
        self.c = components

    @property
    def portal_url(self) -> str:
        """Where the links of the mails point (``PORTAL_URL``)."""
        return self.c.settings.portal_url

    def routes(self) -> dict[str, Any]:
        return {
            EVENTO_ABIERTA: self.on_snapshot,
            EVENTO_REABIERTA: self.on_snapshot,
            EVENTO_CERRADA: self.on_snapshot,
            # apertura's, while an incident waited on its customer: the answer,
            # the withdrawal (its own snapshots of these this side skips)
            EVENTO_EN_CURSO: self.on_snapshot,
            EVENTO_CANCELADA: self.on_snapshot,
            EVENTO_COMENTADA: self.on_comment,
            EVENTO_CANCELACION_SOLICITADA: self.on_cancellation_request,
            EVENTO_VALORADA: self.on_rating,
        }

    def empleado_routes(self) -> dict[str, Any]:
        return {tipo: self.on_empleado for tipo in EVENTOS_EMPLEADO}

    def cliente_routes(self) -> dict[str, Any]:
        return {"cliente.eliminado": self.on_cliente_eliminado}

    def on_snapshot(self, event: Event) -> None:
        if events.EVENTS.is_own(event):
            return
        snapshot = event.datos.get("incidencia")
        if not isinstance(snapshot, dict):
            raise PermanentError("datos.incidencia must be an incident snapshot")
        services.replicar_cambio(self.c.incidencias, self.c.empleados, snapshot, self.replay_parked, self.portal_url,
                                 self.c.aparcados.any_for)

    def on_comment(self, event: Event) -> None:
        if events.EVENTS.is_own(event):
            return
        incidencia_id = event.datos.get("incidencia_id")
        try:
            comentario = Comentario.of(event.datos.get("comentario"))
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"invalid comment: {exc}") from exc
        if not isinstance(incidencia_id, str):
            raise PermanentError("datos.incidencia_id must name the incident")
        try:
            services.replicar_comentario(self.c.incidencias, incidencia_id, comentario)
        except IncidenciaNoEncontrada:
            self.c.aparcados.park(incidencia_id, event)

    def on_rating(self, event: Event) -> None:
        incidencia_id = event.datos.get("incidencia_id")
        try:
            valoracion = Valoracion.from_dict(event.datos.get("valoracion") or {})
        except ValueError as exc:
            raise PermanentError(f"invalid rating: {exc}") from exc
        if not isinstance(incidencia_id, str):
            raise PermanentError("datos.incidencia_id must name the incident")
        try:
            services.replicar_valoracion(self.c.incidencias, incidencia_id, valoracion)
        except IncidenciaNoEncontrada:
            self.c.aparcados.park(incidencia_id, event)

    def on_cancellation_request(self, event: Event) -> None:
        incidencia_id = event.datos.get("incidencia_id")
        if not isinstance(incidencia_id, str):
            raise PermanentError("datos.incidencia_id must name the incident")
        motivo = event.datos.get("motivo") if isinstance(event.datos.get("motivo"), str) else None
        cliente_id = str(event.datos.get("cliente_id") or "cliente")
        try:
            services.aplicar_cancelacion(self.c.incidencias, incidencia_id, cliente_id, motivo)
        except IncidenciaNoEncontrada:
            self.c.aparcados.park(incidencia_id, event)

    def replay_parked(self, incidencia_id: str) -> None:
        for event_id, body in self.c.aparcados.take(incidencia_id):
            event = Event.parse(body)
            self.routes()[event.tipo](event)
            self.c.aparcados.done(event_id)

    def repartir(self) -> int:
        """The periodic sweep: assign whatever is still waiting."""
        return services.repartir_pendientes(self.c.incidencias, self.c.empleados, self.portal_url)

    def vigilar_plazos(self) -> int:
        """The periodic look at the service levels: warn of targets at risk or run out."""
        return services.vigilar_plazos(self.c.incidencias, self.c.empleados, self.c.notificaciones, self.portal_url)

    def on_empleado(self, event: Event) -> None:
        services.replicar_empleado(self.c.incidencias, self.c.empleados, event, self.portal_url)

    def on_cliente_eliminado(self, event: Event) -> None:
        cliente_id = event.datos.get("id")
        if not isinstance(cliente_id, str):
            raise PermanentError("datos.id must name the customer")
        services.borrar_cliente(self.c.incidencias, cliente_id)
