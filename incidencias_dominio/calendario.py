"""Business time for service levels (SLA).

A service level promises an answer within so many *working* hours, not wall
hours: an incident opened on Friday evening is not late on Saturday morning.
A ``Calendario`` says when that clock runs: the working weekdays, the daily
hours as wall times of a time zone, the public holidays of a country (and
region) as the ``holidays`` package knows them, and the company's own closing
days (``cierres``). ``laborable_entre`` measures the business time between two
instants; ``sumar`` finds the instant a given amount of business time ends
(a deadline); ``tramos`` lists the working intervals themselves.

Everything is a pure function of the calendar and the instants passed in: no
clock is read and nothing is stored, so both replicas (apertura and
resolucion) compute the very same deadlines from the same snapshot. Instants
are timezone-aware; results are in UTC, with exact microsecond arithmetic
(``timedelta``, never floats).

Daylight saving time: each day's hours are built as wall times of that date in
the calendar's zone and only then converted to UTC. On the day the clocks
change the wall hours stay the same (09:00-18:00) and the real length follows:
an hour shorter or longer when the change falls inside the working hours. A
wall time that does not exist that day (it falls in the spring gap) is taken
as the instant the clocks jump, the first one that exists after it; an
ambiguous one (the autumn repeat) as its first occurrence.

Working intervals are half-open, ``[start, end)``. When a duration is used up
exactly at the end of an interval, ``sumar`` returns that end (18:00 on
Friday), not the start of the next interval (09:00 on Monday): that is the
earliest instant with the full duration behind it.

Malformed arguments raise ``ValueError``, as in the rest of the domain.
"""
# ruff: noqa: TRY004 - as in the rest of the domain, any malformed argument is a ValueError
from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

MAX_CIERRES = 366
# sumar gives up after this many consecutive days without working time (ten years and more)
MAX_DIAS_SIN_JORNADA = 3700

_UN_DIA = timedelta(days=1)
_UN_MICROSEGUNDO = timedelta(microseconds=1)
_HORA = re.compile(r"([0-9]{2}):([0-9]{2})")  # ASCII digits only: \d takes any script's
_FECHA = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CAMPOS = ("zona", "dias", "desde", "hasta", "pais", "region", "cierres")
# "localtime" names whatever the machine is set to: not the same on every replica
_ZONAS_LOCALES = frozenset({"localtime"})


