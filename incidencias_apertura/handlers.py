"""How incidencias_apertura reacts to the events it consumes: each handler
decodes its event and calls one use case (``services``)."""
from __future__ import annotations

from typing import Any

from common.messaging import Event, PermanentError
from cuentas.personal import EVENTOS_EMPLEADO, optional_instant
from incidencias_dominio import EVENTO_COMENTADA, EVENTO_POLITICA_SLA, Comentario

from . import events, services
from .bootstrap import Components

# State changes made by incidencias_resolucion, applied to the replica here;
# and the ones this service publishes itself (cerrada, reabierta): their
# snapshot is already here, and the customer is notified from this consumer.
SNAPSHOT_EVENTS = (
    "incidencia.asignada", "incidencia.en_curso", "incidencia.esperando_cliente", "incidencia.resuelta",
    "incidencia.cancelada", "incidencia.actualizada", "incidencia.fusionada",
    "incidencia.cerrada", "incidencia.reabierta",
)
CLIENTE_EVENTS = ("cliente.registrado", "cliente.actualizado", "cliente.eliminado")


class AperturaHandlers:
    def __init__(self, components: Components):
        self.c = components

    @property
    def portal_url(self) -> str:
        """Where the links of the mails point (``PORTAL_URL``)."""
        return self.c.settings.portal_url

    def routes(self) -> dict[str, Any]:
        routes = {tipo: self.on_snapshot for tipo in SNAPSHOT_EVENTS}
        routes[EVENTO_COMENTADA] = self.on_comment
        routes[EVENTO_POLITICA_SLA] = self.on_politica
        return routes

    def cliente_routes(self) -> dict[str, Any]:
        return {tipo: self.on_cliente for tipo in CLIENTE_EVENTS}

    def empleado_routes(self) -> dict[str, Any]:
        """The staff this service trusts to open incidents for customers (``cuentas.personal``)."""
        return {tipo: self.on_empleado for tipo in EVENTOS_EMPLEADO}

    def on_empleado(self, event: Event) -> None:
        self.c.personal.apply(event)

    def on_snapshot(self, event: Event) -> None:
        snapshot = event.datos.get("incidencia")
        if not isinstance(snapshot, dict):
            raise PermanentError("datos.incidencia must be an incident snapshot")
        services.replicar_cambio(self.c.incidencias, self.c.notificaciones, self.c.clientes, self.portal_url, event,
                                 snapshot, autocierre_dias=self.c.settings.autocierre_dias)

    def on_politica(self, event: Event) -> None:
        """resolucion's service-level policy, which the incidents opened here from now on carry."""
        politica, version = event.datos.get("politica"), event.datos.get("version")
        if not isinstance(politica, dict) or not isinstance(version, int) or isinstance(version, bool):
            raise PermanentError("datos must carry the policy and its version")
        try:
            self.c.politicas.replicate(politica, version, event.datos.get("actualizada_en"), event.replica_order())
        except ValueError as exc:
            raise PermanentError(f"invalid policy: {exc}") from exc

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
        services.replicar_comentario(self.c.incidencias, self.c.notificaciones, self.c.clientes, self.portal_url,
                                     event, incidencia_id, comentario)

    def on_cliente(self, event: Event) -> None:
        cliente_id = event.datos.get("id")
        if not isinstance(cliente_id, str):
            raise PermanentError("datos.id must name the customer")
        if event.tipo == "cliente.eliminado":
            services.borrar_cliente(self.c.incidencias, self.c.clientes, self.c.notificaciones, cliente_id)
        else:
            services.replicar_cliente(self.c.clientes, cliente_publico(event.datos), event.replica_order())


def cliente_publico(datos: dict[str, Any]) -> dict[str, Any]:
    """What this service keeps of a ``cliente.*`` event's public data.
    Events older than the e-mail fields lack them: no e-mail known, e-mails
    on, no start of sessions."""
    email, avisos = datos.get("email"), datos.get("avisos_por_correo")
    avisos = True if avisos is None else avisos
    if email is not None and not isinstance(email, str):
        raise PermanentError("datos.email must be a string or null")
    if not isinstance(avisos, bool):
        raise PermanentError("datos.avisos_por_correo must be a boolean")
    return {"id": datos["id"], "nombre": datos.get("nombre"), "apellidos": datos.get("apellidos"), "email": email,
            "avisos_por_correo": avisos, "sesiones_desde": optional_instant(datos, "sesiones_desde")}
