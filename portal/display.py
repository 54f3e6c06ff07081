"""How the APIs' values are shown: the Spanish words of states, priorities,
categories and roles, instants as ``<time>`` text, durations, and the
incident's ``historial`` as a readable timeline. Pure functions, no Flask.

Page text lives in the templates; the words here are the ones that name an
API value, kept in one place so that every page says them the same way."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from cuentas.roles import ADMIN, AGENTE, CLIENTE, SUPERVISOR
from incidencias_dominio import (
    ESTADOS_CANCELABLES,
    ESTADOS_CONSULTABLES,
    ESTADOS_EDITABLES,
    ESTADOS_FINALES,
    ESTADOS_FUSIONABLES,
    EVENTO_CERRADA,
    MAX_MINUTOS,
    TRANSICIONES_PERMITIDAS,
    Estado,
    EstadoSla,
)
from incidencias_dominio import OBJETIVOS as _OBJETIVOS

ESTADOS = {
    "abierta": "Abierta", "asignada": "Asignada", "en_curso": "En curso", "esperando_cliente": "Esperando al cliente",
    "resuelta": "Resuelta", "reabierta": "Reabierta", "cerrada": "Cerrada", "cancelada": "Cancelada",
    "fusionada": "Unida a otra",
}
# The customer's own words where they differ from staff's: the state is about them.
ESTADOS_CLIENTE = {**ESTADOS, "esperando_cliente": "Pendiente de su respuesta"}
# The domain's own sets, as the API spells their values.
FINALES = tuple(e.value for e in Estado if e in ESTADOS_FINALES)
CANCELABLES = tuple(e.value for e in Estado if e in ESTADOS_CANCELABLES)
EDITABLES = tuple(e.value for e in Estado if e in ESTADOS_EDITABLES)  # owned by resolucion: their data may change
FUSIONABLES = tuple(e.value for e in Estado if e in ESTADOS_FUSIONABLES)  # a duplicate merged from and into
EN_ESPERA = (Estado.ABIERTA.value, Estado.REABIERTA.value)  # waiting for someone to take them
ASIGNABLES = tuple(e.value for e in Estado if (e, Estado.ASIGNADA) in TRANSICIONES_PERMITIDAS)
CONSULTABLES = tuple(e.value for e in Estado if e in ESTADOS_CONSULTABLES)  # staff may ask the customer something
ESPERANDO_CLIENTE = Estado.ESPERANDO_CLIENTE.value
# What the customer may withdraw: through resolucion (CANCELABLES) or, asked something, at once.
RETIRABLES = tuple(e.value for e in Estado if (e, Estado.CANCELADA) in TRANSICIONES_PERMITIDAS)
PRIORIDADES = {"baja": "Baja", "media": "Media", "alta": "Alta", "critica": "Crítica"}
CATEGORIAS = {
    "envios": "Envíos", "devoluciones": "Devoluciones", "garantia": "Garantía",
    "facturacion": "Facturación", "producto": "Producto", "otros": "Otros",
}
PREGUNTAS = ("incidencia.esperando_cliente", "incidencia.consulta_pendiente")
CERRADA = EVENTO_CERRADA
"""The customer's notification of a close: it leads to the rating form."""
"""The customer's notifications about a question staff asked them (and its reminder)."""
SIN_CATEGORIA = "Sin categoría"
ROLES = {AGENTE: "Agente", SUPERVISOR: "Supervisor", ADMIN: "Administrador", CLIENTE: "Cliente"}
ORDENES = {"antiguedad": "Antigüedad", "recientes": "Más recientes", "prioridad": "Prioridad",
           "vencimiento": "Vencimiento"}
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


def estado(value: str | None, cliente: bool = False) -> str:
    """The state in words, for staff or (``cliente``) for the incident's customer."""
    return (ESTADOS_CLIENTE if cliente else ESTADOS).get(value or "", value or "")


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


def decimal(value: float | None, places: int = 1) -> str:
    """A figure the Spanish way, rounded half up, without a needless
    decimal: 4.25 → "4,3", 85.0 → "85", None → "—"."""
    if value is None:
        return "—"
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def percent(value: float | None) -> str:
    """A percentage as the API gives it: 85.3 → "85,3 %", 100.0 → "100 %", None (nothing to count) → "—"."""
    return "—" if value is None else f"{decimal(value)} %"


# -- the customers' ratings ------------------------------------------------------------------
PUNTUACIONES = {1: "Muy mal", 2: "Mal", 3: "Regular", 4: "Bien", 5: "Muy bien"}
"""What each score of a rating says, 1 to 5 (the API's ``puntuacion``)."""


def puntuacion(value: int | str | None) -> str:
    """A score with its word, as the form offers it and the charts label it: 4 → "4 · Bien"."""
    try:
        n = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value or "")
    return f"{n} · {PUNTUACIONES[n]}" if n in PUNTUACIONES else str(n)


def media(value: float | None) -> str:
    """An average score out of 5: 4.25 → "4,3 de 5"; None (no ratings) → "sin valoraciones"."""
    return "sin valoraciones" if value is None else f"{decimal(value)} de 5"


