"""The console's customer pages (``/equipo/clientes``): find a customer
(by e-mail, name or a phone number written any way, as a call comes in),
see who they are and everything they ever reported, the counts by where
each incident stands and the latest ones, and open an incident for them
while they are on the phone; a caller with no account is registered first
(the account's owner chooses its password through the link mailed)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from incidencias_dominio import ESTADOS_FINALES, Estado

from .auth import EQUIPO, call, requires
from .equipo import POR_PAGINA, bp
from .forms import CAMPOS_INCIDENCIA, FormErrors, field_errors, incidencia_nueva, put_present, text_or_none, typed
from .pages import form_call, page_number, read, segment

ULTIMAS = 10
"""How many of a customer's incidents their page lists, the newest first."""
GRUPOS = {
    "abiertas": tuple(e.value for e in Estado if e not in ESTADOS_FINALES and e != Estado.RESUELTA),
    "resueltas": (Estado.RESUELTA.value,),
    "cerradas": (Estado.CERRADA.value,),
    "canceladas": (Estado.CANCELADA.value,),
}
"""Where a customer's incidents stand: still with the team, waiting for the
customer's confirmation, closed, withdrawn."""


@bp.get("/clientes")
@requires(EQUIPO)
def clientes():
    pagina, q = page_number(), (request.args.get("q") or "").strip()[:100]
    params = {"pagina": pagina, "por_pagina": POR_PAGINA, **({"q": q} if q else {})}
    answer = call("clientes", "GET", "/clientes", params=params)
    if not answer.ok:
        return render_template("equipo/clientes.html", page=None, q=q,
                               error=(answer.problem or {}).get("detail")), answer.status
    return render_template("equipo/clientes.html", page=answer.data, q=q, error=None)


CAMPOS_ALTA = ("nombre", "apellidos", "email", "telefono", "direccion")


@bp.route("/clientes/nuevo", methods=["GET", "POST"])
@requires(EQUIPO)
def nuevo_cliente():
    """A caller with no account: registered with no password (clientes mails
    them the link to choose one), then their page, to open their incident."""
    if request.method == "GET":
        return render_template("equipo/cliente_alta.html", valores={}, errores=FormErrors())
    body: dict = {}
    for name in ("nombre", "apellidos", "email"):
        put_present(body, name, request.form.get(name))
    for name in ("telefono", "direccion"):
        body[name] = text_or_none(request.form, name)
    answer = form_call("clientes", "POST", "/clientes/invitacion", json=body)
    if not answer.ok:
        return render_template("equipo/cliente_alta.html", valores=typed(request.form, CAMPOS_ALTA),
                               errores=field_errors(answer.problem, CAMPOS_ALTA)), answer.status
    flash(f"Cuenta creada. Hemos enviado a {answer.data['email']} un enlace para elegir su contraseña "
          "(vale 72 horas). Ya puede abrir su incidencia.", "ok")
    return redirect(url_for(".cliente", cliente_id=answer.data["id"]))


@bp.get("/clientes/<cliente_id>")
@requires(EQUIPO)
def cliente(cliente_id: str):
    cuenta = read("clientes", f"/clientes/{segment(cliente_id)}")
    # A page of one says how many there are in a state.
    resumen = {grupo: sum(read("resolucion", "/incidencias", cliente_id=cuenta["id"], estado=estado,
                               por_pagina=1)["total"] for estado in estados)
               for grupo, estados in GRUPOS.items()}
    ultimas = read("resolucion", "/incidencias", cliente_id=cuenta["id"], orden="recientes", por_pagina=ULTIMAS)
    return render_template("equipo/cliente.html", cuenta=cuenta, resumen=resumen, ultimas=ultimas)


@bp.route("/clientes/<cliente_id>/incidencias/nueva", methods=["GET", "POST"])
@requires(EQUIPO)
def incidencia_por_telefono(cliente_id: str):
    """The incident a customer tells about on the phone, opened in their name
    (incidencias_apertura records the call as its channel and the employee
    in its history); back on the customer's page once it is."""
    cuenta = read("clientes", f"/clientes/{segment(cliente_id)}")
    if request.method == "GET":
        return _telefono_form(cuenta, {"prioridad": "media"}, FormErrors())
    valores = typed(request.form, CAMPOS_INCIDENCIA)
    answer = form_call("apertura", "POST", f"/clientes/{segment(cuenta['id'])}/incidencias",
                       json=incidencia_nueva(request.form))
    if not answer.ok:
        return _telefono_form(cuenta, valores, field_errors(answer.problem, CAMPOS_INCIDENCIA), answer.status)
    flash(f"Incidencia «{answer.data['titulo']}» abierta por teléfono", "ok")
    return redirect(url_for(".cliente", cliente_id=cuenta["id"]))


def _telefono_form(cuenta: dict, valores: dict, errores: FormErrors, status: int = 200):
    return render_template("equipo/cliente_nueva.html", cuenta=cuenta, valores=valores, errores=errores), status
