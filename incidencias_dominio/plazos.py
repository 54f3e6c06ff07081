"""Service levels: the targets an incident is held to (``Plazos``), the
policy they come from (``PoliticaSla``), and how an incident stands against
them now (``seguimiento``).

Two targets, both counted in business time (``Calendario``):

- ``primera_respuesta``: from the opening to the first thing staff say to
  the customer: a public comment or a proposed solution;
- ``resolucion``: from the opening to the solution the incident stands in
  (``resuelta`` or ``cerrada``); a reopening takes it back, and the clock
  goes on from where it stopped.

The clock runs while the incident waits on staff and stops while it waits
on the customer (``ESTADOS_EN_PAUSA``) or once it is final. Everything is
computed from what both replicas hold, the targets written into the
incident (``Incidencia.plazos``, set by whoever changed its priority last)
and its history and comments, so both compute the same instants; the only
input that is not data is ``ahora``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Collection, Mapping

from cuentas.roles import CLIENTE

from .calendario import Calendario
from .state_machine import ESTADOS_FINALES, Estado

if TYPE_CHECKING:  # the aggregate imports this module
    from .model import Incidencia

EVENTO_POLITICA_SLA = "sla.politica_actualizada"
"""resolucion set a new policy: ``datos`` carries it whole with its version."""
EVENTO_SLA_EN_RIESGO = "incidencia.sla_en_riesgo"
"""4/5 of a target's time are gone; once per incident and target (``datos``: incidencia_id, objetivo, vence_en)."""
EVENTO_SLA_INCUMPLIDO = "incidencia.sla_incumplido"
"""A target's time ran out unmet; once per incident and target."""
PRIMERA_RESPUESTA = "primera_respuesta"
RESOLUCION_OBJETIVO = "resolucion"
OBJETIVOS = (PRIMERA_RESPUESTA, RESOLUCION_OBJETIVO)
MAX_MINUTOS = 366 * 24 * 60
"""The longest target: a year of business time."""
RIESGO = (4, 5)
"""A target is at risk once 4/5 of its time has gone."""

ESTADOS_EN_PAUSA = frozenset({Estado.ESPERANDO_CLIENTE, Estado.RESUELTA})
"""States in which the incident waits on its customer: the clock stops."""
ESTADOS_DE_SOLUCION = frozenset({Estado.RESUELTA, Estado.CERRADA})


class EstadoSla(str, Enum):
    EN_PLAZO = "en_plazo"
    EN_RIESGO = "en_riesgo"
    PAUSADO = "pausado"
    CUMPLIDO = "cumplido"
    INCUMPLIDO = "incumplido"

    def __str__(self) -> str:
        return self.value


def _minutos(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_MINUTOS:
        raise ValueError(f"{name} must be a whole number of minutes from 1 to {MAX_MINUTOS}, got {value!r}")
    return value


@dataclass(frozen=True)
class Objetivos:
    """The two targets of one priority, in minutes of business time."""

    primera_respuesta_minutos: int
    resolucion_minutos: int

    def __post_init__(self) -> None:
        _minutos(self.primera_respuesta_minutos, "primera_respuesta_minutos")
        _minutos(self.resolucion_minutos, "resolucion_minutos")

    def to_dict(self) -> dict[str, int]:
        return {"primera_respuesta_minutos": self.primera_respuesta_minutos,
                "resolucion_minutos": self.resolucion_minutos}

    @classmethod
    def of(cls, value: Objetivos | Mapping[str, Any]) -> Objetivos:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"targets are a mapping, got {value!r}")
        try:
            return cls(value["primera_respuesta_minutos"], value["resolucion_minutos"])
        except KeyError as exc:
            raise ValueError(f"targets lack {exc.args[0]}") from None


@dataclass(frozen=True)
class Plazos:
    """The targets one incident is held to, with the calendar they count
    in: a copy of the policy's, taken when its priority was set."""

    calendario: Calendario
    objetivos: Objetivos

    def to_dict(self) -> dict[str, Any]:
        return {"calendario": self.calendario.to_dict(), **self.objetivos.to_dict()}

    @classmethod
    def of(cls, value: Plazos | Mapping[str, Any]) -> Plazos:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"plazos are a mapping, got {value!r}")
        return cls(Calendario.of(value.get("calendario") or {}), Objetivos.of(value))

    def duracion(self, objetivo: str) -> timedelta:
        minutos = (self.objetivos.primera_respuesta_minutos if objetivo == PRIMERA_RESPUESTA
                   else self.objetivos.resolucion_minutos)
        return timedelta(minutes=minutos)


