"""The customers' account pages reached from a mail (``/cuenta/…``): verify
the e-mail, forgotten password, choose a new one, confirm a new e-mail,
choose the first password of an account staff opened on a call; and
the reminder a signed-in customer sees while their e-mail is unverified,
with its "send it again" button. How a link's page works (never redeemed on
GET, one page for every bad link): ``portal.enlaces``.

The reminder needs to know whether the account is verified. The session
says so from the sign-in on; while it says "not yet", each page asks
``/clientes/yo`` again (the link may have been opened in another browser),
and stops asking once the account is verified: a verified customer's pages
cost no extra call."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from flask import flash, g, redirect, render_template, request, session, url_for

from . import auth, enlaces
from .api import ServiceUnavailable, SessionEnded
from .auth import CLIENTE, anonymous_call, requires
from .cliente import VERIFICADO, abrir_sesion, bp, recordar_verificacion
from .forms import FormErrors, field_errors, put_present, refusal, safe_next, typed
from .pages import form_call

def _sesion_de_cliente() -> bool:
    persona = auth.current()
    return persona is not None and persona.area == CLIENTE and not persona.caducada


def aviso_verificacion() -> str | None:
    """The e-mail to confirm when the signed-in customer has not verified it
    yet (the reminder is shown), None otherwise."""
    if "aviso_verificacion" in g:
        return g.aviso_verificacion
    g.aviso_verificacion = None
    if not _sesion_de_cliente() or session.get(VERIFICADO, True) or g.get("unavailable") == "clientes":
        return None
    try:
        answer = auth.call("clientes", "GET", "/clientes/yo")
    except (ServiceUnavailable, SessionEnded):
        return None  # the page's own calls tell what is wrong
    if answer.ok:
        recordar_verificacion(answer.data)
        if not session[VERIFICADO]:
            g.aviso_verificacion = str(answer.data.get("email") or "")
    return g.aviso_verificacion


@bp.post("/cuenta/verificacion/reenvio")
@requires(CLIENTE)
def reenviar_verificacion():
    """The reminder's button: another verification link (throttled by the service)."""
    volver = safe_next(request.form.get("siguiente"), url_for(".incidencias"))
    answer = form_call("clientes", "POST", "/clientes/yo/verificacion/reenvio", json={})
    if answer.ok:
        flash("Le hemos enviado un enlace nuevo. Ábralo para confirmar su e-mail; si no lo ve, mire en la "
              "carpeta de correo no deseado.", "ok")
    elif answer.status == 429:
        flash("Ya le enviamos un enlace hace muy poco, así que no le hemos enviado otro. Podrá pedir otro dentro "
              f"de {enlaces.wait_in_words(answer.problem.retry_after)}. Mientras, mire también en la carpeta de "
              "correo no deseado.", "error")
    elif answer.status == 409:
        recordar_verificacion({VERIFICADO: True})
        flash("Su e-mail ya está confirmado.", "ok")
    else:
        flash(refusal(answer.problem), "error")
    return redirect(volver)


# -- the verification link ------------------------------------------------------------------
def _confirmar(titulo: str, texto: str, boton: str, destino: str, token: str, errores: FormErrors | None = None,
               status: int = 200):
    return render_template("cuenta/confirmar.html", titulo=titulo, texto=texto, boton=boton, destino=destino,
                           token=token, errores=errores or FormErrors()), status


@bp.route("/cuenta/verificar", methods=["GET", "POST"])
def verificar():
    token = enlaces.token()
    if token is None:
        return enlaces.invalid(enlaces.VERIFICACION)
    pagina = ("Confirme su e-mail", "Pulse el botón para confirmar que este e-mail es suyo. Así podremos "
              "avisarle por correo de lo que pase con sus incidencias.", "Confirmar mi e-mail", "cliente.verificar")
    if request.method == "GET":
        return _confirmar(*pagina, token)
    answer = form_call("clientes", "POST", "/clientes/verificacion", json={"token": token}, anonymous=True)
    if enlaces.is_invalid_link(answer):
        return enlaces.invalid(enlaces.VERIFICACION)
    if not answer.ok:
        return _confirmar(*pagina, token, field_errors(answer.problem, ()), answer.status)
    if _sesion_de_cliente():
        session[VERIFICADO] = False  # the reminder asks again: the link may have been another account's
        flash("Su e-mail está confirmado. Gracias.", "ok")
        return redirect(url_for(".incidencias"))
    flash("Su e-mail está confirmado. Ya puede entrar en su cuenta.", "ok")
    return redirect(url_for(".entrar"))


