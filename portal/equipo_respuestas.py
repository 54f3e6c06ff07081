"""The console's canned replies (``/equipo/respuestas``), for supervisors and
admins: write one, edit it, retire it. Agents send them from an incident's
comment and solution forms (``portal.equipo``); incidencias_resolucion fills
in ``{cliente}``, ``{titulo}`` and ``{agente}`` and keeps what was sent."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from .auth import EQUIPO, requires
from .equipo import GESTION, POR_PAGINA, bp
from .forms import FormErrors, field_errors, put_present, refusal, text_or_none, typed
from .pages import form_call, page_number, read, segment

CAMPOS_RESPUESTA = ("titulo", "texto", "categoria")


def _cuerpo() -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ("titulo", "texto"):
        put_present(body, name, request.form.get(name))
    body["categoria"] = text_or_none(request.form, "categoria")
    return body


@bp.get("/respuestas")
@requires(EQUIPO, GESTION)
def respuestas():
    page = read("resolucion", "/respuestas", incluir_retiradas="true", pagina=page_number(), por_pagina=POR_PAGINA)
    return render_template("equipo/respuestas.html", page=page)


@bp.route("/respuestas/nueva", methods=["GET", "POST"])
@requires(EQUIPO, GESTION)
def nueva_respuesta():
    if request.method == "GET":
        return render_template("equipo/respuesta.html", respuesta=None, valores={}, errores=FormErrors())
    answer = form_call("resolucion", "POST", "/respuestas", json=_cuerpo())
    if not answer.ok:
        return render_template("equipo/respuesta.html", respuesta=None, valores=typed(request.form, CAMPOS_RESPUESTA),
                               errores=field_errors(answer.problem, CAMPOS_RESPUESTA)), answer.status
    flash(f"Respuesta «{answer.data['titulo']}» guardada: los agentes ya pueden enviarla", "ok")
    return redirect(url_for(".respuestas"))


@bp.route("/respuestas/<respuesta_id>", methods=["GET", "POST"])
@requires(EQUIPO, GESTION)
def respuesta(respuesta_id: str):
    actual = read("resolucion", f"/respuestas/{segment(respuesta_id)}")
    if request.method == "GET":
        valores = {name: actual.get(name) or "" for name in CAMPOS_RESPUESTA}
        return render_template("equipo/respuesta.html", respuesta=actual, valores=valores, errores=FormErrors())
    answer = form_call("resolucion", "PATCH", f"/respuestas/{segment(actual['id'])}", json=_cuerpo())
    if not answer.ok:
        return render_template("equipo/respuesta.html", respuesta=actual, valores=typed(request.form, CAMPOS_RESPUESTA),
                               errores=field_errors(answer.problem, CAMPOS_RESPUESTA)), answer.status
    flash("Cambios guardados: lo ya enviado con ella no cambia", "ok")
    return redirect(url_for(".respuestas"))


@bp.post("/respuestas/<respuesta_id>/retirada")
@requires(EQUIPO, GESTION)
def retirar_respuesta(respuesta_id: str):
    answer = form_call("resolucion", "POST", f"/respuestas/{segment(respuesta_id)}/retirada", json={})
    if answer.ok:
        flash(f"Respuesta «{answer.data['titulo']}» retirada: ya no se ofrece a los agentes", "ok")
    else:
        flash(refusal(answer.problem), "error")
    return redirect(url_for(".respuestas"))