@dataclass(frozen=True)
class Calendario:
    """When the business clock runs; see the module docstring.

    ``dias`` are weekdays (0 = Monday ... 6 = Sunday); ``desde``/``hasta`` the
    start and end of the working day as local wall times, whole minutes,
    ``desde < hasta`` (no overnight shifts); ``pais``/``region`` a country and
    one of its subdivisions as the ``holidays`` package names them
    (``None`` = no public holidays); ``cierres`` extra closing days.
    ``dias`` and ``cierres`` are kept sorted and without repetitions.
    """

    zona: str = "Europe/Madrid"
    dias: tuple[int, ...] = (0, 1, 2, 3, 4)
    desde: time = time(9, 0)
    hasta: time = time(18, 0)
    pais: str | None = "ES"
    region: str | None = None
    cierres: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        _zona(self.zona)
        object.__setattr__(self, "dias", _validar_dias(self.dias))
        desde = _validar_hora("desde", self.desde)
        hasta = _validar_hora("hasta", self.hasta)
        if desde >= hasta:
            raise ValueError(
                f"the working day must start before it ends (desde {desde:%H:%M}, hasta {hasta:%H:%M}); "
                "overnight shifts are not supported"
            )
        object.__setattr__(self, "desde", desde)
        object.__setattr__(self, "hasta", hasta)
        _validar_pais(self.pais, self.region)
        object.__setattr__(self, "cierres", _validar_cierres(self.cierres))

    # -- dict form ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "zona": self.zona,
            "dias": list(self.dias),
            "desde": _formatear_hora(self.desde),
            "hasta": _formatear_hora(self.hasta),
            "pais": self.pais,
            "region": self.region,
            "cierres": [dia.isoformat() for dia in self.cierres],
        }

    @classmethod
    def of(cls, value: Calendario | Mapping[str, Any]) -> Calendario:
        """A calendar from itself or from its ``to_dict`` form; missing keys take
        the defaults, unknown keys and malformed values raise ``ValueError``."""
        if isinstance(value, Calendario):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a calendar must be a mapping, not {type(value).__name__}")
        desconocidos = [clave for clave in value if clave not in _CAMPOS]
        if desconocidos:
            raise ValueError(f"unknown calendar fields: {', '.join(sorted(map(repr, desconocidos)))}")
        campos: dict[str, Any] = {}
        if "zona" in value:
            campos["zona"] = value["zona"]
        if "dias" in value:
            campos["dias"] = tuple(_lista("dias", value["dias"]))
        for nombre in ("desde", "hasta"):
            if nombre in value:
                campos[nombre] = _leer_hora(nombre, value[nombre])
        for nombre in ("pais", "region"):
            if nombre in value:
                campos[nombre] = value[nombre]
        if "cierres" in value:
            campos["cierres"] = tuple(_leer_fecha(dia) for dia in _lista("cierres", value["cierres"]))
        return cls(**campos)

    # -- business time -----------------------------------------------------------

    def es_laborable(self, dia: date) -> bool:
        """Whether ``dia`` is a working day: a working weekday, not a public
        holiday of ``pais``/``region`` and not one of ``cierres``."""
        if not isinstance(dia, date) or isinstance(dia, datetime):
            raise ValueError(f"es_laborable takes a date, not {type(dia).__name__}")
        return self._laborable(dia)

    def tramos(self, desde: datetime, hasta: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals within ``[desde, hasta)``, in order, as pairs
        of UTC instants ``(start, end)`` with ``start < end``. The arguments
        are checked at once; the intervals are produced lazily."""
        inicio, fin = _utc("desde", desde), _utc("hasta", hasta)
        return self._tramos(inicio, fin, _zona(self.zona))

    def laborable_entre(self, desde: datetime, hasta: datetime) -> timedelta:
        """The business time within ``[desde, hasta)``; zero when ``hasta <= desde``."""
        total = timedelta(0)
        for inicio, fin in self.tramos(desde, hasta):
            total += fin - inicio
        return total

    def sumar(self, desde: datetime, duracion: timedelta) -> datetime:
        """The earliest instant ``t >= desde`` with ``laborable_entre(desde, t)
        == duracion``, in UTC: ``desde`` itself for a zero duration, the end of
        an interval when the duration is used up exactly there."""
        inicio = _utc("desde", desde)
        if not isinstance(duracion, timedelta):
            raise ValueError(f"duracion must be a timedelta, not {type(duracion).__name__}")
        if duracion < timedelta(0):
            raise ValueError(f"duracion must not be negative, got {duracion}")
        if not duracion:
            return inicio
        tz = _zona(self.zona)
        restante = duracion
        dia = _fecha_local(inicio, tz)
        vacios = 0
        while True:
            jornada = self._jornada(dia, tz)
            if jornada is not None and jornada[1] > inicio:
                comienzo = max(jornada[0], inicio)
                largo = jornada[1] - comienzo
                if restante <= largo:
                    return comienzo + restante
                restante -= largo
                vacios = 0
            else:
                vacios += 1
                if vacios >= MAX_DIAS_SIN_JORNADA:
                    raise ValueError(
                        f"the calendar has no working day in {MAX_DIAS_SIN_JORNADA} consecutive days "
                        f"(up to {dia.isoformat()})"
                    )
            dia = _dia_siguiente(dia)

    # -- mechanics ---------------------------------------------------------------

    def _laborable(self, dia: date) -> bool:
        if dia.weekday() not in self.dias:
            return False
        if self.pais is not None and _es_festivo(self.pais, self.region, dia):
            return False
        posicion = bisect_left(self.cierres, dia)
        return not (posicion < len(self.cierres) and self.cierres[posicion] == dia)

    def _jornada(self, dia: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The working interval of the local date ``dia`` in UTC, or ``None``
        when that day has no working time."""
        if not self._laborable(dia):
            return None
        inicio, fin = _instante(dia, self.desde, tz), _instante(dia, self.hasta, tz)
        return (inicio, fin) if inicio < fin else None

    def _tramos(self, inicio: datetime, fin: datetime, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        if fin <= inicio:
            return
        # A day's interval lies within that local date, so the local dates of the
        # two ends bound the days to look at.
        dia, ultimo = _fecha_local(inicio, tz), _fecha_local(fin, tz)
        while True:
            jornada = self._jornada(dia, tz)
            if jornada is not None:
                comienzo, final = max(jornada[0], inicio), min(jornada[1], fin)
                if comienzo < final:
                    yield comienzo, final
            if dia >= ultimo:
                return
            dia = _dia_siguiente(dia)


# -- validation and parsing ----------------------------------------------------------


def _zona(nombre: object) -> ZoneInfo:
    if not isinstance(nombre, str):
        raise ValueError(f"zona must be an IANA time zone name, not {type(nombre).__name__}")
    if nombre not in zonas_horarias():
        raise ValueError(f"unknown time zone {nombre!r}")
    try:
        return ZoneInfo(nombre)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValueError(f"unknown time zone {nombre!r}") from error


def _validar_dias(dias: object) -> tuple[int, ...]:
    if isinstance(dias, (str, bytes)) or not isinstance(dias, Iterable):
        raise ValueError(f"dias must be a sequence of weekdays 0-6, not {type(dias).__name__}")
    vistos = list(dias)
    for dia in vistos:
        if isinstance(dia, bool) or not isinstance(dia, int) or not 0 <= dia <= 6:
            raise ValueError(f"dias must hold weekdays 0 (Monday) to 6 (Sunday), got {dia!r}")
    if not vistos:
        raise ValueError("dias must hold at least one working weekday")
    return tuple(sorted(set(vistos)))


def _validar_hora(nombre: str, hora: object) -> time:
    if not isinstance(hora, time):
        raise ValueError(f"{nombre} must be a time of day, not {type(hora).__name__}")
    if hora.tzinfo is not None:
        raise ValueError(f"{nombre} must be a local wall time, without a time zone")
    if hora.second or hora.microsecond:
        raise ValueError(f"{nombre} must be a whole minute (HH:MM), got {hora.isoformat()}")
    return hora.replace(fold=0)


def _validar_pais(pais: object, region: object) -> None:
    if pais is None:
        if region is not None:
            raise ValueError("region needs pais: a subdivision belongs to a country")
        return
    if not isinstance(pais, str):
        raise ValueError(f"pais must be a country code or None, not {type(pais).__name__}")
    regiones = paises_con_festivos().get(pais)
    if regiones is None:
        raise ValueError(f"unknown country {pais!r} for public holidays")
    if region is None:
        return
    if not isinstance(region, str):
        raise ValueError(f"region must be a subdivision code or None, not {type(region).__name__}")
    if region not in regiones:
        raise ValueError(f"unknown subdivision {region!r} of {pais}")


def _validar_cierres(cierres: object) -> tuple[date, ...]:
    if isinstance(cierres, (str, bytes)) or not isinstance(cierres, Iterable):
        raise ValueError(f"cierres must be a sequence of dates, not {type(cierres).__name__}")
    dias = list(cierres)
    for dia in dias:
        if not isinstance(dia, date) or isinstance(dia, datetime):
            raise ValueError(f"cierres must hold dates, got {dia!r}")
    unicos = tuple(sorted(set(dias)))
    if len(unicos) > MAX_CIERRES:
        raise ValueError(f"at most {MAX_CIERRES} cierres, got {len(unicos)}")
    return unicos


def _lista(nombre: str, valor: object) -> list[Any] | tuple[Any, ...]:
    if not isinstance(valor, (list, tuple)):
        raise ValueError(f"{nombre} must be a list, not {type(valor).__name__}")
    return valor


def _leer_hora(nombre: str, valor: object) -> time:
    if isinstance(valor, time):
        return valor
    if isinstance(valor, str):
        encaje = _HORA.fullmatch(valor)
        if encaje is not None:
            try:
                return time(int(encaje[1]), int(encaje[2]))
            except ValueError:
                pass
    raise ValueError(f"{nombre} must be a time HH:MM, got {valor!r}")


def _leer_fecha(valor: object) -> date:
    if isinstance(valor, date) and not isinstance(valor, datetime):
        return valor
    if isinstance(valor, str) and _FECHA.fullmatch(valor):
        try:
            return date.fromisoformat(valor)
        except ValueError:
            pass
    raise ValueError(f"cierres must hold dates YYYY-MM-DD, got {valor!r}")


def _formatear_hora(hora: time) -> str:
    return f"{hora.hour:02d}:{hora.minute:02d}"


def _utc(nombre: str, instante: object) -> datetime:
    if not isinstance(instante, datetime):
        raise ValueError(f"{nombre} must be a datetime, not {type(instante).__name__}")
    if instante.tzinfo is None or instante.utcoffset() is None:
        raise ValueError(f"{nombre} must be timezone-aware, got {instante.isoformat()}")
    try:
        return instante.astimezone(UTC)
    except OverflowError as error:
        raise ValueError(f"{nombre} is out of the supported range of dates") from error


# -- what a calendar may name ---------------------------------------------------------


@cache
def zonas_horarias() -> frozenset[str]:
    """The IANA time zone names a calendar accepts (``zona``)."""
    return frozenset(available_timezones()) - _ZONAS_LOCALES


@cache
def paises_con_festivos() -> Mapping[str, frozenset[str]]:
    """The country codes with known public holidays (``pais``), each with the
    codes of its subdivisions (``region``)."""
    return MappingProxyType(
        {pais: frozenset(regiones) for pais, regiones in holidays.list_supported_countries().items()}
    )


# -- holidays ----------------------------------------------------------------------


@cache
def _festivos(pais: str, region: str | None) -> holidays.HolidayBase:
    """One holidays object per country and region; it fills in years on demand."""
    return holidays.country_holidays(pais, subdiv=region)


# The holidays object fills in a year on the first look-up in it, and marks the
# year as done before filling it: concurrent look-ups would see it half full.
_CERROJO_FESTIVOS = threading.Lock()


def _es_festivo(pais: str, region: str | None, dia: date) -> bool:
    with _CERROJO_FESTIVOS:
        return dia in _festivos(pais, region)


# -- instants ----------------------------------------------------------------------


def _fecha_local(instante: datetime, tz: ZoneInfo) -> date:
    try:
        return instante.astimezone(tz).date()
    except OverflowError as error:
        raise ValueError("the instant is out of the supported range of dates") from error


def _dia_siguiente(dia: date) -> date:
    try:
        return dia + _UN_DIA
    except OverflowError as error:
        raise ValueError("the calendar runs past the supported range of dates") from error


def _instante(dia: date, hora: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall time ``hora`` on ``dia`` in ``tz``.

    An ambiguous wall time (repeated when the clocks go back) is its first
    occurrence. A wall time that does not exist (skipped when the clocks go
    forward) is the instant of the jump, the first one that exists after it;
    so the instants of a day's wall times never go backwards.
    """
    try:
        local = datetime.combine(dia, hora, tzinfo=tz)
        instante = local.astimezone(UTC)
        pared = local.replace(tzinfo=None)
        if instante.astimezone(tz).replace(tzinfo=None) == pared:
            return instante
        # In the gap the two readings of the wall time (offset before and after the
        # jump) bracket the jump: before it the wall time reads earlier than
        # `pared`, from it on later. Find the first instant that reads later.
        otro = local.replace(fold=1).astimezone(UTC)
        bajo = min(instante, otro)
        menor, mayor = 0, (max(instante, otro) - bajo) // _UN_MICROSEGUNDO
        while menor < mayor:
            medio = (menor + mayor) // 2
            if (bajo + medio * _UN_MICROSEGUNDO).astimezone(tz).replace(tzinfo=None) > pared:
                mayor = medio
            else:
                menor = medio + 1
        return bajo + mayor * _UN_MICROSEGUNDO
    except OverflowError as error:
        raise ValueError(f"{dia.isoformat()} is out of the supported range of dates") from error
