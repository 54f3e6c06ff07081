"""What clientes does with other services' events: it keeps each employee's
role and whether the account is active (``cuentas.personal``), so that a
staff token stops opening customer data as soon as empleados deactivates or
demotes its employee."""
from __future__ import annotations

from common.messaging import Event, Handler
from cuentas.personal import EVENTOS_EMPLEADO, PersonalReplica


class ClientesHandlers:
    def __init__(self, personal: PersonalReplica):
        self.personal = personal

    def empleado_routes(self) -> dict[str, Handler]:
        return {tipo: self.on_empleado for tipo in EVENTOS_EMPLEADO}

    def on_empleado(self, event: Event) -> None:
        self.personal.apply(event)
