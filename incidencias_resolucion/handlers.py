"""How incidencias_resolucion reacts to events: it replicates apertura's
changes, assigns incidents automatically, applies cancellation requests and
keeps its replica of employees."""
from __future__ import annotations

import logging
from typing import Any

from common.messaging import Event, PermanentError, utc_now
from common.storage.retry import NotFound
from incidencias_dominio import (
    CANCELLABLE_STATES,
    EVENTO_ABIERTA,
    EVENTO_CANCELACION_SOLICITADA,
    EVENTO_CERRADA,
    EVENTO_COMENTADA,
    EVENTO_REABIERTA,
    RESOLUCION,
    SISTEMA,
    Actor,
    Comentario,
    EmpleadoRef,
    Estado,
    Incidencia,
    fusionar_comentarios,
)

from . import events
from .domain import ESTADOS_CON_CARGA, elegir_empleado
from .repository import EmpleadoReplica, IncidenciaRepository, ParkedEvents

log = logging.getLogger(__name__)
EMPLEADO_EVENTS = ("empleado.registrado", "empleado.actualizado", "empleado.baja")
WAITING_STATES = (Estado.ABIERTA.value, Estado.REABIERTA.value)


def _nombre(empleado: dict[str, Any]) -> str:
    return f"{empleado.get('nombre') or ''} {empleado.get('apellidos') or ''}".strip() or empleado["id"]


