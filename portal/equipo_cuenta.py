"""The console's account pages reached from a mail (``/equipo/…``):
accepting an invitation (the new employee chooses their password, which the
admin who invited them never knows), a forgotten password and the reset
link. They work as the customers' ones (``portal.cuenta``, ``portal.enlaces``)."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from . import auth, enlaces
from .auth import EQUIPO, anonymous_call
from .cuenta import nueva_password_page, olvido_enviado_page, olvido_form, restablecer_form, restablecida_page
from .equipo import abrir_sesion, bp
from .pages import form_call


@bp.route("/invitacion", methods=["GET", "POST"])
def invitacion():
    """The invitation link: choose a password, then straight into the console."""
    token = enlaces.token()
    if token is None:
        return enlaces.invalid(enlaces.INVITACION)
    pagina = ("Le damos la bienvenida al equipo", "Elija la contraseña con la que entrará en la consola y "
              "escríbala dos veces. Solo usted la conocerá.", "Guardar y entrar", "equipo.invitacion", token)
    if request.method == "GET":
        return nueva_password_page(*pagina)
    errores = enlaces.new_password_errors(request.form)
    if errores:
        return nueva_password_page(*pagina, errores, 422)
    password = request.form["password"]
    answer = form_call("empleados", "POST", "/empleados/invitacion/aceptacion",
                       json={"token": token, "password": password}, anonymous=True)
    if enlaces.is_invalid_link(answer):
        return enlaces.invalid(enlaces.INVITACION)
    if not answer.ok:
        return nueva_password_page(*pagina, enlaces.password_refused(answer), answer.status)
    email = str((answer.data or {}).get("email") or "")
    login = anonymous_call("empleados", "POST", "/empleados/login", json={"email": email, "password": password})
    if not login.ok:
        auth.sign_out()
        flash("Su contraseña se ha guardado; entre con su e-mail y ella.", "ok")
        return redirect(url_for(".entrar"))
    abrir_sesion(login.data["access_token"], login.data.get("expires_in", 3600))
    flash("Su contraseña se ha guardado. Esta es su cola de incidencias.", "ok")
    return redirect(url_for(".incidencias", vista="mias"))


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
