"""The customers' pages (``/``): account, incidents, notifications, profile.

Every form posts to the portal and is answered with a redirect (with a
flash message) or, when the service refused it, the same page again with
the service's messages next to the fields they name and what was typed
kept. Nothing here needs JavaScript."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from . import auth, display
from .auth import CLIENTE, anonymous_call, call, requires
from .forms import (
    CAMPOS_INCIDENCIA, CAMPOS_VALORACION, FormErrors, field_errors, incidencia_nueva, put_present, refusal, safe_next,
    text_or_none, typed, valoracion,
)
from .pages import (
    form_call, incident_action, live_incident, live_list, page_number, read, search_text, searched_list, segment,
)

bp = Blueprint("cliente", __name__)
POR_PAGINA = 20
CAMPOS_REGISTRO = ("nombre", "apellidos", "email", "password", "fecha_nacimiento")
CAMPOS_PERFIL = ("nombre", "apellidos", "email", "fecha_nacimiento")
CAMPOS_PASSWORD = ("password_actual", "password")
VERIFICADO = "email_verificado"  # the session's copy of the account's flag (the reminder: portal.cuenta)


def _inicio_cliente():
    return redirect(url_for(".incidencias"))


def _sesion_de_cliente() -> bool:
    persona = auth.current()
    return persona is not None and persona.area == CLIENTE and not persona.caducada


# -- signing in and out ------------------------------------------------------------------
def login_errors(answer, fields=("email", "password")) -> FormErrors:
    """What a refused login says (both areas)."""
    if answer.status == 401:
        return FormErrors(generales=["El email o la contraseña no son correctos"])
    if answer.status == 429:
        espera = answer.problem.retry_after or 60
        return FormErrors(generales=[f"Demasiados intentos; espere {espera} segundos"])
    return field_errors(answer.problem, fields)


def _entrar_form(valores: dict, errores: FormErrors, status: int = 200):
    siguiente = safe_next(request.values.get("siguiente"), "")
    return render_template("cliente/entrar.html", valores=valores, errores=errores, siguiente=siguiente), status


def abrir_sesion(token: str, expires_in: int) -> None:
    me = auth.api().call("clientes", "GET", "/clientes/yo", token=token)
    if not me.ok:
        abort(502)
    auth.sign_in(CLIENTE, token, expires_in, {**me.data, "rol": CLIENTE})
    recordar_verificacion(me.data)


def recordar_verificacion(cuenta: dict) -> None:
    """Keep in the session whether the account (a ``/clientes/yo`` answer) has its e-mail verified."""
    session[VERIFICADO] = bool(cuenta.get(VERIFICADO, True))


@bp.get("/")
def inicio():
    if _sesion_de_cliente():
        return _inicio_cliente()
    return _entrar_form({}, FormErrors())


@bp.route("/entrar", methods=["GET", "POST"])
def entrar():
    if request.method == "GET":
        if _sesion_de_cliente():
            return _inicio_cliente()
        return _entrar_form({}, FormErrors())
    valores = typed(request.form, ("email",))
    body: dict[str, Any] = {}
    put_present(body, "email", request.form.get("email"))
    put_present(body, "password", request.form.get("password"))
    answer = anonymous_call("clientes", "POST", "/clientes/login", json=body)
    if not answer.ok:
        return _entrar_form(valores, login_errors(answer), answer.status)
    abrir_sesion(answer.data["access_token"], answer.data.get("expires_in", 3600))
    return redirect(safe_next(request.form.get("siguiente"), url_for(".incidencias")))


@bp.post("/salir")
def salir():
    auth.sign_out()
    flash("Ha salido de su cuenta.", "ok")
    return redirect(url_for(".entrar"))


@bp.route("/registro", methods=["GET", "POST"])
def registro():
    if request.method == "GET":
        return render_template("cliente/registro.html", valores={}, errores=FormErrors())
    valores = typed(request.form, ("nombre", "apellidos", "email", "fecha_nacimiento"))
    body: dict[str, Any] = {}
    for name in ("nombre", "apellidos", "email", "password"):
        put_present(body, name, request.form.get(name))
    if text_or_none(request.form, "fecha_nacimiento"):
        body["fecha_nacimiento"] = text_or_none(request.form, "fecha_nacimiento")
    created = form_call("clientes", "POST", "/clientes", json=body, anonymous=True)
    if not created.ok:
        return render_template("cliente/registro.html", valores=valores,
                               errores=field_errors(created.problem, CAMPOS_REGISTRO)), created.status
    login = anonymous_call("clientes", "POST", "/clientes/login",
                           json={"email": body["email"], "password": body["password"]})
    if not login.ok:
        flash("Su cuenta se ha creado; entre con su email y su contraseña.", "ok")
        return redirect(url_for(".entrar"))
    abrir_sesion(login.data["access_token"], login.data.get("expires_in", 3600))
    flash("Su cuenta se ha creado. Ya puede abrir una incidencia.", "ok")
    return _inicio_cliente()


# -- incidents -----------------------------------------------------------------------------
def _filtro_estado() -> str | None:
    estado = request.args.get("estado") or None
    return estado if estado in display.ESTADOS else None




def _mis_incidencias(estado: str | None, pagina: int, q: str) -> tuple[dict, FormErrors]:
    return searched_list("apertura", {"estado": estado, "pagina": pagina, "por_pagina": POR_PAGINA, "q": q})


@bp.get("/incidencias")
@requires(CLIENTE)
def incidencias():
    estado, pagina, q = _filtro_estado(), page_number(), search_text()
    page, errores = _mis_incidencias(estado, pagina, q)
    return render_template("cliente/incidencias.html", page=page, estado=estado, pagina=pagina, q=q,
                           errores=errores), 400 if errores else 200


@bp.get("/incidencias/estado.json")
@requires(CLIENTE)
def incidencias_estado():
    page, _ = _mis_incidencias(_filtro_estado(), page_number(), search_text())
    return live_list(page)


def _nueva_form(valores: dict, errores: FormErrors, status: int = 200):
    return render_template("cliente/nueva.html", valores=valores, errores=errores), status


@bp.route("/incidencias/nueva", methods=["GET", "POST"])
@requires(CLIENTE)
def nueva():
    if request.method == "GET":
        return _nueva_form({"prioridad": "media"}, FormErrors())
    valores = typed(request.form, CAMPOS_INCIDENCIA)
    answer = form_call("apertura", "POST", "/incidencias", json=incidencia_nueva(request.form))
    if not answer.ok:
        return _nueva_form(valores, field_errors(answer.problem, CAMPOS_INCIDENCIA), answer.status)
    flash("Incidencia abierta", "ok")
    return redirect(url_for(".incidencia", incidencia_id=answer.data["id"]))


def _incidencia(incidencia_id: str) -> dict:
    return read("apertura", f"/incidencias/{segment(incidencia_id)}")


def _pagina_incidencia(incidencia: dict, formulario: str | None = None, valores: dict | None = None,
                       errores: FormErrors | None = None, status: int = 200):
    prevista = display.parse_instant(incidencia.get("primera_respuesta_prevista"))
    return render_template(
        "cliente/incidencia.html", incidencia=incidencia, historial=display.timeline(incidencia["historial"]),
        cancelable=incidencia["estado"] in display.RETIRABLES and not incidencia.get("cancelacion_solicitada_en"),
        final=incidencia["estado"] in display.FINALES, formulario=formulario, valores=valores or {},
        errores=errores or FormErrors(), pregunta=display.pending_question(incidencia),
        prevista_pasada=prevista is not None and prevista < datetime.now(timezone.utc),
    ), status


@bp.get("/incidencias/<incidencia_id>")
@requires(CLIENTE)
def incidencia(incidencia_id: str):
    return _pagina_incidencia(_incidencia(incidencia_id))


@bp.get("/incidencias/<incidencia_id>/estado.json")
@requires(CLIENTE)
def incidencia_estado(incidencia_id: str):
    return live_incident(_incidencia(incidencia_id))


def _accion(incidencia_id: str, formulario: str, path: str, body: dict, fields: tuple[str, ...],
            hecho: str | Callable[[dict], str]):
    """POST an action on the incident: back to its page with ``hecho``, or the
    page again with the refusal (next to the fields, or above the form)."""
    return incident_action("apertura", "POST", incidencia_id, path, body, fields, hecho,
                           lambda incidencia, valores, errores, status:
                           _pagina_incidencia(incidencia, formulario, valores, errores, status))


@bp.post("/incidencias/<incidencia_id>/comentarios")
@requires(CLIENTE)
def comentar(incidencia_id: str):
    body: dict[str, Any] = {}
    put_present(body, "texto", request.form.get("texto"))
    return _accion(incidencia_id, "comentario", "/comentarios", body, ("texto",), _comentada)


def _comentada(incidencia: dict) -> str:
    """A comment, or the answer to the question asked: the entry that took
    the incident back to work was written with the comment just sent (the
    newest), at its very instant."""
    ultima = (incidencia.get("historial") or [{}])[-1]
    nueva = max((c.get("creado_en") or "" for c in incidencia.get("comentarios") or ()), default=None)
    respondida = ultima.get("de") == display.ESPERANDO_CLIENTE and nueva is not None and nueva == ultima.get("en")
    return "Respuesta enviada: seguimos con su incidencia" if respondida else "Comentario enviado"


@bp.post("/incidencias/<incidencia_id>/cierre")
@requires(CLIENTE)
def cerrar(incidencia_id: str):
    return _accion(incidencia_id, "cierre", "/cierre", {}, (), _cerrada)


def _cerrada(incidencia: dict) -> str:
    """What closing it means: the solution confirmed, or (asked something) solved after all."""
    ultima = (incidencia.get("historial") or [{}])[-1]
    if ultima.get("de") == display.ESPERANDO_CLIENTE:
        return "Nos alegra que se haya resuelto: la incidencia está cerrada"
    return "Ha confirmado la solución: la incidencia está cerrada"


@bp.post("/incidencias/<incidencia_id>/reapertura")
@requires(CLIENTE)
def reabrir(incidencia_id: str):
    body: dict[str, Any] = {}
    put_present(body, "motivo", request.form.get("motivo"))
    return _accion(incidencia_id, "reapertura", "/reapertura", body, ("motivo",),
                   "Ha rechazado la solución: la incidencia vuelve al equipo de soporte")


@bp.post("/incidencias/<incidencia_id>/cancelacion")
@requires(CLIENTE)
def cancelar(incidencia_id: str):
    return _accion(incidencia_id, "cancelacion", "/cancelacion", {"motivo": text_or_none(request.form, "motivo")},
                   ("motivo",), _cancelada)


def _cancelada(incidencia: dict) -> str:
    """Asked something, it is withdrawn at once; otherwise resolucion, which holds it, cancels it in a moment."""
    if incidencia.get("estado") == "cancelada":
        return "La incidencia está cancelada"
    return "Ha pedido cancelar la incidencia; se cancelará en unos instantes"


@bp.post("/incidencias/<incidencia_id>/valoracion")
@requires(CLIENTE)
def valorar(incidencia_id: str):
    """Rate a closed incident, once: 1 to 5 and, if they wish, a comment.
    Refused because it was rated already (another tab) or is no longer
    closed, the page says which, and shows the rating there is."""
    body, errores = valoracion(request.form)
    if errores:
        return _pagina_incidencia(_incidencia(incidencia_id), "valoracion", typed(request.form, CAMPOS_VALORACION),
                                  errores, 422)
    answer = form_call("apertura", "POST", f"/incidencias/{segment(incidencia_id)}/valoracion", json=body)
    if answer.status == 404:
        abort(404)
    if answer.ok:
        flash("Gracias por su valoración", "ok")
        return redirect(url_for(".incidencia", incidencia_id=incidencia_id, _anchor="valoracion"))
    incidencia = _incidencia(incidencia_id)
    if answer.status == 409 and not answer.problem.key_reused:
        errores = FormErrors(generales=["Ya había valorado esta incidencia." if incidencia.get("valoracion") else
                                        "Solo se puede valorar una incidencia cerrada."])
    else:
        errores = field_errors(answer.problem, CAMPOS_VALORACION)
    return _pagina_incidencia(incidencia, "valoracion", typed(request.form, CAMPOS_VALORACION), errores,
                              answer.status)


# -- notifications -----------------------------------------------------------------------------
@bp.get("/notificaciones")
@requires(CLIENTE)
def notificaciones():
    pagina = page_number()
    answer = call("apertura", "GET", "/notificaciones", params={"pagina": pagina, "por_pagina": POR_PAGINA})
    if not answer.ok:
        abort(400)
    return render_template("cliente/notificaciones.html", page=answer.data, pagina=pagina)


@bp.post("/notificaciones/lectura")
@requires(CLIENTE)
def leer_notificaciones():
    answer = form_call("apertura", "POST", "/notificaciones/lectura", json={})
    if answer.ok:
        flash("Todas las notificaciones están marcadas como leídas", "ok")
    else:
        flash(refusal(answer.problem), "error")
    return redirect(url_for(".notificaciones"))


# -- profile ---------------------------------------------------------------------------------
def _cuenta() -> dict:
    answer = call("clientes", "GET", "/clientes/yo")
    if not answer.ok:
        abort(400)
    return answer.data


def _datos(cuenta: dict) -> dict:
    return {k: cuenta.get(k) or "" for k in CAMPOS_PERFIL}


def _pagina_perfil(cuenta: dict, valores: dict | None = None, formulario: str | None = None,
                   errores: FormErrors | None = None, status: int = 200):
    """``cuenta``: the account as the service has it (its pending e-mail,
    its mail preference); ``valores``: what the data form shows (typed, when
    it comes back refused)."""
    return render_template("cliente/perfil.html", cuenta=cuenta, valores=_datos(cuenta) if valores is None else valores,
                           formulario=formulario, errores=errores or FormErrors()), status


@bp.route("/perfil", methods=["GET", "POST"])
@requires(CLIENTE)
def perfil():
    cuenta = _cuenta()
    if request.method == "GET":
        return _pagina_perfil(cuenta)
    body: dict[str, Any] = {name: text_or_none(request.form, name) for name in CAMPOS_PERFIL}
    if body["email"] and body["email"].casefold() == str(cuenta.get("email") or "").casefold():
        del body["email"]  # unchanged: a new e-mail is what starts a confirmation by mail
    answer = call("clientes", "PATCH", "/clientes/yo", json=body)
    if not answer.ok:
        return _pagina_perfil(cuenta, typed(request.form, CAMPOS_PERFIL), "perfil",
                              field_errors(answer.problem, CAMPOS_PERFIL), answer.status)
    auth.rename(f"{answer.data.get('nombre', '')} {answer.data.get('apellidos', '')}".strip())
    pendiente = answer.data.get("email_pendiente")
    if "email" in body and pendiente:
        flash(f"Sus datos se han guardado. Para cambiar su e-mail, abra el enlace que le hemos enviado a "
              f"{pendiente}; hasta entonces seguimos usando {answer.data.get('email')}.", "ok")
    else:
        flash("Sus datos se han guardado", "ok")
    return redirect(url_for(".perfil"))


@bp.post("/perfil/avisos")
@requires(CLIENTE)
def avisos():
    """Whether the changes of the customer's incidents are also mailed (the
    notifications in the portal are kept either way)."""
    quiere = request.form.get("avisos_por_correo") == "si"
    answer = call("clientes", "PATCH", "/clientes/yo", json={"avisos_por_correo": quiere})
    if not answer.ok:
        return _pagina_perfil(_cuenta(), None, "avisos", field_errors(answer.problem, ("avisos_por_correo",)),
                              answer.status)
    flash("Le escribiremos cuando cambien sus incidencias" if quiere else
          "Ya no le escribiremos cuando cambien sus incidencias; seguirá viéndolo en Notificaciones", "ok")
    return redirect(url_for(".perfil", _anchor="avisos"))


@bp.post("/perfil/password")
@requires(CLIENTE)
def cambiar_password():
    body: dict[str, Any] = {}
    for name in CAMPOS_PASSWORD:
        put_present(body, name, request.form.get(name))
    if "password" not in body:
        errores = FormErrors(campos={"password": "Escriba la nueva contraseña."})
        answer = None
    else:
        answer = call("clientes", "PATCH", "/clientes/yo", json=body)
        errores = None if answer.ok else field_errors(answer.problem, CAMPOS_PASSWORD)
    if errores:
        return _pagina_perfil(_cuenta(), None, "password", errores, answer.status if answer is not None else 422)
    # The service refuses the tokens issued before the change, this session's too: a new one, with the new password.
    login = anonymous_call("clientes", "POST", "/clientes/login",
                           json={"email": answer.data["email"], "password": body["password"]})
    if not login.ok:
        auth.sign_out()
        flash("Su contraseña se ha cambiado; entre con la nueva.", "ok")
        return redirect(url_for(".entrar"))
    abrir_sesion(login.data["access_token"], login.data.get("expires_in", 3600))
    flash("Su contraseña se ha cambiado. Las sesiones abiertas con la anterior en otros dispositivos se han "
          "cerrado.", "ok")
    return redirect(url_for(".perfil"))


@bp.route("/perfil/baja", methods=["GET", "POST"])
@requires(CLIENTE)
def baja():
    if request.method == "GET":
        return render_template("cliente/baja.html", errores=FormErrors())
    if request.form.get("confirmacion") != "si":
        errores = FormErrors(campos={"confirmacion": "Marque la casilla para confirmar que quiere borrar su cuenta."})
        return render_template("cliente/baja.html", errores=errores), 422
    answer = call("clientes", "DELETE", "/clientes/yo")
    if not answer.ok:
        return render_template("cliente/baja.html", errores=FormErrors(generales=[refusal(answer.problem)])), \
            answer.status
    auth.sign_out()
    flash("Su cuenta se ha borrado", "ok")
    return redirect(url_for(".entrar"))
