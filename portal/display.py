"""How the APIs' values are shown: the Spanish words of states, priorities,
categories and roles, instants as ``<time>`` text, durations, and the
incident's ``historial`` as a readable timeline. Pure functions, no Flask.

Page text lives in the templates; the words here are the ones that name an
API value, kept in one place so that every page says them the same way."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from cuentas.roles import ADMIN, AGENTE, CLIENTE, SUPERVISOR
from incidencias_dominio import (
    ESTADOS_CANCELABLES,
    ESTADOS_EDITABLES,
    ESTADOS_FINALES,
    ESTADOS_FUSIONABLES,
    TRANSICIONES_PERMITIDAS,
    Estado,
)

ESTADOS = {
    "abierta": "Abierta", "asignada": "Asignada", "en_curso": "En curso", "resuelta": "Resuelta",
    "reabierta": "Reabierta", "cerrada": "Cerrada", "cancelada": "Cancelada", "fusionada": "Unida a otra",
}
# The domain's own sets, as the API spells their values.
FINALES = tuple(e.value for e in Estado if e in ESTADOS_FINALES)
CANCELABLES = tuple(e.value for e in Estado if e in ESTADOS_CANCELABLES)
EDITABLES = tuple(e.value for e in Estado if e in ESTADOS_EDITABLES)  # owned by resolucion: their data may change
FUSIONABLES = tuple(e.value for e in Estado if e in ESTADOS_FUSIONABLES)  # a duplicate merged from and into
EN_ESPERA = (Estado.ABIERTA.value, Estado.REABIERTA.value)  # waiting for someone to take them
ASIGNABLES = tuple(e.value for e in Estado if (e, Estado.ASIGNADA) in TRANSICIONES_PERMITIDAS)
PRIORIDADES = {"baja": "Baja", "media": "Media", "alta": "Alta", "critica": "Crítica"}
CATEGORIAS = {
    "envios": "Envíos", "devoluciones": "Devoluciones", "garantia": "Garantía",
    "facturacion": "Facturación", "producto": "Producto", "otros": "Otros",
}
SIN_CATEGORIA = "Sin categoría"
ROLES = {AGENTE: "Agente", SUPERVISOR: "Supervisor", ADMIN: "Administrador", CLIENTE: "Cliente"}
ORDENES = {"antiguedad": "Antigüedad", "recientes": "Más recientes", "prioridad": "Prioridad"}
RELEVANCIA = {"relevancia": "Relevancia"}


def ordenes(buscando: bool) -> dict[str, str]:
    """The orders a queue offers, the default first: relevance only while searching."""
    return {**RELEVANCIA, **ORDENES} if buscando else ORDENES
SERVICIOS = {
    "clientes": "El servicio de cuentas de clientes",
    "apertura": "El servicio de incidencias",
    "resolucion": "El servicio de gestión de incidencias",
    "empleados": "El servicio de cuentas del equipo",
}
CIERRE_AUTOMATICO = "cierre automático"


def estado(value: str | None) -> str:
    return ESTADOS.get(value or "", value or "")


def prioridad(value: str | None) -> str:
    return PRIORIDADES.get(value or "", value or "")


def categoria(value: str | None) -> str:
    if not value:
        return SIN_CATEGORIA
    return CATEGORIAS.get(value, value[:1].upper() + value[1:])


def rol(value: str | None) -> str:
    return ROLES.get(value or "", value or "")


# -- instants and durations -----------------------------------------------------------
def parse_instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def instant(text: str | None) -> tuple[str, str] | None:
    """``(datetime attribute, text)`` of an API instant, in UTC to the minute:
    ``("2026-12-01T10:00:00Z", "01/12/2026 10:00 UTC")``; the browser's script
    rewrites the text in the reader's local time."""
    at = parse_instant(text)
    if at is None:
        return None
    return at.strftime("%Y-%m-%dT%H:%M:%SZ"), at.strftime("%d/%m/%Y %H:%M UTC")


CANALES = {"web": "Web", "telefono": "Teléfono", "email": "Email"}


def week_of(text: str | None) -> str:
    """The week an API instant (its Monday, 00:00 UTC) starts: "del 30/11/2026"."""
    at = parse_instant(text)
    return "" if at is None else at.strftime("del %d/%m/%Y")


