"""The account mails clientes and empleados word the same way, in Spanish:
the greeting, and the reset link, which differ only in the portal section
its links open (``/cuenta`` for customers, ``/equipo`` for staff) and in
how the account is named. The layout is ``common.mail.compose``'s;
``portal_url`` is the portal the links open (``PORTAL_URL``)."""
from __future__ import annotations

from common.mail import Mail
from common.mail.compose import compose, portal_link

from .cuenta import Cuenta


def saludo(cuenta: Cuenta) -> str:
    return f"Hola, {cuenta.nombre}:"


def restablecimiento(cuenta: Cuenta, token: str, portal_url: str, *, seccion: str, que_cuenta: str) -> Mail:
    """The link that sets a new password (30 min), on the portal's
    ``{seccion}/restablecer`` page, and the one that asks for another
    (``{seccion}/olvido``); ``que_cuenta`` names the account in the text
    ("su cuenta de Incidencias")."""
    return compose(cuenta.email or "", "Restablezca su contraseña", [
        saludo(cuenta),
        f"Alguien ha pedido restablecer la contraseña de {que_cuenta}. Si fue usted, abra el enlace de abajo "
        "para elegir una nueva. Caduca en 30 minutos y solo sirve una vez.",
        "Si no lo ha pedido usted, ignore este mensaje: su contraseña no cambia.",
    ], [("Elegir una contraseña nueva", portal_link(portal_url, f"{seccion}/restablecer", token=token)),
        ("Pedir otro enlace", portal_link(portal_url, f"{seccion}/olvido"))])