# -- a forgotten password ----------------------------------------------------------------------
def olvido_form(servicio: str, path: str, enviado: str):
    """The forgotten-password form of either area: always the same answer
    ("if an account exists…"), whether the e-mail has an account or not."""
    plantilla = "cuenta/olvido.html"
    if request.method == "GET":
        return render_template(plantilla, valores={}, errores=FormErrors())
    body: dict[str, Any] = {}
    put_present(body, "email", request.form.get("email"))
    answer = form_call(servicio, "POST", path, json=body, anonymous=True)
    if answer.ok:
        return redirect(url_for(enviado))
    if answer.status == 429:
        errores = FormErrors(generales=[
            f"Se han pedido demasiados enlaces desde su conexión; espere "
            f"{enlaces.wait_in_words(answer.problem.retry_after)} y vuelva a intentarlo."])
    else:
        errores = field_errors(answer.problem, ("email",))
    return render_template(plantilla, valores=typed(request.form, ("email",)), errores=errores), answer.status


@bp.route("/cuenta/olvido", methods=["GET", "POST"])
def olvido():
    return olvido_form("clientes", "/clientes/password/solicitud", ".olvido_enviado")


def olvido_enviado_page(volver: str):
    return render_template(
        "cuenta/hecho.html", titulo="Revise su correo",
        parrafos=["Si existe una cuenta con ese e-mail, le hemos enviado un enlace para elegir una contraseña "
                  "nueva. Caduca a los 30 minutos.",
                  "¿No le llega? Mire en la carpeta de correo no deseado y compruebe que escribió bien su e-mail."],
        enlace=("Volver a entrar", url_for(volver)))


@bp.get("/cuenta/olvido/enviado")
def olvido_enviado():
    return olvido_enviado_page(".entrar")


# -- a new password from a reset link ------------------------------------------------------------
def nueva_password_page(titulo: str, texto: str, boton: str, destino: str, token: str,
                        errores: FormErrors | None = None, status: int = 200):
    return render_template("cuenta/nueva_password.html", titulo=titulo, texto=texto, boton=boton, destino=destino,
                           token=token, errores=errores or FormErrors()), status


def restablecer_form(servicio: str, path: str, destino: str, renovar: enlaces.Renovar, hecho: str, area: str):
    """A reset link's page (either area): the new password twice; on
    success the area's session here ends (the service refuses its token
    from now on anyway) and the page says to sign in again."""
    token = enlaces.token()
    if token is None:
        return enlaces.invalid(renovar)
    pagina = ("Elija una contraseña nueva", "Escríbala dos veces. Al guardarla se cerrarán las sesiones abiertas "
              "con la contraseña anterior.", "Guardar la contraseña", destino, token)
    if request.method == "GET":
        return nueva_password_page(*pagina)
    errores = enlaces.new_password_errors(request.form)
    if errores:
        return nueva_password_page(*pagina, errores, 422)
    answer = form_call(servicio, "POST", path, json={"token": token, "password": request.form["password"]},
                       anonymous=True)
    if enlaces.is_invalid_link(answer):
        return enlaces.invalid(renovar)
    if not answer.ok:
        return nueva_password_page(*pagina, enlaces.password_refused(answer), answer.status)
    persona = auth.current()
    if persona is not None and persona.area == area:
        auth.sign_out()
    return redirect(url_for(hecho))


@bp.route("/cuenta/restablecer", methods=["GET", "POST"])
def restablecer():
    return restablecer_form("clientes", "/clientes/password/restablecimiento", "cliente.restablecer",
                            enlaces.RESTABLECIMIENTO_CLIENTE, ".restablecida", CLIENTE)


def restablecida_page(entrar: str):
    return render_template(
        "cuenta/hecho.html", titulo="Su contraseña se ha cambiado",
        parrafos=["Ya puede entrar con la contraseña nueva. Las sesiones que estuvieran abiertas con la anterior, "
                  "en este o en otros dispositivos, se han cerrado."],
        enlace=("Entrar con la contraseña nueva", url_for(entrar)))


