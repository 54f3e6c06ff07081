"""How incidencias_apertura reacts to the events it consumes."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from common.messaging import Event, PermanentError, utc_now
from common.storage.retry import NotFound
from incidencias_dominio import (
    APERTURA,
    EVENTO_CERRADA,
    EVENTO_COMENTADA,
    SISTEMA,
    Comentario,
    Estado,
    format_instant,
    fusionar_comentarios,
)

from . import events
from .domain import notification_text
from .repository import ClienteReplica, IncidenciaRepository, NotificationRepository

log = logging.getLogger(__name__)

# State changes made by incidencias_resolucion, applied to the replica here.
SNAPSHOT_EVENTS = (
    "incidencia.asignada", "incidencia.en_curso", "incidencia.resuelta",
    "incidencia.cancelada", "incidencia.actualizada",
)
CLIENTE_EVENTS = ("cliente.registrado", "cliente.actualizado", "cliente.eliminado")


class AperturaHandlers:
    def __init__(self, incidencias: IncidenciaRepository, clientes: ClienteReplica,
                 notificaciones: NotificationRepository):
        self.incidencias = incidencias
        self.clientes = clientes
        self.notificaciones = notificaciones

    def routes(self) -> dict[str, Any]:
        routes = {tipo: self.on_snapshot for tipo in SNAPSHOT_EVENTS}
        routes[EVENTO_COMENTADA] = self.on_comment
        return routes

    def cliente_routes(self) -> dict[str, Any]:
        return {tipo: self.on_cliente for tipo in CLIENTE_EVENTS}

    # -- incidents ---------------------------------------------------------
    def on_snapshot(self, event: Event) -> None:
        snapshot = event.datos.get("incidencia")
        if not isinstance(snapshot, dict):
            raise PermanentError("datos.incidencia must be an incident snapshot")
        try:
            incidencia, _changed = self.incidencias.apply_snapshot(snapshot)
        except ValueError as exc:
            raise PermanentError(f"invalid snapshot: {exc}") from exc
        self._notify(event, incidencia, f"{incidencia.id}:{event.tipo}:v{snapshot.get('version')}")

    def on_comment(self, event: Event) -> None:
        if event.origen == events.ORIGIN:
            return  # our own comment, already here
        incidencia_id = event.datos.get("incidencia_id")
        raw = event.datos.get("comentario")
        try:
            comentario = Comentario.of(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"invalid comment: {exc}") from exc
        if not isinstance(incidencia_id, str) or comentario.interna:
            raise PermanentError("a comment event must name its incident and be public")

        def merge(incidencia, _extras):
            changed = fusionar_comentarios(incidencia, [comentario], conservar_internas=False)
            return [] if changed else None

        incidencia = self.incidencias.update(incidencia_id, merge)  # NotFound: retried, then dead-lettered
        if comentario.autor.rol != "cliente":
            self._notify(event, incidencia, f"{incidencia.id}:comentario:{comentario.id}")

    def _notify(self, event: Event, incidencia, clave: str) -> None:
        """One notification per piece of news (``clave``): a redelivered event,
        or the same snapshot or comment replayed under a new event id, adds none."""
        text = notification_text(event.tipo, incidencia)
        if text is None or incidencia.cliente.anonimizado:
            return
        self.notificaciones.add({
            "id": event.id, "cliente_id": incidencia.cliente.id, "incidencia_id": incidencia.id,
            "tipo": event.tipo, "mensaje": text, "creada_en": event.ocurrido_en, "leida": False,
            "clave": clave,
        })

    # -- customers ---------------------------------------------------------
    def on_cliente(self, event: Event) -> None:
        cliente_id = event.datos.get("id")
        if not isinstance(cliente_id, str):
            raise PermanentError("datos.id must name the customer")
        if event.tipo != "cliente.eliminado":
            self.clientes.upsert({
                "id": cliente_id, "nombre": event.datos.get("nombre"),
                "apellidos": event.datos.get("apellidos"), "eliminado": False,
            })
            return
        self.clientes.upsert({"id": cliente_id, "eliminado": True, "nombre": None, "apellidos": None})
        self.erase_customer(cliente_id)

    def erase_customer(self, cliente_id: str) -> None:
        """Anonymise every incident of the customer here and close the ones
        this side owns (resuelta); incidencias_resolucion cancels the ones it
        owns on the same event."""
        for incidencia_id in self.incidencias.not_final_of_customer(cliente_id):
            def change(incidencia, _extras):
                anonymised = incidencia.anonimizar_cliente()
                if incidencia.estado == Estado.RESUELTA:
                    tipo = incidencia.cerrar(APERTURA, SISTEMA, utc_now())
                    return [events.snapshot(tipo, incidencia)]
                return [] if anonymised else None

            self.incidencias.update(incidencia_id, change)
        for incidencia_id in self.incidencias.final_of_customer(cliente_id):
            self.incidencias.update(incidencia_id, lambda i, _e: [] if i.anonimizar_cliente() else None)
        self.notificaciones.delete_for_customer(cliente_id)

    # -- periodic ----------------------------------------------------------
    def close_expired(self, dias: float) -> int:
        """Close the incidents left in resuelta for more than ``dias`` days."""
        now = utc_now()
        cutoff = format_instant(now - timedelta(days=dias))
        closed = 0
        for incidencia_id in self.incidencias.resolved_before(cutoff):
            def change(incidencia, _extras):
                if incidencia.estado != Estado.RESUELTA or format_instant(incidencia.resuelta_en) >= cutoff:
                    return None
                tipo = incidencia.cerrar(APERTURA, SISTEMA, now, automatico=True)
                return [events.snapshot(tipo, incidencia)]

            try:
                incidencia = self.incidencias.update(incidencia_id, change)
            except NotFound:
                continue
            if incidencia.estado == Estado.CERRADA:
                closed += 1
                log.info("auto-closed incident %s", incidencia_id)
        return closed