@dataclass(frozen=True)
class PoliticaSla:
    """What resolucion's admins set (``PUT /sla``): targets per priority,
    optionally overridden per category, and the calendar. A priority with
    no targets has no service level."""

    calendario: Calendario
    por_prioridad: Mapping[str, Objetivos]
    por_categoria: Mapping[str, Mapping[str, Objetivos]]

    @classmethod
    def vacia(cls) -> PoliticaSla:
        """No targets, the default calendar: what holds while no admin set one."""
        return cls(Calendario(), {}, {})

    def plazos_para(self, prioridad: str, categoria: str | None) -> Plazos | None:
        """The category's targets for the priority if it sets them, else the priority's; None: no service level."""
        propios = self.por_categoria.get(categoria or "", {})
        objetivos = propios.get(str(prioridad)) or self.por_prioridad.get(str(prioridad))
        return None if objetivos is None else Plazos(self.calendario, objetivos)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calendario": self.calendario.to_dict(),
            "por_prioridad": {p: o.to_dict() for p, o in sorted(self.por_prioridad.items())},
            "por_categoria": {c: {p: o.to_dict() for p, o in sorted(por.items())}
                              for c, por in sorted(self.por_categoria.items())},
        }

    @classmethod
    def of(cls, value: PoliticaSla | Mapping[str, Any]) -> PoliticaSla:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a policy is a mapping, got {value!r}")
        por_categoria = {} if value.get("por_categoria") is None else value["por_categoria"]
        if not isinstance(por_categoria, Mapping):
            raise ValueError("por_categoria is a mapping")
        return cls(
            Calendario.of(value.get("calendario") or {}),
            _por_prioridad({} if value.get("por_prioridad") is None else value["por_prioridad"]),
            {str(c): _por_prioridad(por) for c, por in por_categoria.items()},
        )


def _por_prioridad(value: Any) -> dict[str, Objetivos]:
    from .model import Prioridad

    if not isinstance(value, Mapping):
        raise ValueError("targets by priority are a mapping")
    return {Prioridad(p).value: Objetivos.of(o) for p, o in value.items()}  # Prioridad refuses an unknown one


# --- how an incident stands -----------------------------------------------------

@dataclass(frozen=True)
class Seguimiento:
    """One target of one incident, as of ``ahora``. ``vence_en``: when its
    time runs out (None while the clock is stopped short of it);
    ``en_riesgo_desde``: when 4/5 of it are gone (likewise);
    ``cumplido_en``: when it was met."""

    objetivo: str
    minutos: int
    estado: EstadoSla
    vence_en: datetime | None
    en_riesgo_desde: datetime | None
    cumplido_en: datetime | None

    def to_dict(self) -> dict[str, Any]:
        from .model import _format_opt

        return {"objetivo_minutos": self.minutos, "estado": self.estado.value,
                "vence_en": _format_opt(self.vence_en), "en_riesgo_desde": _format_opt(self.en_riesgo_desde),
                "cumplido_en": _format_opt(self.cumplido_en)}


def _tramos(incidencia: Incidencia) -> list[tuple[datetime, datetime | None]]:
    """The intervals in which the clock ran, the last open (None) while it still runs."""
    tramos: list[tuple[datetime, datetime | None]] = []
    historial = incidencia.historial
    for i, entrada in enumerate(historial):
        if entrada.de == entrada.a and i:
            continue  # a change of data: the clock goes on as it was
        corre = entrada.a not in ESTADOS_EN_PAUSA and entrada.a not in ESTADOS_FINALES
        if tramos and tramos[-1][1] is None:
            if corre:
                continue
            tramos[-1] = (tramos[-1][0], entrada.en)
        elif corre:
            tramos.append((entrada.en, None))
    return tramos


def _primera_respuesta(incidencia: Incidencia) -> datetime | None:
    """The first public comment of staff (a question to the customer is
    one), or the first solution proposed."""
    candidatos = [c.creado_en for c in incidencia.comentarios
                  if not c.interna and c.autor.rol not in (CLIENTE, "sistema") and c.creado_en >= incidencia.creada_en]
    candidatos += [e.en for e in incidencia.historial if e.a is Estado.RESUELTA]
    return min(candidatos, default=None)


def _resolucion(incidencia: Incidencia) -> datetime | None:
    """When the solution it stands in was proposed (the last one)."""
    if incidencia.estado not in ESTADOS_DE_SOLUCION:
        return None
    return max((e.en for e in incidencia.historial if e.a is Estado.RESUELTA), default=None)


def _cuando_se_agota(calendario: Calendario, tramos: list[tuple[datetime, datetime | None]],
                     duracion: timedelta) -> datetime | None:
    """The instant the clock, running in ``tramos``, reaches ``duracion``; None if it never does."""
    gastado = timedelta(0)
    for desde, hasta in tramos:
        falta = duracion - gastado
        if hasta is None:
            return calendario.sumar(desde, falta)
        tramo = calendario.laborable_entre(desde, hasta)
        if tramo >= falta:
            return calendario.sumar(desde, falta)
        gastado += tramo
    return None


