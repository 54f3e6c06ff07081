"""How incidencias_apertura reacts to the events it consumes: each handler
decodes its event and calls one use case (``services``)."""
from __future__ import annotations

from typing import Any

from common.messaging import Event, PermanentError
from incidencias_dominio import EVENTO_COMENTADA, Comentario

from . import events, services
from .bootstrap import Components

# State changes made by incidencias_resolucion, applied to the replica here.
SNAPSHOT_EVENTS = (
    "incidencia.asignada", "incidencia.en_curso", "incidencia.resuelta",
    "incidencia.cancelada", "incidencia.actualizada",
)
CLIENTE_EVENTS = ("cliente.registrado", "cliente.actualizado", "cliente.eliminado")


class AperturaHandlers:
    def __init__(self, components: Components):
        self.c = components

    def routes(self) -> dict[str, Any]:
        routes = {tipo: self.on_snapshot for tipo in SNAPSHOT_EVENTS}
        routes[EVENTO_COMENTADA] = self.on_comment
        return routes

    def cliente_routes(self) -> dict[str, Any]:
        return {tipo: self.on_cliente for tipo in CLIENTE_EVENTS}

    def on_snapshot(self, event: Event) -> None:
        snapshot = event.datos.get("incidencia")
        if not isinstance(snapshot, dict):
            raise PermanentError("datos.incidencia must be an incident snapshot")
        services.replicar_cambio(self.c.incidencias, self.c.notificaciones, event, snapshot)

    def on_comment(self, event: Event) -> None:
        if events.EVENTS.is_own(event):
            return  # our own comment, already here
        incidencia_id = event.datos.get("incidencia_id")
        try:
            comentario = Comentario.of(event.datos.get("comentario"))
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"invalid comment: {exc}") from exc
        if not isinstance(incidencia_id, str) or comentario.interna:
            raise PermanentError("a comment event must name its incident and be public")
        services.replicar_comentario(self.c.incidencias, self.c.notificaciones, event, incidencia_id, comentario)

    def on_cliente(self, event: Event) -> None:
        cliente_id = event.datos.get("id")
        if not isinstance(cliente_id, str):
            raise PermanentError("datos.id must name the customer")
        if event.tipo == "cliente.eliminado":
            services.borrar_cliente(self.c.incidencias, self.c.clientes, self.c.notificaciones, cliente_id)
        else:
            services.replicar_cliente(self.c.clientes, cliente_id, event.datos.get("nombre"),
                                      event.datos.get("apellidos"))
