"""The console's service levels (``/equipo/sla``): every employee reads the
policy (the targets of each priority and category in business time, and
the calendar they count in); admins change it.

The form speaks hours (decimals allowed: 1,5 is 90 minutes) where the API
speaks minutes, and a line of dates where it takes a list; what it cannot
turn into the API's body is said next to its field without asking the API,
and what the API refuses comes back next to the field it names (its paths,
``por_prioridad.alta.value.primera_respuesta_minutos``, mapped to the
form's). The parsing is pure, so it is tested without Flask."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from flask import current_app, flash, redirect, render_template, request, url_for

from cuentas.roles import ADMIN as ROL_ADMIN

from . import auth, display
from .api import Problem
from .auth import EQUIPO, requires
from .equipo import ADMIN, bp
from .forms import FormErrors, field_errors, spanish
from .pages import form_call, read

OBJETIVOS = tuple(display.OBJETIVOS)  # primera_respuesta, resolucion
CAMPOS_CALENDARIO = ("calendario.zona", "calendario.dias", "calendario.desde", "calendario.hasta", "calendario.pais",
                     "calendario.region", "calendario.cierres")
NUEVA = "nueva"
"""The prefix of the row that adds a category's own targets; ``nueva_categoria`` names it."""
NUEVA_CATEGORIA = "nueva_categoria"
CATEGORIAS = "por_categoria"
"""Hidden fields: the categories whose own targets the form holds."""

UN_DIA = "Marque al menos un día laborable."
LOS_DOS = ("Ponga también este plazo, o deje los dos en blanco: sin plazos, la prioridad no tiene nivel de "
           "servicio.")
NO_ES_HORAS = "Escriba las horas con un número, como 2 o 1,5 (o 1:30)."
FUERA_DE_RANGO = f"Debe estar entre 1 minuto y {display.MAX_HORAS} horas."
SIN_CATEGORIA = "Elija la categoría de estos plazos."
SIN_PLAZOS = "Ponga los plazos de al menos una prioridad para esta categoría."
YA_ESTA = "Esa categoría ya tiene sus plazos en el formulario: cámbielos allí."
_HORA = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")
_HORAS_Y_MINUTOS = re.compile(r"^(\d+):([0-5]\d)$")
_FORMATOS_FECHA = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")


# -- the form's fields ---------------------------------------------------------------------
def campo_horas(prefijo: str, prioridad: str, objetivo: str) -> str:
    """The form's field of one target: ``por_prioridad.alta.primera_respuesta_horas``."""
    return f"{prefijo}.{prioridad}.{objetivo}_horas"


def prefijo_de(categoria: str) -> str:
    return f"{CATEGORIAS}.{categoria}"


def campos(categorias: Iterable[str]) -> tuple[str, ...]:
    """Every field of the form holding these categories' own targets (and the row for a new one)."""
    prefijos = ["por_prioridad", *(prefijo_de(c) for c in categorias), NUEVA]
    return (*CAMPOS_CALENDARIO, NUEVA_CATEGORIA,
            *(campo_horas(p, prioridad, o) for p in prefijos for prioridad in display.PRIORIDADES for o in OBJETIVOS))


def categorias_del_formulario(form: Any) -> list[str]:
    """The categories whose targets the form sent, once each, in order."""
    return list(dict.fromkeys(c for c in (form.getlist(CATEGORIAS) if hasattr(form, "getlist") else []) if c))


# -- from the form to the API -------------------------------------------------------------
def minutes_of_hours(texto: str | None) -> int | None:
    """What was typed in an hours field, in whole minutes: "1,5" and "1.5"
    → 90, "1:30" → 90, "2" → 120; blank → None. ValueError when it is no
    number of hours (the range is the API's to say)."""
    text = (texto or "").strip().replace(" ", "")
    if not text:
        return None
    horas_y_minutos = _HORAS_Y_MINUTOS.match(text)
    if horas_y_minutos:
        return int(horas_y_minutos.group(1)) * 60 + int(horas_y_minutos.group(2))
    try:
        horas = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise ValueError(text) from None
    if not horas.is_finite():
        raise ValueError(text)
    return int((horas * 60).to_integral_value())


def closing_days(texto: str | None) -> tuple[list[str], list[str]]:
    """The closing days typed one a line (or separated by commas): their ISO
    dates, sorted, once each; and what could not be read as a date.
    "24/12/2026" and "2026-12-24" are the same day."""
    fechas: set[str] = set()
    malas: list[str] = []
    for parte in re.split(r"[\n,;]+", texto or ""):
        parte = parte.strip()
        if not parte:
            continue
        for formato in _FORMATOS_FECHA:
            try:
                fechas.add(datetime.strptime(parte, formato).date().isoformat())
                break
            except ValueError:
                continue
        else:
            malas.append(parte)
    return sorted(fechas), malas


