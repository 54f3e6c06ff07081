"""The events clientes publishes: the customer's public data, and only the
id once the account is erased."""
from common.messaging import Event
from cuentas.events import CuentaEvents

from .domain import Cliente

ORIGIN = "clientes"

# The consumers its worker runs, each with its own queue <exchange>.clientes.<name>:
# name → the ClientesHandlers method giving its {event tipo: handler}. Here, not in
# worker.py, so that /metrics and the dead-letter command know the service's
# queues without importing its worker.
CONSUMERS = {"empleados": "empleado_routes"}

EVENTS = CuentaEvents("cliente", ORIGIN)
registrado = EVENTS.with_public_data("registrado")
actualizado = EVENTS.with_public_data("actualizado")


def eliminado(cliente: Cliente) -> Event:
    return EVENTS.event("eliminado", {"id": cliente.id})
