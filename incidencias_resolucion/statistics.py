"""Durations for /estadisticas, computed from the incidents' history, and
the weeks the channel figures count."""
from __future__ import annotations

import statistics
from datetime import datetime, time, timedelta
from typing import Iterable

from incidencias_dominio import Estado, Incidencia, utc

SEMANAS = 8
"""How many weeks (this one included) the incidents by channel cover."""
PERIODO = timedelta(days=30)
"""The period a report covers unless asked (the API's default and the use case's)."""


def semanas(ahora: datetime, cuantas: int = SEMANAS) -> list[tuple[datetime, datetime]]:
    """The last ``cuantas`` ISO weeks up to ``ahora``'s, oldest first: each
    from its Monday 00:00 UTC to the next one."""
    ahora = utc(ahora)
    hoy = ahora.date()
    lunes = datetime.combine(hoy - timedelta(days=hoy.weekday()), time(), tzinfo=ahora.tzinfo)
    return [(lunes - timedelta(weeks=n), lunes - timedelta(weeks=n - 1)) for n in range(cuantas - 1, -1, -1)]


def nombre_de_semana(inicio: datetime) -> str:
    """``2026-W49``: the ISO week ``inicio`` falls in."""
    year, week, _ = inicio.isocalendar()
    return f"{year}-W{week:02d}"


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict:
    return {
        "mediana_s": statistics.median(values) if values else None,
        "p90_s": percentile(values, 0.9),
        "muestras": len(values),
    }


def durations(incidencias: Iterable[Incidencia]) -> tuple[list[float], list[float]]:
    """Seconds from opening to the first assignment, and to the first resolution."""
    to_assignment: list[float] = []
    to_resolution: list[float] = []
    for incidencia in incidencias:
        first_assigned = next((e.en for e in incidencia.historial if e.a == Estado.ASIGNADA), None)
        first_resolved = next((e.en for e in incidencia.historial if e.a == Estado.RESUELTA), None)
        if first_assigned:
            to_assignment.append((first_assigned - incidencia.creada_en).total_seconds())
        if first_resolved:
            to_resolution.append((first_resolved - incidencia.creada_en).total_seconds())
    return to_assignment, to_resolution
