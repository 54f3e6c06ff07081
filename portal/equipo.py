"""The support team's console (``/equipo/``): the queues, an incident's
page with its actions and, for admins, the employees (the statistics are
``equipo_estadisticas``'s, the warnings ``equipo_avisos``').

Only the actions the person may do are offered (the same rules the
services enforce: agents take waiting incidents and act on their own;
supervisors and admins act on any and assign to any active employee); an
action refused anyway shows the service's 403 or 409 plainly."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from cuentas.roles import ADMIN as ROL_ADMIN
from cuentas.roles import ROLES_GESTION

from . import auth, display
from .auth import EQUIPO, anonymous_call, call, requires
from .cliente import login_errors
from .forms import FormErrors, field_errors, put_present, refusal, safe_next, spanish, text_or_none, typed
from .pages import (
    form_call, incident_action, live_incident, live_list, page_number, read, search_text, searched_list, segment,
)

bp = Blueprint("equipo", __name__)
POR_PAGINA = 20
GESTION = ROLES_GESTION
ADMIN = (ROL_ADMIN,)
VISTAS = {"mias": "Mis incidencias", "sin_asignar": "Sin asignar", "todas": "Todas"}
CAMPOS_EMPLEADO = ("nombre", "apellidos", "email", "password", "rol", "categorias")
CAMPOS_EDICION = ("rol", "categorias")


def _gestiona() -> bool:
    return auth.persona().rol in GESTION


def _cola():
    return redirect(url_for(".incidencias", vista="mias"))


def _sesion_de_equipo() -> bool:
    persona = auth.current()
    return persona is not None and persona.area == EQUIPO and not persona.caducada


# -- signing in and out ----------------------------------------------------------------------
def _entrar_form(valores: dict, errores: FormErrors, status: int = 200):
    siguiente = safe_next(request.values.get("siguiente"), "")
    return render_template("equipo/entrar.html", valores=valores, errores=errores, siguiente=siguiente), status


def abrir_sesion(token: str, expires_in: int) -> None:
    """A console session for the employee the login ``token`` is of."""
    me = auth.api().call("empleados", "GET", "/empleados/yo", token=token)
    if not me.ok:
        abort(502)
    auth.sign_in(EQUIPO, token, expires_in, me.data)


@bp.route("/entrar", methods=["GET", "POST"])
def entrar():
    if request.method == "GET":
        if _sesion_de_equipo():
            return _cola()
        return _entrar_form({}, FormErrors())
    body: dict[str, Any] = {}
    put_present(body, "email", request.form.get("email"))
    put_present(body, "password", request.form.get("password"))
    answer = anonymous_call("empleados", "POST", "/empleados/login", json=body)
    if not answer.ok:
        return _entrar_form(typed(request.form, ("email",)), login_errors(answer),
                            answer.status)
    abrir_sesion(answer.data["access_token"], answer.data.get("expires_in", 3600))
    return redirect(safe_next(request.form.get("siguiente"), url_for(".incidencias", vista="mias")))


@bp.post("/salir")
def salir():
    auth.sign_out()
    flash("Ha salido de la consola.", "ok")
    return redirect(url_for(".entrar"))


@bp.get("/")
@requires(EQUIPO)
def inicio():
    return _cola()


# -- the queues ----------------------------------------------------------------------------------
def _empleados_activos() -> list[dict]:
    """Every active employee (supervisors and admins may list them), by name."""
    found: list[dict] = []
    for pagina in range(1, 11):
        answer = call("empleados", "GET", "/empleados", params={"activo": "true", "pagina": pagina,
                                                                 "por_pagina": 100})
        if not answer.ok:
            break
        found.extend(answer.data["elementos"])
        if pagina >= answer.data.get("paginas", 1):
            break
    for e in found:
        e["nombre_completo"] = f"{e.get('nombre', '')} {e.get('apellidos', '')}".strip()
    return sorted(found, key=lambda e: e["nombre_completo"].lower())


def _filtros() -> dict[str, Any]:
    args = request.args
    vista = args.get("vista") if args.get("vista") in VISTAS else "mias"
    filtros = {
        "vista": vista,
        "estado": args.get("estado") if args.get("estado") in display.ESTADOS else "",
        "prioridad": args.get("prioridad") if args.get("prioridad") in display.PRIORIDADES else "",
        "categoria": (args.get("categoria") or "").strip()[:50],
        "asignada_a": (args.get("asignada_a") or "").strip()[:64] if _gestiona() and vista == "todas" else "",
        "etiqueta": (args.get("etiqueta") or "").strip()[:100],
        "sla": args.get("sla") if args.get("sla") in display.SLA_FILTROS else "",
        "q": search_text(),
        "pagina": page_number(),
    }
    # A search comes best match first unless another order is asked for;
    # relevance means nothing without one.
    ordenes = display.ordenes(bool(filtros["q"]))
    filtros["orden"] = args.get("orden") if args.get("orden") in ordenes else next(iter(ordenes))
    return filtros


def _buscar(filtros: dict[str, Any]) -> tuple[dict, FormErrors]:
    params: dict[str, Any] = {k: filtros[k] for k in ("estado", "prioridad", "categoria", "sla", "orden", "pagina",
                                                      "q")}
    params["por_pagina"] = POR_PAGINA
    if filtros["vista"] == "mias":
        params["asignada_a"] = "yo"
    elif filtros["vista"] == "sin_asignar":
        params["sin_asignar"] = "true"
    elif filtros["asignada_a"]:
        params["asignada_a"] = filtros["asignada_a"]
    if filtros["etiqueta"]:
        params["etiqueta"] = filtros["etiqueta"]
    return searched_list("resolucion", params)


@bp.get("/incidencias")
@requires(EQUIPO)
def incidencias():
    filtros = _filtros()
    page, errores = _buscar(filtros)
    empleados = _empleados_activos() if _gestiona() else []
    return render_template("equipo/incidencias.html", page=page, filtros=filtros, vistas=VISTAS, errores=errores,
                           empleados=empleados, gestiona=_gestiona(),
                           etiquetas=_etiquetas_en_uso()), 400 if errores else 200


def _etiquetas_en_uso() -> list[dict]:
    """The tags some incident carries, for the queue's filter (none offered when resolucion cannot say)."""
    answer = call("resolucion", "GET", "/etiquetas")
    return answer.data["etiquetas"] if answer.ok else []


