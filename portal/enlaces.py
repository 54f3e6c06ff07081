"""What the pages of the mailed links share (both areas): verify an e-mail,
choose a password after a reset or an invitation, confirm a new e-mail.

A link's page never redeems its token on GET: mail scanners and link
previews fetch every link of a mail, and would use it up before its owner
clicks. The GET draws a form holding the token in a hidden field (plus a
password, when the link is for choosing one); only its POST sends the token
to the account service, which redeems it once.

A wrong, used, expired or other-purpose link is one page, the same for each
of those cases (the services do not tell them apart either): "El enlace no
es válido o ha caducado", 400, with the way to ask for a new link of that
kind. A token without the shape of one (``<account id>.<secret>``) gets
that page at once, without asking any service.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from flask import render_template, request

from .api import Answer
from .forms import FormErrors, field_errors

TOKEN_FIELD = "token"
# cuentas.enlaces: ``<alphanumeric account id>.<token_urlsafe secret>``, at most 200 characters.
_TOKEN = re.compile(r"[A-Za-z0-9]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_LENGTH = 200
INVALID_TYPE_SLUG = "enlace-no-valido"
CAMPOS_PASSWORD = ("password", "password_repetida")


@dataclass(frozen=True)
class Renovar:
    """How to get a new link of a kind: what to do, and the page to do it on."""

    texto: str
    enlace: str
    destino: str  # an endpoint


VERIFICACION = Renovar(
    "Si ya confirmó su e-mail, no tiene que hacer nada más. Si no, entre en su cuenta y pulse «Reenviar el "
    "enlace»: le enviaremos uno nuevo.", "Entrar en mi cuenta", "cliente.incidencias")
RESTABLECIMIENTO_CLIENTE = Renovar(
    "Pida un enlace nuevo: caduca a los 30 minutos y solo sirve el último que le enviamos.",
    "Pedir un enlace nuevo", "cliente.olvido")
CAMBIO_EMAIL = Renovar(
    "Si todavía quiere cambiar su e-mail, vuelva a escribir la nueva dirección en su perfil y le enviaremos "
    "un enlace nuevo.", "Ir a mi perfil", "cliente.perfil")
INVITACION_CLIENTE = Renovar(
    "Si ya eligió su contraseña, entre en su cuenta con ella. Si no, pida un enlace para elegirla con su "
    "e-mail: caduca a las 72 horas y solo sirve una vez.", "Pedir un enlace para elegir mi contraseña",
    "cliente.olvido")
RESTABLECIMIENTO_EQUIPO = Renovar(
    "Pida un enlace nuevo: caduca a los 30 minutos y solo sirve el último que le enviamos.",
    "Pedir un enlace nuevo", "equipo.olvido")
INVITACION = Renovar(
    "Si ya eligió su contraseña, entre en la consola con ella. Si no, pida un enlace para elegirla con su "
    "e-mail, o pida a un administrador que vuelva a invitarle.", "Pedir un enlace para elegir mi contraseña",
    "equipo.olvido")


def token() -> str | None:
    """The link's token from the query (GET) or the form (POST); None
    when it is missing or has not the shape of a token."""
    value = (request.form if request.method == "POST" else request.args).get(TOKEN_FIELD, "")
    if len(value) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(value):
        return None
    return value


def invalid(renovar: Renovar):
    """The one page of a wrong, used or expired link."""
    return render_template("cuenta/enlace_no_valido.html", renovar=renovar), 400


def is_invalid_link(answer: Answer) -> bool:
    """The services' refusal of a link: 400 ``…/enlace-no-valido`` naming ``token``."""
    problem = answer.problem
    return answer.status == 400 and (problem.type.endswith(INVALID_TYPE_SLUG)
                                     or any(e.get("campo") == TOKEN_FIELD for e in problem.errores))


def new_password_errors(form) -> FormErrors:
    """The new password typed twice: both present and equal (the services
    check the rule itself, and their messages land next to ``password``)."""
    errores = FormErrors()
    password, repetida = form.get("password", ""), form.get("password_repetida", "")
    if not password:
        errores.add("password", "Escriba la nueva contraseña.")
    if not repetida:
        errores.add("password_repetida", "Escriba otra vez la nueva contraseña.")
    elif password and password != repetida:
        errores.add("password_repetida", "Las dos contraseñas no coinciden.")
    return errores


def password_refused(answer: Answer) -> FormErrors:
    """A refused new password (the rule), next to its field."""
    return field_errors(answer.problem, CAMPOS_PASSWORD)


def wait_in_words(seconds: int | None, default: int = 60) -> str:
    """``Retry-After`` said in Spanish: "45 segundos", "3 minutos", "2 horas"."""
    seconds = max(1, seconds if seconds is not None else default)
    if seconds < 90:
        n, unit = seconds, ("segundo", "segundos")
    elif seconds < 90 * 60:
        n, unit = math.ceil(seconds / 60), ("minuto", "minutos")
    else:
        n, unit = math.ceil(seconds / 3600), ("hora", "horas")
    return f"{n} {unit[0] if n == 1 else unit[1]}"