@bp.get("/cuenta/restablecer/hecho")
def restablecida():
    return restablecida_page(".entrar")


# -- the first password of an invited account ---------------------------------------------------
@dataclass(frozen=True)
class Invitacion:
    """What differs between the areas' invitation pages: the service that
    takes the password, the page's words, the link to ask for a new one,
    how a session opens and where the new account lands."""

    servicio: str
    titulo: str
    texto: str
    destino: str
    renovar: enlaces.Renovar
    abrir_sesion: Callable[[str, int], None]
    entrar: str
    inicio: Callable[[], str]
    bienvenida: str


def invitacion_form(invitacion: Invitacion):
    """An invitation link's page (either area): the password twice, then
    signed in with it and on to the area's first page."""
    token = enlaces.token()
    if token is None:
        return enlaces.invalid(invitacion.renovar)
    pagina = (invitacion.titulo, invitacion.texto, "Guardar y entrar", invitacion.destino, token)
    if request.method == "GET":
        return nueva_password_page(*pagina)
    errores = enlaces.new_password_errors(request.form)
    if errores:
        return nueva_password_page(*pagina, errores, 422)
    password, servicio = request.form["password"], invitacion.servicio
    answer = form_call(servicio, "POST", f"/{servicio}/invitacion/aceptacion",
                       json={"token": token, "password": password}, anonymous=True)
    if enlaces.is_invalid_link(answer):
        return enlaces.invalid(invitacion.renovar)
    if not answer.ok:
        return nueva_password_page(*pagina, enlaces.password_refused(answer), answer.status)
    email = str((answer.data or {}).get("email") or "")
    login = anonymous_call(servicio, "POST", f"/{servicio}/login", json={"email": email, "password": password})
    if not login.ok:
        auth.sign_out()
        flash("Su contraseña se ha guardado; entre con su e-mail y ella.", "ok")
        return redirect(url_for(invitacion.entrar))
    invitacion.abrir_sesion(login.data["access_token"], login.data.get("expires_in", 3600))
    flash(invitacion.bienvenida, "ok")
    return redirect(invitacion.inicio())


@bp.route("/cuenta/invitacion", methods=["GET", "POST"])
def invitacion():
    """The link mailed to a caller staff registered (their incident is
    already among theirs)."""
    return invitacion_form(Invitacion(
        "clientes", "Elija su contraseña", "Le abrimos una cuenta al atender su llamada. Elija la contraseña "
        "con la que entrará y escríbala dos veces; su e-mail será su usuario.", "cliente.invitacion",
        enlaces.INVITACION_CLIENTE, abrir_sesion, ".entrar", lambda: url_for(".incidencias"),
        "Su contraseña se ha guardado. Estas son sus incidencias."))


# -- confirming a new e-mail --------------------------------------------------------------------
@bp.route("/cuenta/confirmar-email", methods=["GET", "POST"])
def confirmar_email():
    token = enlaces.token()
    if token is None:
        return enlaces.invalid(enlaces.CAMBIO_EMAIL)
    pagina = ("Confirme su nuevo e-mail", "Pulse el botón para usar esta dirección en su cuenta: desde entonces "
              "entrará con ella y le escribiremos a ella.", "Confirmar mi nuevo e-mail", "cliente.confirmar_email")
    if request.method == "GET":
        return _confirmar(*pagina, token)
    answer = form_call("clientes", "POST", "/clientes/email/confirmacion", json={"token": token}, anonymous=True)
    if enlaces.is_invalid_link(answer):
        return enlaces.invalid(enlaces.CAMBIO_EMAIL)
    if answer.status == 409 and not answer.problem.key_reused:
        return _confirmar(*pagina, token, FormErrors(generales=[
            "Esa dirección ya la usa otra cuenta, así que no la hemos cambiado: su e-mail sigue siendo el "
            "de antes."]), 409)
    if not answer.ok:
        return _confirmar(*pagina, token, field_errors(answer.problem, ()), answer.status)
    email = str((answer.data or {}).get("email") or "")
    mensaje = f"Su e-mail es ahora {email}." if email else "Su nuevo e-mail está confirmado."
    if _sesion_de_cliente():
        flash(mensaje, "ok")
        return redirect(url_for(".perfil"))
    flash(f"{mensaje} Entre con él a partir de ahora.", "ok")
    return redirect(url_for(".entrar"))