@bp.post("/incidencias/lote")
@requires(EQUIPO, GESTION)
def lote():
    """The queue's bulk form: one change on the incidents ticked, each
    applied or refused on its own; the queue again, saying which."""
    volver = safe_next(request.form.get("volver"), url_for(".incidencias", vista="todas"))
    accion = request.form.get("accion") or ""
    body: dict[str, Any] = {"incidencias": request.form.getlist("incidencias"), "accion": accion}
    campo = {"asignar": "empleado_id", "prioridad": "prioridad", "categoria": "categoria",
             "etiqueta": "etiqueta"}.get(accion)
    if campo:
        body[campo] = text_or_none(request.form, campo)
    answer = form_call("resolucion", "POST", "/incidencias/lote", json=body)
    if not answer.ok:
        if answer.problem is not None and answer.problem.errores:
            flash("No se ha cambiado nada: " + "; ".join(spanish(e["mensaje"]) for e in answer.problem.errores),
                  "error")
        else:
            flash(refusal(answer.problem), "error")
        return redirect(volver)
    resultados = answer.data["resultados"]
    hechas = [r for r in resultados if r["aplicada"]]
    flash(f"Aplicado a {len(hechas)} de {len(resultados)}.", "ok")
    for r in resultados:
        if not r["aplicada"]:
            flash(f"No se pudo en {r['incidencia_id'][:8]}: {r['problema']['detail']}", "error")
    return redirect(volver)


@bp.get("/incidencias/estado.json")
@requires(EQUIPO)
def incidencias_estado():
    page, _ = _buscar(_filtros())
    return live_list(page)


# -- one incident -----------------------------------------------------------------------------------
def _incidencia(incidencia_id: str) -> dict:
    return read("resolucion", f"/incidencias/{segment(incidencia_id)}")


