"""The events empleados publishes. ``datos`` carries what the incident
services need to assign work (never the email nor the password), plus the
account's ``version`` so that their replica keeps the newest state whatever
the delivery order."""
from cuentas.events import CuentaEvents

ORIGIN = "empleados"
EVENTS = CuentaEvents("empleado", ORIGIN)
registrado = EVENTS.with_public_data("registrado")
actualizado = EVENTS.with_public_data("actualizado")
baja = EVENTS.with_public_data("baja")
