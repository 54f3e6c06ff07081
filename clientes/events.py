"""The events clientes publishes."""
from common.messaging import Event, make_event

from .domain import Cliente

ORIGIN = "clientes"


def registrado(cliente: Cliente) -> Event:
    return make_event("cliente.registrado", cliente.public_data(), ORIGIN)


def actualizado(cliente: Cliente) -> Event:
    return make_event("cliente.actualizado", cliente.public_data(), ORIGIN)


def eliminado(cliente: Cliente) -> Event:
    return make_event("cliente.eliminado", {"id": cliente.id}, ORIGIN)