def acciones(incidencia: dict, empleado_id: str, rol: str) -> dict[str, bool]:
    """What the employee may do to the incident now (the services' rules).
    One waiting on its customer (``esperando_cliente``) is apertura's until
    they answer: staff may comment on it and tag it, nothing else."""
    estado = incidencia["estado"]
    asignada = incidencia.get("asignada_a") or {}
    suya = asignada.get("id") == empleado_id
    gestiona = rol in GESTION
    puede = suya or gestiona
    return {
        "tomar": estado in display.EN_ESPERA
        or (gestiona and estado in display.ASIGNABLES and not (suya and estado in ("asignada", "en_curso"))),
        "asignar": gestiona and estado in display.ASIGNABLES,
        "empezar": puede and estado == "asignada",
        "resolver": puede and estado in ("asignada", "en_curso"),
        "consultar": puede and estado in display.CONSULTABLES,
        "comentar": puede and estado not in display.FINALES,
        "editar": puede and estado in display.EDITABLES,
        "fusionar": gestiona and estado in display.FUSIONABLES,
        "etiquetar": puede,
        "suya": suya,
    }


def _pagina_incidencia(incidencia: dict, formulario: str | None = None, valores: dict | None = None,
                       errores: FormErrors | None = None, status: int = 200):
    persona = auth.persona()
    permitido = acciones(incidencia, persona.id, persona.rol)
    empleados = _empleados_activos() if permitido["asignar"] else []
    respuestas = _respuestas_ofrecidas() if permitido["comentar"] or permitido["resolver"] else []
    hermanas = _otras_del_cliente(incidencia) if permitido["fusionar"] else []
    categorias = list(current_app.extensions["portal"].settings.categorias)
    if incidencia.get("categoria") and incidencia["categoria"] not in categorias:
        categorias.append(incidencia["categoria"])
    return render_template(
        "equipo/incidencia.html", incidencia=incidencia, historial=display.timeline(incidencia["historial"]),
        acciones=permitido, empleados=empleados, respuestas=respuestas, categorias_incidencia=categorias,
        hermanas=hermanas, pregunta=display.pending_question(incidencia),
        formulario=formulario,
        valores=valores or {}, errores=errores or FormErrors(), final=incidencia["estado"] in display.FINALES,
    ), status


def _otras_del_cliente(incidencia: dict) -> list[dict]:
    """The customer's other incidents this one could be merged into (the
    states a merge reaches), newest first: the ones a duplicate repeats."""
    answer = call("resolucion", "GET", "/incidencias", params={
        "cliente_id": incidencia["cliente"]["id"], "orden": "recientes", "por_pagina": 50})
    if not answer.ok:
        return []
    return [i for i in answer.data["elementos"] if i["id"] != incidencia["id"] and i["estado"] in display.FUSIONABLES]


@bp.post("/incidencias/<incidencia_id>/fusion")
@requires(EQUIPO, GESTION)
def fusionar(incidencia_id: str):
    """Merge this incident into another of the same customer: that one's page, saying so."""
    destino_id = text_or_none(request.form, "destino_id")
    return _accion(incidencia_id, "fusion", "POST", "/fusion", {"destino_id": destino_id} if destino_id else {},
                   ("destino_id",), lambda fusionada: f"«{fusionada['titulo']}» se ha unido a esta incidencia",
                   siguiente=lambda fusionada: fusionada["fusionada_en"])


def _respuestas_ofrecidas() -> list[dict]:
    """The canned replies an agent may send, by title (none shown when resolucion cannot say)."""
    answer = call("resolucion", "GET", "/respuestas", params={"por_pagina": 100})
    return answer.data["elementos"] if answer.ok else []


def _texto_o_respuesta(body: dict[str, Any]) -> None:
    """The form's own text, or the canned reply chosen instead (the service refuses both at once)."""
    put_present(body, "texto", request.form.get("texto"))
    respuesta_id = text_or_none(request.form, "respuesta_id")
    if respuesta_id:
        body["respuesta_id"] = respuesta_id


@bp.get("/incidencias/<incidencia_id>")
@requires(EQUIPO)
def incidencia(incidencia_id: str):
    return _pagina_incidencia(_incidencia(incidencia_id))


@bp.get("/incidencias/<incidencia_id>/estado.json")
@requires(EQUIPO)
def incidencia_estado(incidencia_id: str):
    return live_incident(_incidencia(incidencia_id))