def week_by_channel(semana: Mapping[str, Any]) -> dict[str, Any]:
    """A week of ``/estadisticas``' ``por_canal_y_semana`` as its row shows
    it: each channel's count and the share that came by phone (None in a
    week without incidents), so the falling phone share can be read."""
    cuentas = [(nombre, int(semana.get(canal) or 0)) for canal, nombre in CANALES.items()]
    total = sum(n for _, n in cuentas)
    pct = round(100 * int(semana.get("telefono") or 0) / total) if total else None
    return {"semana": semana.get("semana"), "desde": semana.get("desde"), "cuentas": cuentas, "telefono_pct": pct}


def duration(seconds: float | None) -> str:
    """``None`` → "sin datos"; otherwise the two largest units: "3 min 20 s", "2 h 5 min", "4 d 1 h"."""
    if seconds is None:
        return "sin datos"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts = []
    for name, size in units:
        amount, total = divmod(total, size)
        if amount or parts:
            parts.append((amount, name))
        if len(parts) == 2:
            break
    return " ".join(f"{amount} {name}" for amount, name in parts if amount)


# -- the timeline ------------------------------------------------------------------------
@dataclass(frozen=True)
class Hito:
    """One line of an incident's timeline."""

    texto: str
    en: str | None
    quien: str
    estado: str


def _quien(por: Mapping[str, Any] | None) -> str:
    rol_ = (por or {}).get("rol")
    if rol_ == CLIENTE:
        return "Cliente"
    if rol_ == "sistema":
        return "Automático"
    return "Equipo de soporte"


def _nombre_asignado(cambios: Mapping[str, Any] | None) -> str | None:
    asignada = ((cambios or {}).get("asignada_a") or {}).get("a") or {}
    return asignada.get("nombre") if isinstance(asignada, Mapping) else None


def _cambio_datos(cambios: Mapping[str, Any]) -> str:
    partes = []
    if "fusion" in cambios:
        partes.append(f"Se le unió «{(cambios['fusion'] or {}).get('titulo') or 'otra incidencia'}»")
    if "prioridad" in cambios:
        c = cambios["prioridad"] or {}
        partes.append(f"Prioridad cambiada de {prioridad(c.get('de'))} a {prioridad(c.get('a'))}")
    if "categoria" in cambios:
        c = cambios["categoria"] or {}
        partes.append(f"Categoría cambiada de {categoria(c.get('de'))} a {categoria(c.get('a'))}")
    return "; ".join(partes) or "Datos cambiados"


def hito(entrada: Mapping[str, Any]) -> Hito:
    """One ``historial`` entry in words: "Asignada a Eva López", "En curso",
    "Solución propuesta", "Reabierta: motivo", "Cerrada", "Cancelada"…"""
    de, a = entrada.get("de"), entrada.get("a") or ""
    motivo = entrada.get("motivo")
    cambios = entrada.get("cambios") or {}
    if de == a and cambios and "asignada_a" not in cambios:
        texto = _cambio_datos(cambios)
    elif a == "abierta":
        texto = "Abierta"
    elif a == "asignada":
        nombre = _nombre_asignado(cambios)
        texto = f"Asignada a {nombre}" if nombre else "Asignada"
    elif a == "en_curso":
        texto = "En curso"
    elif a == "resuelta":
        texto = "Solución propuesta"
    elif a == "reabierta":
        texto = f"Reabierta: {motivo}" if motivo else "Reabierta"
    elif a == "cerrada":
        texto = "Cerrada automáticamente" if motivo == CIERRE_AUTOMATICO else "Cerrada"
    elif a == "cancelada":
        texto = f"Cancelada: {motivo}" if motivo else "Cancelada"
    elif a == "fusionada":
        texto = f"Unida a «{(cambios.get('fusionada_en') or {}).get('titulo') or 'otra incidencia'}»"
    else:
        texto = estado(a)
    return Hito(texto=texto, en=entrada.get("en"), quien=_quien(entrada.get("por")), estado=a)


def timeline(historial: Iterable[Mapping[str, Any]] | None) -> list[Hito]:
    """The whole ``historial``, oldest first, as the API keeps it."""
    return [hito(e) for e in historial or ()]
