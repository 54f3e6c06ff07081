"""The console's account pages reached from a mail (``/equipo/…``):
accepting an invitation (the new employee chooses their password, which the
admin who invited them never knows), a forgotten password and the reset
link. They work as the customers' ones (``portal.cuenta``, ``portal.enlaces``)."""
from __future__ import annotations

from flask import url_for

from . import enlaces
from .auth import EQUIPO
from .cuenta import Invitacion, invitacion_form, olvido_enviado_page, olvido_form, restablecer_form, restablecida_page
from .equipo import abrir_sesion, bp


@bp.route("/invitacion", methods=["GET", "POST"])
def invitacion():
    """The invitation link: choose a password, then straight into the console."""
    return invitacion_form(Invitacion(
        "empleados", "Le damos la bienvenida al equipo", "Elija la contraseña con la que entrará en la consola "
        "y escríbala dos veces. Solo usted la conocerá.", "equipo.invitacion", enlaces.INVITACION, abrir_sesion,
        ".entrar", lambda: url_for(".incidencias", vista="mias"),
        "Su contraseña se ha guardado. Esta es su cola de incidencias."))


@bp.route("/olvido", methods=["GET", "POST"])
def olvido():
    return olvido_form("empleados", "/empleados/password/solicitud", ".olvido_enviado")


@bp.get("/olvido/enviado")
def olvido_enviado():
    return olvido_enviado_page(".entrar")


@bp.route("/restablecer", methods=["GET", "POST"])
def restablecer():
    return restablecer_form("empleados", "/empleados/password/restablecimiento", "equipo.restablecer",
                            enlaces.RESTABLECIMIENTO_EQUIPO, ".restablecida", EQUIPO)


@bp.get("/restablecer/hecho")
def restablecida():
    return restablecida_page(".entrar")