def _hasta(tramos: list[tuple[datetime, datetime | None]], fin: datetime) -> list[tuple[datetime, datetime | None]]:
    """The clock's intervals cut at ``fin`` (when a target was met), and
    running on from there, as if it had not been met."""
    cortados: list[tuple[datetime, datetime | None]] = [
        (desde, fin if hasta is None else min(hasta, fin)) for desde, hasta in tramos if desde < fin]
    return [*cortados, (fin, None)]


def seguimiento(incidencia: Incidencia, ahora: datetime) -> dict[str, Seguimiento] | None:
    """How ``incidencia`` stands against each target at ``ahora``; None when it has none.

    A met target shows when it was due as if the clock had run on from
    when it was met, so "due 10:30, met 10:05" reads right. An unmet one
    whose clock stopped (waiting on the customer, or cancelled) shows no
    due instant unless it ran out before the stop."""
    if incidencia.plazos is None:
        return None
    plazos = incidencia.plazos
    tramos = _tramos(incidencia)
    resultado: dict[str, Seguimiento] = {}
    for objetivo, cumplido_en in ((PRIMERA_RESPUESTA, _primera_respuesta(incidencia)),
                                  (RESOLUCION_OBJETIVO, _resolucion(incidencia))):
        duracion = plazos.duracion(objetivo)
        riesgo = duracion * RIESGO[0] // RIESGO[1]
        corridos = _hasta(tramos, cumplido_en) if cumplido_en is not None else tramos
        vence = _cuando_se_agota(plazos.calendario, corridos, duracion)
        en_riesgo = _cuando_se_agota(plazos.calendario, corridos, riesgo)
        if cumplido_en is not None:
            estado = EstadoSla.INCUMPLIDO if vence is not None and vence < cumplido_en else EstadoSla.CUMPLIDO
        elif vence is not None and vence <= ahora:
            estado = EstadoSla.INCUMPLIDO
        elif not tramos or tramos[-1][1] is not None:
            estado = EstadoSla.PAUSADO
        elif en_riesgo is not None and en_riesgo <= ahora:
            estado = EstadoSla.EN_RIESGO
        else:
            estado = EstadoSla.EN_PLAZO
        resultado[objetivo] = Seguimiento(objetivo, int(duracion.total_seconds()) // 60, estado, vence, en_riesgo,
                                          cumplido_en)
    return resultado


# --- warnings of a target at risk or run out --------------------------------------
EN_RIESGO, INCUMPLIDO = EstadoSla.EN_RIESGO.value, EstadoSla.INCUMPLIDO.value
"""The two warnings a target may give (``nivel``), each once."""


def aviso(objetivo: str, nivel: str) -> str:
    """How an incident records that one warning was given (``primera_respuesta:en_riesgo``)."""
    return f"{objetivo}:{nivel}"


def pendientes(sla: dict[str, Seguimiento] | None) -> list[Seguimiento]:
    """The targets still to meet whose instant to run out is known (the ones
    that can still warn, and that the lists by due instant read)."""
    return [s for s in (sla or {}).values() if s.cumplido_en is None and s.vence_en is not None]


def avisos_debidos(sla: dict[str, Seguimiento] | None, avisados: Collection[str],
                   ahora: datetime) -> list[tuple[str, Seguimiento]]:
    """The warnings due at ``ahora`` and not given (``avisados``): a target
    run out (which also stands for its risk, if that was never told), or at
    risk. ``proximo_aviso`` says ahead of time when this finds one."""
    debidos = []
    for s in pendientes(sla):
        if s.vence_en <= ahora and aviso(s.objetivo, INCUMPLIDO) not in avisados:
            debidos.append((INCUMPLIDO, s))
        elif s.en_riesgo_desde is not None and s.en_riesgo_desde <= ahora < s.vence_en \
                and aviso(s.objetivo, EN_RIESGO) not in avisados:
            debidos.append((EN_RIESGO, s))
    return debidos


def proximo_aviso(sla: dict[str, Seguimiento] | None, avisados: Collection[str]) -> datetime | None:
    """When ``avisos_debidos`` will first find a warning (None: none is left
    to give): a target's risk until it was told, then its running out."""
    instantes = [s.en_riesgo_desde if aviso(s.objetivo, EN_RIESGO) not in avisados else s.vence_en
                 for s in pendientes(sla) if aviso(s.objetivo, INCUMPLIDO) not in avisados]
    return min((i for i in instantes if i is not None), default=None)