def _accion(incidencia_id: str, formulario: str, method: str, path: str, body: dict, fields: tuple[str, ...],
            hecho: str | Callable[[dict], str], siguiente: Callable[[dict], str] | None = None):
    return incident_action("resolucion", method, incidencia_id, path, body, fields, hecho,
                           lambda incidencia, valores, errores, status:
                           _pagina_incidencia(incidencia, formulario, valores, errores, status), siguiente)


@bp.post("/incidencias/<incidencia_id>/asignacion")
@requires(EQUIPO)
def asignar(incidencia_id: str):
    empleado_id = text_or_none(request.form, "empleado_id")
    body = {"empleado_id": empleado_id} if empleado_id else {}
    hecho = "Incidencia asignada" if empleado_id and empleado_id != auth.persona().id else \
        "Ha tomado la incidencia"
    return _accion(incidencia_id, "asignacion", "POST", "/asignacion", body, ("empleado_id",), hecho)


@bp.post("/incidencias/<incidencia_id>/inicio")
@requires(EQUIPO)
def empezar(incidencia_id: str):
    return _accion(incidencia_id, "inicio", "POST", "/inicio", {}, (), "Ha empezado a trabajar en la incidencia")


@bp.post("/incidencias/<incidencia_id>/resolucion")
@requires(EQUIPO)
def resolver(incidencia_id: str):
    body: dict[str, Any] = {}
    _texto_o_respuesta(body)
    return _accion(incidencia_id, "resolucion", "POST", "/resolucion", body, ("texto", "respuesta_id"),
                   "Solución propuesta al cliente")


@bp.post("/incidencias/<incidencia_id>/consulta")
@requires(EQUIPO)
def consultar(incidencia_id: str):
    """Ask the customer something: the incident waits on their answer, its clock stopped."""
    body: dict[str, Any] = {}
    put_present(body, "pregunta", request.form.get("pregunta"))
    return _accion(incidencia_id, "consulta", "POST", "/consulta", body, ("pregunta",),
                   "Pregunta enviada: la incidencia espera la respuesta del cliente")


@bp.post("/incidencias/<incidencia_id>/comentarios")
@requires(EQUIPO)
def comentar(incidencia_id: str):
    interna = request.form.get("interna") == "si"
    body: dict[str, Any] = {"interna": interna}
    _texto_o_respuesta(body)
    return _accion(incidencia_id, "comentario", "POST", "/comentarios", body, ("texto", "respuesta_id", "interna"),
                   "Nota interna añadida" if interna else "Comentario añadido")


@bp.post("/incidencias/<incidencia_id>/etiquetas")
@requires(EQUIPO)
def etiquetar(incidencia_id: str):
    texto = (request.form.get("etiqueta") or "").strip()
    problema = "Este campo es obligatorio." if not texto else "Una etiqueta no lleva «/»." if "/" in texto else None
    if problema:  # nothing that could travel as the tag in the API's path
        return _pagina_incidencia(_incidencia(incidencia_id), "etiqueta", {"etiqueta": texto[:100]},
                                  FormErrors(campos={"etiqueta": problema}), 422)
    return _accion(incidencia_id, "etiqueta", "PUT", f"/etiquetas/{segment(texto)}", None, ("etiqueta",),
                   "Etiqueta añadida")


@bp.post("/incidencias/<incidencia_id>/etiquetas/<etiqueta>/retirada")
@requires(EQUIPO)
def quitar_etiqueta(incidencia_id: str, etiqueta: str):
    return _accion(incidencia_id, "etiqueta", "DELETE", f"/etiquetas/{segment(etiqueta)}", None, (),
                   "Etiqueta quitada")


@bp.post("/incidencias/<incidencia_id>/datos")
@requires(EQUIPO)
def cambiar_datos(incidencia_id: str):
    body: dict[str, Any] = {"categoria": text_or_none(request.form, "categoria")}
    if request.form.get("prioridad") in display.PRIORIDADES:
        body["prioridad"] = request.form["prioridad"]
    return _accion(incidencia_id, "datos", "PATCH", "", body, ("prioridad", "categoria"), "Cambios guardados")


