"""The events empleados publishes. ``datos`` carries what the incident
services need to assign work (never the email nor the password), plus the
account's ``version`` so that their replica keeps the newest state whatever
the delivery order."""
from common.messaging import Event, make_event

from .domain import Empleado

ORIGIN = "empleados"


def registrado(empleado: Empleado) -> Event:
    return make_event("empleado.registrado", empleado.public_data(), ORIGIN)


def actualizado(empleado: Empleado) -> Event:
    return make_event("empleado.actualizado", empleado.public_data(), ORIGIN)


def baja(empleado: Empleado) -> Event:
    return make_event("empleado.baja", empleado.public_data(), ORIGIN)
