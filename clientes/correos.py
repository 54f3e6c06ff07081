"""What clientes tells a customer by e-mail about their account, in
Spanish: the subject, the paragraphs and the portal links of each mail (the
layout is ``common.mail.compose``'s; the greeting and the reset link are
worded once for both account services, in ``cuentas.correos``).
``portal_url`` is the portal the links open (``PORTAL_URL``)."""
from __future__ import annotations

from common.mail import Mail
from common.mail.compose import compose, portal_link
from cuentas import correos as cuentas_correos
from cuentas.correos import saludo

from .domain import Cliente


def verificacion(cliente: Cliente, token: str, portal_url: str) -> Mail:
    """To the address just registered: the link that verifies it (48 h)."""
    return compose(cliente.email or "", "Confirme su email", [
        saludo(cliente),
        "Gracias por registrarse en Incidencias. Para confirmar que este email es suyo, abra el enlace "
        "de abajo. Caduca en 48 horas; si caduca, puede pedir otro desde su perfil.",
        "Si no ha creado usted esta cuenta, ignore este mensaje.",
    ], [("Confirmar mi email", portal_link(portal_url, "/cuenta/verificar", token=token))])


def invitacion(cliente: Cliente, token: str, portal_url: str) -> Mail:
    """To a caller staff registered: the link where they choose their password (72 h)."""
    return compose(cliente.email or "", "Su cuenta en Incidencias", [
        saludo(cliente),
        "Al atender su llamada le hemos abierto una cuenta en Incidencias con este email. En ella puede "
        "seguir sus incidencias, escribir al equipo de soporte y confirmar cuando estén resueltas.",
        "Para entrar, abra el enlace de abajo y elija su contraseña. Caduca en 72 horas y solo sirve una "
        "vez; si caduca, pida otro con «He olvidado mi contraseña» en la entrada.",
        "Si no ha llamado usted, ignore este mensaje.",
    ], [("Elegir mi contraseña", portal_link(portal_url, "/cuenta/invitacion", token=token)),
        ("Pedir otro enlace", portal_link(portal_url, "/cuenta/olvido"))])


def restablecimiento(cliente: Cliente, token: str, portal_url: str) -> Mail:
    """The link that sets a new password (30 min)."""
    return cuentas_correos.restablecimiento(cliente, token, portal_url, seccion="/cuenta",
                                            que_cuenta="su cuenta de Incidencias")


def cambio_email(cliente: Cliente, nuevo: str, token: str, portal_url: str) -> Mail:
    """To the new address: the link that makes it the account's e-mail (24 h)."""
    return compose(nuevo, "Confirme su nuevo email", [
        saludo(cliente),
        f"Ha pedido usar {nuevo} como email de su cuenta de Incidencias. Abra el enlace de abajo para "
        "confirmarlo; hasta entonces su cuenta sigue usando el email anterior. Caduca en 24 horas.",
        "Si no lo ha pedido usted, ignore este mensaje.",
    ], [("Confirmar el nuevo email", portal_link(portal_url, "/cuenta/confirmar-email", token=token))])


def aviso_cambio_email(cliente: Cliente, nuevo: str, portal_url: str) -> Mail:
    """To the address in use: someone asked to move the account to ``nuevo``."""
    return compose(cliente.email or "", "Se ha pedido cambiar el email de su cuenta", [
        saludo(cliente),
        f"Se ha pedido cambiar el email de su cuenta de Incidencias a {nuevo}. El cambio solo se hace "
        "cuando se confirme desde esa dirección.",
        "Si no lo ha pedido usted, cambie su contraseña: así se anula el cambio pendiente y se cierran "
        "las sesiones abiertas.",
    ], [("Restablecer mi contraseña", portal_link(portal_url, "/cuenta/olvido"))])