# -- employees (admins) -------------------------------------------------------------------------------
def _categorias_lista(texto: str | None) -> list[str]:
    """"envios, devoluciones" → ["envios", "devoluciones"] (the service normalises them)."""
    return [c.strip() for c in (texto or "").split(",") if c.strip()]


@bp.get("/empleados")
@requires(EQUIPO, ADMIN)
def empleados():
    pagina = page_number()
    answer = call("empleados", "GET", "/empleados", params={"pagina": pagina, "por_pagina": POR_PAGINA})
    if not answer.ok:
        abort(400)
    return render_template("equipo/empleados.html", page=answer.data, pagina=pagina)


@bp.route("/empleados/nuevo", methods=["GET", "POST"])
@requires(EQUIPO, ADMIN)
def nuevo_empleado():
    if request.method == "GET":
        return render_template("equipo/empleado_nuevo.html", valores={"rol": "agente"}, errores=FormErrors())
    body: dict[str, Any] = {}
    for name in ("nombre", "apellidos", "email", "password", "rol"):
        put_present(body, name, request.form.get(name))
    body["categorias"] = _categorias_lista(request.form.get("categorias"))
    answer = form_call("empleados", "POST", "/empleados", json=body)
    if not answer.ok:
        return render_template("equipo/empleado_nuevo.html",
                               valores=typed(request.form, ("nombre", "apellidos", "email", "rol", "categorias")),
                               errores=field_errors(answer.problem, CAMPOS_EMPLEADO)), answer.status
    nombre = f"{answer.data.get('nombre', '')} {answer.data.get('apellidos', '')}".strip()
    if answer.data.get("invitacion_pendiente"):
        flash(f"Hemos enviado una invitación a {answer.data.get('email')}: {nombre} podrá entrar cuando elija su "
              "contraseña (el enlace vale 72 horas).", "ok")
    else:
        flash(f"{nombre} ya forma parte del equipo", "ok")
    return redirect(url_for(".empleados"))


def _empleado(empleado_id: str) -> dict:
    return read("empleados", f"/empleados/{segment(empleado_id)}")


def _pagina_empleado(empleado: dict, formulario: str | None = None, valores: dict | None = None,
                     errores: FormErrors | None = None, status: int = 200):
    valores = valores if valores is not None else {
        "rol": empleado.get("rol"), "categorias": ", ".join(empleado.get("categorias") or [])}
    return render_template("equipo/empleado.html", empleado=empleado, formulario=formulario, valores=valores,
                           errores=errores or FormErrors()), status


@bp.route("/empleados/<empleado_id>", methods=["GET", "POST"])
@requires(EQUIPO, ADMIN)
def empleado(empleado_id: str):
    if request.method == "GET":
        return _pagina_empleado(_empleado(empleado_id))
    body: dict[str, Any] = {"categorias": _categorias_lista(request.form.get("categorias"))}
    put_present(body, "rol", request.form.get("rol"))
    answer = call("empleados", "PATCH", f"/empleados/{segment(empleado_id)}", json=body)
    if not answer.ok:
        if answer.status == 404:
            abort(404)
        return _pagina_empleado(_empleado(empleado_id), "edicion", typed(request.form, CAMPOS_EDICION),
                                field_errors(answer.problem, CAMPOS_EDICION), answer.status)
    flash("Cambios guardados", "ok")
    return redirect(url_for(".empleado", empleado_id=empleado_id))


@bp.post("/empleados/<empleado_id>/baja")
@requires(EQUIPO, ADMIN)
def baja_empleado(empleado_id: str):
    if request.form.get("confirmacion") != "si":
        errores = FormErrors(campos={"confirmacion": "Marque la casilla para confirmar la baja."})
        return _pagina_empleado(_empleado(empleado_id), "baja", None, errores, 422)
    answer = form_call("empleados", "POST", f"/empleados/{segment(empleado_id)}/baja", json={})
    if not answer.ok:
        if answer.status == 404:
            abort(404)
        return _pagina_empleado(_empleado(empleado_id), "baja", None, field_errors(answer.problem, ()),
                                answer.status)
    flash("Empleado dado de baja: ya no puede entrar y sus incidencias se reparten", "ok")
    return redirect(url_for(".empleado", empleado_id=empleado_id))
