"""The figures of a period for /estadisticas: how often the service levels
were kept (per target, and by priority, category and agent), what the
customers said of it (their ratings), and how long incidents waited on
customers; and the same rows as CSV. Pure functions of the incidents opened
in the period (``IncidenciaRepository.opened_in``) and the time of the
report: no Flask, no storage."""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

from incidencias_dominio import OBJETIVOS, PUNTUACIONES, EstadoSla, Estado, Incidencia, seguimiento

from .statistics import summary

DIMENSIONES = ("total", "prioridad", "categoria", "agente")
SIN_CATEGORIA = ""
"""How the rows name incidents without a category (``valor`` empty)."""
CSV_COLUMNAS = ("seccion", "objetivo", "dimension", "valor", "nombre", "cumplidos", "incumplidos", "porcentaje",
                "valoraciones", "media")


def _media(valores: list[int]) -> float | None:
    return round(statistics.fmean(valores), 2) if valores else None


def _porcentaje(parte: int, total: int) -> float | None:
    return round(100 * parte / total, 1) if total else None


def _claves(incidencia: Incidencia) -> list[tuple[str, str, str]]:
    """The rows an incident counts in: (dimension, valor, nombre)."""
    agente = incidencia.asignada_a
    claves = [("total", "", ""), ("prioridad", incidencia.prioridad.value, ""),
              ("categoria", incidencia.categoria or SIN_CATEGORIA, "")]
    if agente is not None:
        claves.append(("agente", agente.id, agente.nombre or ""))
    return claves


def niveles_de_servicio(incidencias: Iterable[Incidencia], ahora: datetime) -> list[dict[str, Any]]:
    """Each target's attainment: of the incidents whose target is settled
    (met, or run out unmet), how many were on time; by priority, category
    and the agent holding them. A target still running on time counts in
    neither; an incident without service level, in no row."""
    cuentas: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for incidencia in incidencias:
        for objetivo, s in (seguimiento(incidencia, ahora) or {}).items():
            if s.estado not in (EstadoSla.CUMPLIDO, EstadoSla.INCUMPLIDO):
                continue
            for dimension, valor, nombre in _claves(incidencia):
                cuentas[(objetivo, dimension, valor, nombre)][s.estado is EstadoSla.INCUMPLIDO] += 1
    orden = {d: n for n, d in enumerate(DIMENSIONES)}
    return [
        {"objetivo": objetivo, "dimension": dimension, "valor": valor, "nombre": nombre, "cumplidos": cumplidos,
         "incumplidos": incumplidos, "porcentaje": _porcentaje(cumplidos, cumplidos + incumplidos)}
        for (objetivo, dimension, valor, nombre), (cumplidos, incumplidos) in sorted(
            cuentas.items(), key=lambda item: (OBJETIVOS.index(item[0][0]), orden[item[0][1]], item[0][2]))
    ]


def satisfaccion(incidencias: Iterable[Incidencia]) -> dict[str, Any]:
    """The customers' ratings of the closed incidents: the average, how
    they spread over 1–5, how many closed incidents were rated, and the
    average per agent (who held it) and per category."""
    cerradas, puntos = 0, []
    por_agente: dict[tuple[str, str], list[int]] = defaultdict(list)
    por_categoria: dict[str, list[int]] = defaultdict(list)
    for incidencia in incidencias:
        if incidencia.estado is not Estado.CERRADA:
            continue
        cerradas += 1
        if incidencia.valoracion is None:
            continue
        puntos.append(incidencia.valoracion.puntuacion)
        if incidencia.asignada_a is not None:
            por_agente[(incidencia.asignada_a.id, incidencia.asignada_a.nombre or "")].append(puntos[-1])
        por_categoria[incidencia.categoria or SIN_CATEGORIA].append(puntos[-1])
    return {
        "valoraciones": len(puntos), "cerradas": cerradas,
        "tasa_respuesta": _porcentaje(len(puntos), cerradas), "media": _media(puntos),
        "distribucion": {str(p): puntos.count(p) for p in PUNTUACIONES},
        "por_agente": [{"id": i, "nombre": n, "valoraciones": len(v), "media": _media(v)}
                       for (i, n), v in sorted(por_agente.items())],
        "por_categoria": [{"categoria": c, "valoraciones": len(v), "media": _media(v)}
                          for c, v in sorted(por_categoria.items())],
    }


def esperas(incidencias: Iterable[Incidencia]) -> dict[str, Any]:
    """How long each question kept its incident waiting on the customer
    (each wait that ended: answered, withdrawn or closed), in seconds."""
    duraciones: list[float] = []
    for incidencia in incidencias:
        desde = None
        for entrada in incidencia.historial:
            if entrada.a is Estado.ESPERANDO_CLIENTE and entrada.de is not Estado.ESPERANDO_CLIENTE:
                desde = entrada.en
            elif desde is not None and entrada.a is not Estado.ESPERANDO_CLIENTE:
                duraciones.append((entrada.en - desde).total_seconds())
                desde = None
    return summary(duraciones)


def informe(incidencias: list[Incidencia], ahora: datetime) -> dict[str, Any]:
    return {"niveles_de_servicio": niveles_de_servicio(incidencias, ahora),
            "satisfaccion": satisfaccion(incidencias), "espera_cliente": esperas(incidencias)}


def _celda(valor: Any) -> Any:
    """A text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``
    first: an agent's or a category's name) is written as text."""
    if isinstance(valor, str) and valor[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + valor
    return valor


class _Filas(csv.DictWriter):
    def writerow(self, rowdict):
        return super().writerow({k: _celda(v) for k, v in rowdict.items()})


def como_csv(figuras: dict[str, Any]) -> str:
    """The rows of the attainment and of the ratings by agent and category, one table (``CSV_COLUMNAS``)."""
    salida = io.StringIO()
    escritor = _Filas(salida, CSV_COLUMNAS, lineterminator="\r\n")
    escritor.writeheader()
    for fila in figuras["niveles_de_servicio"]:
        escritor.writerow({"seccion": "nivel_de_servicio", **{k: fila[k] for k in CSV_COLUMNAS[1:8]}})
    sat = figuras["satisfaccion"]
    escritor.writerow({"seccion": "satisfaccion", "dimension": "total", "valoraciones": sat["valoraciones"],
                       "media": sat["media"]})
    for fila in sat["por_agente"]:
        escritor.writerow({"seccion": "satisfaccion", "dimension": "agente", "valor": fila["id"],
                           "nombre": fila["nombre"], "valoraciones": fila["valoraciones"], "media": fila["media"]})
    for fila in sat["por_categoria"]:
        escritor.writerow({"seccion": "satisfaccion", "dimension": "categoria", "valor": fila["categoria"],
                           "valoraciones": fila["valoraciones"], "media": fila["media"]})
    return salida.getvalue()
