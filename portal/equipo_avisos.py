"""The console's warnings (``/equipo/avisos``): the signed-in employee's
own notifications from resolucion, newest first: a service-level target of
an incident they hold is at risk, or (to supervisors) one has run out.
Each leads to its incident's targets, and is marked read one at a time
(resolucion has no "mark all" for staff). The count of unread ones is in
the console's navigation (``app.avisos_no_leidos``)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from .auth import EQUIPO, call, requires
from .equipo import bp
from .forms import refusal, safe_next
from .pages import form_call, page_number, segment

POR_PAGINA = 20
FILTROS = {"todos": "Todos", "sin_leer": "Sin leer"}


@bp.get("/avisos")
@requires(EQUIPO)
def avisos():
    filtro = request.args.get("filtro") if request.args.get("filtro") in FILTROS else "todos"
    pagina = page_number()
    answer = call("resolucion", "GET", "/notificaciones", params={
        "no_leidas": "true" if filtro == "sin_leer" else "false", "pagina": pagina, "por_pagina": POR_PAGINA})
    if not answer.ok:
        abort(400)
    return render_template("equipo/avisos.html", page=answer.data, filtro=filtro, filtros=FILTROS, pagina=pagina)


@bp.post("/avisos/<notificacion_id>/lectura")
@requires(EQUIPO)
def leer_aviso(notificacion_id: str):
    volver = safe_next(request.form.get("volver"), url_for(".avisos"))
    answer = form_call("resolucion", "POST", f"/notificaciones/{segment(notificacion_id)}/lectura", json={})
    if answer.ok:
        flash("Aviso marcado como leído", "ok")
    elif answer.status == 404:
        flash("Ese aviso no existe, o no es suyo.", "error")
    else:
        flash(refusal(answer.problem), "error")
    return redirect(volver)
