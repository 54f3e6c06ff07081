"""The events clientes publishes: the customer's public data, and only the
id once the account is erased."""
from common.messaging import Event
from cuentas.events import CuentaEvents

from .domain import Cliente

ORIGIN = "clientes"
EVENTS = CuentaEvents("cliente", ORIGIN)
registrado = EVENTS.with_public_data("registrado")
actualizado = EVENTS.with_public_data("actualizado")


def eliminado(cliente: Cliente) -> Event:
    return EVENTS.event("eliminado", {"id": cliente.id})