def _hora(texto: str | None) -> str | None:
    """A time as the API writes it: "9:00" → "09:00" (seconds dropped); what is no time, as typed."""
    text = (texto or "").strip()
    match = _HORA.match(text)
    return f"{int(match.group(1)):02d}:{match.group(2)}" if match else (text or None)


def _objetivos(form: Mapping[str, Any], prefijo: str, prioridad: str,
               errores: FormErrors) -> dict[str, int] | None:
    """A priority's two targets in minutes; None when both are blank (or wrong: said in ``errores``)."""
    minutos: dict[str, int | None] = {}
    wrong = False
    for objetivo in OBJETIVOS:
        nombre = campo_horas(prefijo, prioridad, objetivo)
        try:
            minutos[objetivo] = minutes_of_hours(form.get(nombre))
        except ValueError:
            errores.add(nombre, NO_ES_HORAS)
            minutos[objetivo], wrong = None, True
    if all(v is None for v in minutos.values()):
        return None
    for objetivo, valor in minutos.items():
        if valor is None and not wrong:
            errores.add(campo_horas(prefijo, prioridad, objetivo), LOS_DOS)
            wrong = True
    if wrong:
        return None
    return {f"{objetivo}_minutos": valor for objetivo, valor in minutos.items()}


def _por_prioridad(form: Mapping[str, Any], prefijo: str, errores: FormErrors) -> dict[str, dict[str, int]]:
    found = {}
    for prioridad in display.PRIORIDADES:
        objetivos = _objetivos(form, prefijo, prioridad, errores)
        if objetivos is not None:
            found[prioridad] = objetivos
    return found


def _texto(form: Mapping[str, Any], nombre: str) -> str | None:
    return str(form.get(nombre) or "").strip() or None


def policy_from_form(form: Any) -> tuple[dict[str, Any], FormErrors]:
    """The body of ``PUT /sla`` from the form, and what the form itself
    can tell is wrong (then the API is not asked). A category whose fields
    are all blank is left out: it has no targets of its own any more."""
    errores = FormErrors()
    calendario: dict[str, Any] = {}
    for campo in ("zona", "desde", "hasta"):
        valor = _texto(form, f"calendario.{campo}")
        if valor is not None:
            calendario[campo] = _hora(valor) if campo != "zona" else valor
    dias = sorted({int(d) for d in form.getlist("calendario.dias") if str(d).isdigit() and 0 <= int(d) <= 6})
    if not dias:
        errores.add("calendario.dias", UN_DIA)
    calendario["dias"] = dias
    for campo in ("pais", "region"):
        valor = _texto(form, f"calendario.{campo}")
        calendario[campo] = valor.upper() if valor else None
    cierres, malas = closing_days(form.get("calendario.cierres"))
    if malas:
        errores.add("calendario.cierres", ("No es una fecha: " if len(malas) == 1 else "No son fechas: ")
                    + ", ".join(f"«{m}»" for m in malas[:5])
                    + ". Escriba una por línea, como 24/12/2026.")
    calendario["cierres"] = cierres

    por_categoria: dict[str, dict[str, dict[str, int]]] = {}
    for categoria in categorias_del_formulario(form):
        propios = _por_prioridad(form, prefijo_de(categoria), errores)
        if propios:
            por_categoria[categoria] = propios
    nueva = _texto(form, NUEVA_CATEGORIA)
    propios = _por_prioridad(form, NUEVA, errores)
    nueva_con_errores = any(k.startswith(f"{NUEVA}.") for k in errores.campos)
    if nueva and nueva in categorias_del_formulario(form):
        errores.add(NUEVA_CATEGORIA, YA_ESTA)
    elif nueva and propios:
        por_categoria[nueva] = propios
    elif nueva and not nueva_con_errores:
        errores.add(NUEVA_CATEGORIA, SIN_PLAZOS)
    elif propios and not nueva:
        errores.add(NUEVA_CATEGORIA, SIN_CATEGORIA)
    body = {"calendario": calendario, "por_prioridad": _por_prioridad(form, "por_prioridad", errores),
            "por_categoria": por_categoria}
    return body, errores