class ResolucionHandlers:
    def __init__(self, incidencias: IncidenciaRepository, empleados: EmpleadoReplica, parked: ParkedEvents):
        self.incidencias = incidencias
        self.empleados = empleados
        self.parked = parked

    def routes(self) -> dict[str, Any]:
        return {
            EVENTO_ABIERTA: self.on_snapshot,
            EVENTO_REABIERTA: self.on_snapshot,
            EVENTO_CERRADA: self.on_snapshot,
            EVENTO_COMENTADA: self.on_comment,
            EVENTO_CANCELACION_SOLICITADA: self.on_cancellation_request,
        }

    def empleado_routes(self) -> dict[str, Any]:
        return {tipo: self.on_empleado for tipo in EMPLEADO_EVENTS}

    def cliente_routes(self) -> dict[str, Any]:
        return {"cliente.eliminado": self.on_cliente_eliminado}

    # -- incidents from apertura ---------------------------------------------
    def on_snapshot(self, event: Event) -> None:
        if event.origen == events.ORIGIN:
            return
        snapshot = event.datos.get("incidencia")
        if not isinstance(snapshot, dict):
            raise PermanentError("datos.incidencia must be an incident snapshot")
        try:
            incidencia, _changed = self.incidencias.apply_snapshot(snapshot)
        except ValueError as exc:
            raise PermanentError(f"invalid snapshot: {exc}") from exc
        self.replay_parked(incidencia.id)
        if incidencia.estado in (Estado.ABIERTA, Estado.REABIERTA):
            self.assign(incidencia.id)

    def on_comment(self, event: Event) -> None:
        if event.origen == events.ORIGIN:
            return
        incidencia_id = event.datos.get("incidencia_id")
        try:
            comentario = Comentario.of(event.datos.get("comentario"))
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"invalid comment: {exc}") from exc
        if not isinstance(incidencia_id, str):
            raise PermanentError("datos.incidencia_id must name the incident")
        try:
            self.incidencias.update(
                incidencia_id,
                lambda i: [] if fusionar_comentarios(i, [comentario], conservar_internas=True) else None,
            )
        except NotFound:
            self.parked.park(incidencia_id, event)

    def on_cancellation_request(self, event: Event) -> None:
        incidencia_id = event.datos.get("incidencia_id")
        if not isinstance(incidencia_id, str):
            raise PermanentError("datos.incidencia_id must name the incident")
        motivo = event.datos.get("motivo") if isinstance(event.datos.get("motivo"), str) else None
        actor = Actor(str(event.datos.get("cliente_id") or "cliente"), "cliente")

        def cancel(incidencia: Incidencia):
            if incidencia.estado not in CANCELLABLE_STATES:
                log.info("cancellation of %s not applied: it is %s", incidencia.id, incidencia.estado.value)
                return None
            return [events.snapshot(incidencia.cancelar(RESOLUCION, actor, utc_now(), motivo), incidencia)]

        try:
            self.incidencias.update(incidencia_id, cancel)
        except NotFound:
            self.parked.park(incidencia_id, event)

    def replay_parked(self, incidencia_id: str) -> None:
        for event_id, body in self.parked.take(incidencia_id):
            event = Event.parse(body)
            self.routes()[event.tipo](event)
            self.parked.done(event_id)

    # -- assignment ------------------------------------------------------------
    def assign(self, incidencia_id: str, excluir: frozenset[str] = frozenset()) -> Incidencia | None:
        """Give a waiting incident to the best employee (the same one when a
        reopened incident's assignee is still active); None if nobody can take it."""
        incidencia = self.incidencias.get(incidencia_id)
        if incidencia is None:
            return None
        activos = self.empleados.active()
        elegido = None
        if incidencia.estado == Estado.REABIERTA and incidencia.asignada_a:
            previo = self.empleados.get(incidencia.asignada_a.id)
            if previo and previo.get("activo") and previo["id"] not in excluir:
                elegido = previo
        if elegido is None:
            carga = self.incidencias.load_of(e["id"] for e in activos)
            elegido = elegir_empleado(incidencia.categoria, activos, carga, excluir)
        if elegido is None:
            return None
        empleado = EmpleadoRef(elegido["id"], _nombre(elegido))

        def change(current: Incidencia):
            waiting = current.estado in (Estado.ABIERTA, Estado.REABIERTA)
            held_by_excluded = (current.estado in (Estado.ASIGNADA, Estado.EN_CURSO)
                                and current.asignada_a is not None and current.asignada_a.id in excluir)
            if not (waiting or held_by_excluded):
                return None  # someone assigned it meanwhile
            return [events.snapshot(current.asignar(RESOLUCION, empleado, SISTEMA, utc_now()), current)]

        return self.incidencias.update(incidencia_id, change)

    def assign_waiting(self) -> int:
        """Assign what is waiting: unassigned incidents, and those held by
        employees no longer active. Returns how many were assigned."""
        assigned = 0
        for incidencia_id in self.incidencias.ids({"estados": WAITING_STATES}, limit=500):
            result = self.assign(incidencia_id)
            if result is not None and result.estado == Estado.ASIGNADA:
                assigned += 1
        inactive = self.empleados.inactive_ids()
        if inactive:
            held = [e.value for e in ESTADOS_CON_CARGA if e != Estado.REABIERTA]
            for empleado_id in inactive:
                for incidencia_id in self.incidencias.ids({"asignada_a": empleado_id, "estados": held}):
                    if self.assign(incidencia_id, excluir=frozenset(inactive)) is not None:
                        assigned += 1
        return assigned

    # -- employees and customers ---------------------------------------------
    def on_empleado(self, event: Event) -> None:
        datos = event.datos
        if not isinstance(datos.get("id"), str) or not isinstance(datos.get("rol"), str):
            raise PermanentError("datos.id and datos.rol are required")
        empleado = {
            "id": datos["id"], "nombre": datos.get("nombre"), "apellidos": datos.get("apellidos"),
            "rol": datos["rol"], "categorias": list(datos.get("categorias") or []),
            "activo": bool(datos.get("activo", True)) and event.tipo != "empleado.baja",
        }
        # Newer events win, a deactivation winning a tie.
        order = event.replica_order(wins_ties=event.tipo == "empleado.baja")
        if self.empleados.upsert(empleado, order):
            self.assign_waiting()

    def on_cliente_eliminado(self, event: Event) -> None:
        cliente_id = event.datos.get("id")
        if not isinstance(cliente_id, str):
            raise PermanentError("datos.id must name the customer")
        at = utc_now()
        for incidencia_id in self.incidencias.ids({"cliente_id": cliente_id}):
            def change(incidencia: Incidencia):
                published = []
                anonymised = incidencia.anonimizar_cliente()
                if incidencia.estado in CANCELLABLE_STATES:
                    tipo = incidencia.cancelar(RESOLUCION, SISTEMA, at, "cuenta del cliente eliminada")
                    published.append(events.snapshot(tipo, incidencia))
                return published if (anonymised or published) else None

            self.incidencias.update(incidencia_id, change)