# -- service levels -------------------------------------------------------------------------
OBJETIVOS = dict(zip(_OBJETIVOS, ("Primera respuesta", "Resolución")))
"""The two targets of a service level, in the order they come."""
SLA = {
    EstadoSla.EN_PLAZO.value: "En plazo", EstadoSla.EN_RIESGO.value: "En riesgo",
    EstadoSla.PAUSADO.value: "En pausa", EstadoSla.CUMPLIDO.value: "Cumplido",
    EstadoSla.INCUMPLIDO.value: "Incumplido",
}
SLA_FILTROS = (EstadoSla.EN_PLAZO.value, EstadoSla.EN_RIESGO.value, EstadoSla.INCUMPLIDO.value)
"""The states the queue filters by (those of a clock that runs or ran out)."""
_GRAVEDAD = (EstadoSla.INCUMPLIDO.value, EstadoSla.EN_RIESGO.value, EstadoSla.EN_PLAZO.value,
             EstadoSla.PAUSADO.value, EstadoSla.CUMPLIDO.value)
DIAS = ("Lunes", "Martes", "Miércoles", "Jueves", "Viernes", "Sábado", "Domingo")
"""The calendar's weekdays, 0 = Monday as the API numbers them."""
MAX_HORAS = MAX_MINUTOS // 60


AVISOS = {"incidencia.sla_en_riesgo": "En riesgo", "incidencia.sla_incumplido": "Plazo superado"}
"""Staff's notifications (``tipo``): a target at risk, or run out."""
AVISO_SLA = {"incidencia.sla_en_riesgo": EstadoSla.EN_RIESGO.value,
             "incidencia.sla_incumplido": EstadoSla.INCUMPLIDO.value}
"""The state badge (``m.sla``'s class) each kind of staff notification is drawn with."""


def aviso(tipo: str | None) -> str:
    return AVISOS.get(tipo or "", tipo or "")


def sla_estado(value: str | None) -> str:
    return SLA.get(value or "", value or "")


def minutes(value: int | None) -> str:
    """A target in hours and minutes: "2 h", "1 h 30 min", "45 min"; None → "—"."""
    if value is None:
        return "—"
    horas, minutos = divmod(int(value), 60)
    partes = ([f"{horas} h"] if horas else []) + ([f"{minutos} min"] if minutos or not horas else [])
    return " ".join(partes)


def hours_field(value: int | None) -> str:
    """Minutes as the form's hours field shows them: 90 → "1,5", 100 → "1,6667", None → ""."""
    if value is None:
        return ""
    text = f"{int(value) / 60:.4f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def worst_target(sla: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Of an incident's ``sla``, the target that stands worst (broken, at
    risk, running, paused, met; the one due first among equals), with its
    ``objetivo`` and ``nombre``: what its row in a queue shows."""
    if not sla:
        return None
    candidatos = [{**sla[clave], "objetivo": clave, "nombre": nombre}
                  for clave, nombre in OBJETIVOS.items() if isinstance(sla.get(clave), Mapping)]
    if not candidatos:
        return None

    def gravedad(s: dict[str, Any]) -> tuple[int, str]:
        estado_ = s.get("estado")
        rank = _GRAVEDAD.index(estado_) if estado_ in _GRAVEDAD else len(_GRAVEDAD)
        return rank, s.get("vence_en") or "9999"

    return min(candidatos, key=gravedad)


def weekdays(dias: Iterable[int] | None) -> str:
    """The working weekdays in words: "De lunes a viernes", "Lunes, miércoles y sábado", "Todos los días"."""
    elegidos = sorted({int(d) for d in dias or () if 0 <= int(d) <= 6})
    if not elegidos:
        return "Ninguno"
    if len(elegidos) == 7:
        return "Todos los días"
    if len(elegidos) >= 3 and elegidos == list(range(elegidos[0], elegidos[-1] + 1)):
        return f"De {DIAS[elegidos[0]].lower()} a {DIAS[elegidos[-1]].lower()}"
    nombres = [DIAS[d] if i == 0 else DIAS[d].lower() for i, d in enumerate(elegidos)]
    return nombres[0] if len(nombres) == 1 else f"{', '.join(nombres[:-1])} y {nombres[-1]}"


def day(text: str | None) -> str:
    """An API date as the pages show it: "2026-12-24" → "24/12/2026"."""
    try:
        return datetime.strptime(text or "", "%Y-%m-%d").strftime("%d/%m/%Y")
    except ValueError:
        return text or ""


def pending_question(incidencia: Mapping[str, Any]) -> dict[str, Any] | None:
    """The question staff asked last (the comment named by the history's
    last ``consulta`` entry), while the incident waits on its customer."""
    if incidencia.get("estado") != ESPERANDO_CLIENTE:
        return None
    for entrada in reversed(incidencia.get("historial") or ()):
        consulta = (entrada.get("cambios") or {}).get("consulta")
        if entrada.get("a") == ESPERANDO_CLIENTE and isinstance(consulta, Mapping):
            comentario_id = consulta.get("a")
            return next((c for c in incidencia.get("comentarios") or () if c.get("id") == comentario_id), None)
    return None


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
    "Pregunta al cliente", "El cliente respondió", "Solución propuesta",
    "Reabierta: motivo", "Cerrada", "Cancelada"…"""
    de, a = entrada.get("de"), entrada.get("a") or ""
    motivo = entrada.get("motivo")
    cambios = entrada.get("cambios") or {}
    if de == a and cambios and "asignada_a" not in cambios:
        texto = _cambio_datos(cambios)
    elif a == ESPERANDO_CLIENTE:
        texto = "Pregunta al cliente"
    elif de == ESPERANDO_CLIENTE and a == "en_curso":
        texto = "El cliente respondió" if (entrada.get("por") or {}).get("rol") == CLIENTE else "En curso"
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