# -- from the API to the form ---------------------------------------------------------------
def form_of_policy(politica: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values for the policy as the API answers it."""
    calendario = politica.get("calendario") or {}
    valores: dict[str, Any] = {
        "calendario.zona": calendario.get("zona") or "",
        "calendario.dias": [str(d) for d in calendario.get("dias") or ()],
        "calendario.desde": calendario.get("desde") or "",
        "calendario.hasta": calendario.get("hasta") or "",
        "calendario.pais": calendario.get("pais") or "",
        "calendario.region": calendario.get("region") or "",
        "calendario.cierres": "\n".join(display.day(d) for d in calendario.get("cierres") or ()),
    }

    def put(prefijo: str, por_prioridad: Mapping[str, Any]) -> None:
        for prioridad, objetivos in (por_prioridad or {}).items():
            for objetivo in OBJETIVOS:
                valores[campo_horas(prefijo, prioridad, objetivo)] = display.hours_field(
                    (objetivos or {}).get(f"{objetivo}_minutos"))

    put("por_prioridad", politica.get("por_prioridad") or {})
    for categoria, por_prioridad in (politica.get("por_categoria") or {}).items():
        put(prefijo_de(categoria), por_prioridad)
    return valores


def typed_form(form: Any, categorias: Iterable[str]) -> dict[str, Any]:
    """What was typed, to show the form again (the weekdays ticked as a list)."""
    valores: dict[str, Any] = {name: str(form.get(name, "") or "") for name in campos(categorias)}
    valores["calendario.dias"] = [str(d) for d in form.getlist("calendario.dias")]
    return valores


_RUTA_OBJETIVO = re.compile(
    r"^(?P<prefijo>por_prioridad|por_categoria\.(?P<categoria>.+))\.(?P<prioridad>[^.]+)\.(?P<objetivo>"
    + "|".join(OBJETIVOS) + r")_minutos$")
_RANGO = re.compile(r"^(Must be (greater|less) than|De 1 a \d+ minutos)")


def _campo_del_formulario(campo: str, nueva: str | None) -> tuple[str, bool]:
    """The form's field for the API's path, and whether it is a field of minutes."""
    campo = re.sub(r"\.value(?=\.|$)", "", campo)  # a Dict's values: marshmallow's path, not a key of ours
    if nueva and campo == f"{prefijo_de(nueva)}.key":
        return NUEVA_CATEGORIA, False
    match = _RUTA_OBJETIVO.match(campo)
    if not match:
        return campo, False
    prefijo = NUEVA if nueva is not None and match.group("categoria") == nueva else match.group("prefijo")
    return campo_horas(prefijo, match.group("prioridad"), match.group("objetivo")), True


def policy_errors(problem: Problem, categorias: Iterable[str], nueva: str | None) -> FormErrors:
    """The API's refusal of ``PUT /sla`` next to the form's fields: targets
    in hours, the new category's row as the form has it."""
    errores = []
    for error in problem.errores:
        campo, de_minutos = _campo_del_formulario(str(error.get("campo") or ""), nueva)
        mensaje = str(error.get("mensaje") or "")
        if de_minutos and _RANGO.match(mensaje):
            mensaje = FUERA_DE_RANGO
        errores.append({**error, "campo": campo, "mensaje": spanish(mensaje)})
    rewritten = Problem(status=problem.status, title=problem.title, detail=problem.detail, errores=errores,
                        extra=problem.extra, type=problem.type)
    return field_errors(rewritten, campos(categorias))


# -- the page ---------------------------------------------------------------------------------
def _pagina(politica: dict, valores: dict, categorias_sla: list[str], errores: FormErrors, status: int = 200):
    es_admin = auth.persona().rol == ROL_ADMIN
    todas = list(current_app.extensions["portal"].settings.categorias)
    libres = [c for c in todas if c not in categorias_sla]
    nueva = valores.get(NUEVA_CATEGORIA)
    if nueva and nueva not in libres:
        libres.append(nueva)
    return render_template("equipo/sla.html", politica=politica, valores=valores, errores=errores,
                           es_admin=es_admin, categorias_sla=categorias_sla, categorias_libres=libres,
                           dias=list(enumerate(display.DIAS)), prefijo_de=prefijo_de, campo_horas=campo_horas,
                           nueva=NUEVA), status


@bp.get("/sla")
@requires(EQUIPO)
def sla():
    politica = read("resolucion", "/sla")
    return _pagina(politica, form_of_policy(politica), list(politica.get("por_categoria") or {}), FormErrors())


@bp.post("/sla")
@requires(EQUIPO, ADMIN)
def guardar_sla():
    categorias = categorias_del_formulario(request.form)
    body, errores = policy_from_form(request.form)
    if not errores:
        answer = form_call("resolucion", "PUT", "/sla", json=body)
        if answer.ok:
            flash("Niveles de servicio guardados: valen para las incidencias que se abran (o cambien de prioridad) "
                  "desde ahora; las demás siguen con los plazos que tenían.", "ok")
            return redirect(url_for(".sla"))
        errores = policy_errors(answer.problem, categorias, _texto(request.form, NUEVA_CATEGORIA))
        status = answer.status
    else:
        status = 422
    return _pagina(read("resolucion", "/sla"), typed_form(request.form, categorias), categorias, errores, status)
