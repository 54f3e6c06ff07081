"""What clientes does with other services' events: it keeps each employee's
role and whether the account is active, so that a staff token stops opening
customer data as soon as empleados deactivates or demotes its employee."""
from __future__ import annotations

from common.messaging import Event, PermanentError

from .repository import StaffReplica

EMPLEADO_EVENTS = ("empleado.registrado", "empleado.actualizado", "empleado.baja")


class ClientesHandlers:
    def __init__(self, personal: StaffReplica):
        self.personal = personal

    def empleado_routes(self) -> dict:
        return {tipo: self.on_empleado for tipo in EMPLEADO_EVENTS}

    def on_empleado(self, event: Event) -> None:
        datos = event.datos
        if not isinstance(datos.get("id"), str) or not isinstance(datos.get("rol"), str):
            raise PermanentError("datos.id and datos.rol are required")
        activo = bool(datos.get("activo", True)) and event.tipo != "empleado.baja"
        order = event.replica_order(wins_ties=event.tipo == "empleado.baja")
        self.personal.upsert({"id": datos["id"], "rol": datos["rol"], "activo": activo}, order)
