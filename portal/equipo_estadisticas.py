"""The console's statistics (``/equipo/estadisticas``): what stands now (by
state, priority, open load, channel, the recent times) and the figures of
a period: how often the service levels were kept, what the customers said
in their ratings, and how long incidents waited on their customers; the
period's rows as CSV (``/equipo/estadisticas/informe.csv``, fetched from
resolucion with the employee's token and handed over as the download).

The period is two days typed in the form (``desde``, ``hasta``, both
included), read as whole days in UTC: the API gets 00:00 UTC of the first
and 00:00 UTC of the day after the last (its ``hasta`` is excluded). The
browser's own zone is never sent with a GET form, and UTC is the zone the
rest of the page's figures (the weeks by channel) are counted in. The
parsing and the tables are pure functions, tested without Flask."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from flask import Response, abort, redirect, render_template, request, url_for

from . import charts, display
from .auth import EQUIPO, call, requires
from .equipo import bp
from .forms import FormErrors, field_errors

CAMPOS_PERIODO = ("desde", "hasta")
FORMATOS_FECHA = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")
NO_ES_FECHA = "Escriba una fecha, como 01/12/2026."
ANTES_DE_DESDE = "Debe ser el mismo día que «Desde» o uno posterior."
SIN_DATOS = "—"


# -- the period ------------------------------------------------------------------------------
def day_of(texto: str | None) -> date | None:
    """A day typed in the form: "2026-12-01" (what a date input sends), or
    "01/12/2026"; None when blank. ValueError when it is no date."""
    text = (texto or "").strip()
    if not text:
        return None
    for formato in FORMATOS_FECHA:
        try:
            return datetime.strptime(text, formato).date()
        except ValueError:
            continue
    raise ValueError(text)


def _medianoche(dia: date) -> str:
    return f"{dia.isoformat()}T00:00:00Z"


def period_query(args: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str], FormErrors]:
    """The period the form asks for: the API's query (``desde``: 00:00 UTC
    of the first day; ``hasta``: 00:00 UTC of the day after the last), the
    values to show in the form again, and what is wrong with them (then the
    query is empty). Neither day given: the API's own default period."""
    errores = FormErrors()
    valores = {campo: str(args.get(campo) or "").strip()[:20] for campo in CAMPOS_PERIODO}
    dias: dict[str, date | None] = {}
    for campo in CAMPOS_PERIODO:
        try:
            dias[campo] = day_of(valores[campo])
        except ValueError:
            errores.add(campo, NO_ES_FECHA)
            dias[campo] = None
            continue
        if dias[campo] is not None:
            valores[campo] = dias[campo].isoformat()  # type: ignore[union-attr]
    desde, hasta = dias["desde"], dias["hasta"]
    if desde is not None and hasta is not None and hasta < desde:
        errores.add("hasta", ANTES_DE_DESDE)
    params: dict[str, str] = {}
    if desde is not None:
        params["desde"] = _medianoche(desde)
    if hasta is not None:
        try:
            params["hasta"] = _medianoche(hasta + timedelta(days=1))
        except OverflowError:
            errores.add("hasta", NO_ES_FECHA)
    return ({} if errores else params), valores, errores


def period_dates(periodo: Mapping[str, Any] | None) -> dict[str, str]:
    """The days the API's ``periodo`` covers, as the form's date inputs hold
    them (UTC): its last instant is excluded, so 00:00 of a day ends the day
    before."""
    dias: dict[str, str] = {}
    for campo in CAMPOS_PERIODO:
        instante = display.parse_instant((periodo or {}).get(campo))
        if instante is None:
            continue
        if campo == "hasta":
            instante -= timedelta(microseconds=1)
        dias[campo] = instante.astimezone(timezone.utc).date().isoformat()
    return dias


# -- the service levels kept -------------------------------------------------------------------
def _celda(fila: Mapping[str, Any]) -> dict[str, Any]:
    cumplidos, incumplidos = int(fila.get("cumplidos") or 0), int(fila.get("incumplidos") or 0)
    porcentaje = fila.get("porcentaje")
    return {"cumplidos": cumplidos, "incumplidos": incumplidos, "total": cumplidos + incumplidos,
            "porcentaje": porcentaje, "texto": display.percent(porcentaje), "barra": charts.meter(porcentaje)}


def _etiqueta(dimension: str, fila: Mapping[str, Any]) -> str:
    valor = str(fila.get("valor") or "")
    if dimension == "prioridad":
        return display.prioridad(valor)
    if dimension == "categoria":
        return display.categoria(valor)
    if dimension == "agente":
        return str(fila.get("nombre") or valor)
    return "Total"


