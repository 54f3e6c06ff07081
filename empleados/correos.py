"""What empleados tells an employee by e-mail about their account, in
Spanish: the subject, the paragraphs and the portal links of each mail (the
layout is ``common.mail.compose``'s; the greeting and the reset link are
worded once for both account services, in ``cuentas.correos``).
``portal_url`` is the portal the links open (``PORTAL_URL``)."""
from __future__ import annotations

from common.mail import Mail
from common.mail.compose import compose, portal_link
from cuentas import correos as cuentas_correos
from cuentas.correos import saludo

from .domain import Empleado


def invitacion(empleado: Empleado, token: str, portal_url: str) -> Mail:
    """The invitation: the link where the invitee chooses their password (72 h)."""
    return compose(empleado.email, "Invitación al equipo de Incidencias", [
        saludo(empleado),
        f"Le han dado de alta en el equipo de Incidencias con el rol {empleado.rol}. Para empezar, abra el "
        "enlace de abajo y elija su contraseña; su email será su usuario. El enlace caduca en 72 horas y "
        "solo sirve una vez.",
        "Si caduca, pida un enlace nuevo con «He olvidado mi contraseña» en la entrada del equipo.",
    ], [("Aceptar la invitación", portal_link(portal_url, "/equipo/invitacion", token=token)),
        ("Pedir otro enlace", portal_link(portal_url, "/equipo/olvido"))])


def restablecimiento(empleado: Empleado, token: str, portal_url: str) -> Mail:
    """The link that sets a new password (30 min)."""
    return cuentas_correos.restablecimiento(empleado, token, portal_url, seccion="/equipo",
                                            que_cuenta="su cuenta del equipo de Incidencias")