def service_levels(filas: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The API's ``niveles_de_servicio`` rows as the page's tables: the
    total of each target, and a row per priority, category and agent with
    a cell for each target (None where it has no settled target). Priorities
    in their order; categories and agents by name, no category last."""
    total: dict[str, dict[str, Any]] = {}
    tablas: dict[str, dict[str, dict[str, Any]]] = {"prioridad": {}, "categoria": {}, "agente": {}}
    for fila in filas:
        dimension, objetivo = fila.get("dimension"), fila.get("objetivo")
        if objetivo not in display.OBJETIVOS:
            continue
        if dimension == "total":
            total[objetivo] = _celda(fila)
        elif dimension in tablas:
            valor = str(fila.get("valor") or "")
            linea = tablas[dimension].setdefault(valor, {
                "valor": valor, "nombre": _etiqueta(dimension, fila), "objetivos": dict.fromkeys(display.OBJETIVOS)})
            linea["objetivos"][objetivo] = _celda(fila)
    orden_prioridad = list(display.PRIORIDADES)
    return {
        "total": total,
        "prioridad": sorted(tablas["prioridad"].values(), key=lambda f: (
            orden_prioridad.index(f["valor"]) if f["valor"] in orden_prioridad else len(orden_prioridad), f["valor"])),
        "categoria": sorted(tablas["categoria"].values(), key=lambda f: (f["valor"] == "", f["nombre"].casefold())),
        "agente": sorted(tablas["agente"].values(), key=lambda f: (f["nombre"].casefold(), f["valor"])),
    }


# -- the customers' ratings --------------------------------------------------------------------
def satisfaction(satisfaccion: Mapping[str, Any] | None) -> dict[str, Any]:
    """The API's ``satisfaccion`` as the page shows it: the figures in
    words, the spread of the scores as a chart (5 on top) with each one's
    share, and the rows per agent and per category, by name."""
    sat = dict(satisfaccion or {})
    distribucion = {int(k): int(v or 0) for k, v in (sat.get("distribucion") or {}).items() if str(k).isdigit()}
    puntos = [(n, distribucion.get(n, 0)) for n in sorted(display.PUNTUACIONES, reverse=True)]
    valoraciones = int(sat.get("valoraciones") or 0)
    return {
        "valoraciones": valoraciones,
        "cerradas": int(sat.get("cerradas") or 0),
        "media": display.media(sat.get("media")),
        "tasa": display.percent(sat.get("tasa_respuesta")),
        "grafico": charts.horizontal_bars((str(n), display.puntuacion(n), cuantas) for n, cuantas in puntos),
        "reparto": [{"puntuacion": n, "nombre": display.puntuacion(n), "valoraciones": cuantas,
                     "parte": display.percent(round(100 * cuantas / valoraciones, 1) if valoraciones else None)}
                    for n, cuantas in puntos],
        "por_agente": sorted(({"id": a.get("id"), "nombre": a.get("nombre") or a.get("id") or "",
                               "valoraciones": int(a.get("valoraciones") or 0), "media": display.decimal(a.get("media"))}
                              for a in sat.get("por_agente") or ()), key=lambda a: (a["nombre"].casefold(), a["id"])),
        "por_categoria": sorted(({"categoria": c.get("categoria") or "", "nombre": display.categoria(c.get("categoria")),
                                  "valoraciones": int(c.get("valoraciones") or 0),
                                  "media": display.decimal(c.get("media"))}
                                 for c in sat.get("por_categoria") or ()),
                                key=lambda c: (c["categoria"] == "", c["nombre"].casefold())),
    }


# -- the pages ----------------------------------------------------------------------------------
def _periodo_pedido() -> dict[str, str]:
    """The period's fields as the page was asked for (to ask the CSV of the very same period)."""
    return {k: request.args[k].strip() for k in CAMPOS_PERIODO if (request.args.get(k) or "").strip()}


@bp.get("/estadisticas")
@requires(EQUIPO)
def estadisticas():
    params, valores, errores = period_query(request.args)
    answer = call("resolucion", "GET", "/estadisticas", params=params)
    if answer.status == 422 and params:  # what only resolucion tells: a period longer than it allows
        errores = field_errors(answer.problem, CAMPOS_PERIODO)
        answer = call("resolucion", "GET", "/estadisticas")
    if not answer.ok:
        abort(400)
    datos = answer.data
    if not errores:
        valores = {**period_dates(datos.get("periodo")), **{k: v for k, v in valores.items() if v}}
    por_estado = charts.horizontal_bars(
        (e, display.estado(e), datos["por_estado"].get(e, 0)) for e in display.ESTADOS)
    por_prioridad = charts.horizontal_bars(
        (p, display.prioridad(p), datos["por_prioridad"].get(p, 0)) for p in display.PRIORIDADES)
    carga = sorted(datos.get("carga_por_empleado") or [], key=lambda e: (-e.get("abiertas", 0), e.get("nombre", "")))
    por_empleado = charts.horizontal_bars(
        (e["id"], e.get("nombre") or e["id"], e.get("abiertas", 0)) for e in carga)
    return render_template(
        "equipo/estadisticas.html", datos=datos, por_estado=por_estado, por_prioridad=por_prioridad,
        por_empleado=por_empleado, carga=carga,
        canales=[display.week_by_channel(s) for s in datos.get("por_canal_y_semana") or []],
        valores=valores, errores=errores, periodo=datos.get("periodo") or {}, csv=_periodo_pedido(),
        niveles=service_levels(datos.get("niveles_de_servicio") or []),
        satisfaccion=satisfaction(datos.get("satisfaccion")), espera=datos.get("espera_cliente") or {},
    ), 400 if errores else 200


@bp.get("/estadisticas/informe.csv")
@requires(EQUIPO)
def informe_csv():
    """The period's rows as resolucion writes them, as a download under its
    own file name; a period it cannot take goes back to the page saying why."""
    params, _valores, errores = period_query(request.args)
    if errores:
        return redirect(url_for(".estadisticas", **_periodo_pedido()))
    answer = call("resolucion", "GET", "/estadisticas/informe.csv", params=params)
    if answer.status == 422:
        return redirect(url_for(".estadisticas", **_periodo_pedido()))
    if not answer.ok:
        abort(400)
    return Response(answer.content, content_type=answer.headers.get("Content-Type") or "text/csv; charset=utf-8",
                    headers={"Content-Disposition": answer.headers.get("Content-Disposition")
                             or 'attachment; filename="informe.csv"'})
