"""Business time (``incidencias_dominio.calendario``): examples with exact
instants, the refusals, and properties over random calendars checked against
a plain reference computation written here (``_laborable_ref``)."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidencias_dominio import calendario as modulo
from incidencias_dominio.calendario import (
    Calendario,
    paises_con_festivos,
    zonas_horarias,
)

MADRID = ZoneInfo("Europe/Madrid")
NUEVA_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)

NACIONAL = Calendario()  # Madrid hours, Spain's national holidays
MADRID_MD = Calendario(region="MD")  # and the Comunidad de Madrid's own
SIN_FESTIVOS = Calendario(pais=None)
SIEMPRE = tuple(range(7))


def madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the holidays the examples rely on ----------------------------------------------


def test_the_holidays_package_knows_the_days_the_examples_rely_on():
    espana = holidays.country_holidays("ES", years=[2025, 2026])
    comunidad = holidays.country_holidays("ES", subdiv="MD", years=[2025, 2026])
    assert date(2026, 12, 4).weekday() == 4 and date(2026, 12, 7).weekday() == 0
    assert date(2026, 12, 8) in espana and date(2026, 12, 8) in comunidad  # Inmaculada, a Tuesday
    # 6 December 2026 (Constitución) is a Sunday: the Comunidad moves it to Monday the 7th, Spain does not
    assert date(2026, 12, 7) in comunidad and date(2026, 12, 7) not in espana
    assert date(2025, 5, 2).weekday() == 4 and date(2025, 5, 2) in comunidad and date(2025, 5, 2) not in espana
    assert date(2026, 11, 26) in holidays.country_holidays("US", years=2026)  # Thanksgiving, a Thursday


# -- examples ---------------------------------------------------------------------------


def test_friday_evening_plus_two_working_hours_is_monday_morning_with_national_holidays():
    viernes = madrid(2026, 12, 4, 17, 30)
    # 30 min on Friday, 1 h 30 on Monday the 7th
    assert NACIONAL.sumar(viernes, 2 * H) == utc(2026, 12, 7, 9, 30)  # 10:30 Madrid (CET)
    # 30 min on Friday, 9 h on Monday, Tuesday the 8th is a holiday, 8 h 30 on Wednesday
    assert NACIONAL.sumar(viernes, 18 * H) == utc(2026, 12, 9, 16, 30)  # 17:30 Madrid
    assert NACIONAL.laborable_entre(viernes, madrid(2026, 12, 9, 17, 30)) == 18 * H


def test_in_the_comunidad_de_madrid_the_monday_after_constitucion_is_a_holiday_too():
    viernes = madrid(2026, 12, 4, 17, 30)
    assert not MADRID_MD.es_laborable(date(2026, 12, 7)) and NACIONAL.es_laborable(date(2026, 12, 7))
    # 30 min on Friday; Monday 7 and Tuesday 8 are holidays; 1 h 30 on Wednesday
    assert MADRID_MD.sumar(viernes, 2 * H) == utc(2026, 12, 9, 9, 30)
    # 30 min on Friday, 9 h on Wednesday, 8 h 30 on Thursday
    assert MADRID_MD.sumar(viernes, 18 * H) == utc(2026, 12, 10, 16, 30)


def test_the_sumar_result_is_utc_and_accepts_any_offset():
    resultado = NACIONAL.sumar(madrid(2026, 12, 4, 17, 30), 2 * H)
    assert resultado.tzinfo is UTC
    assert NACIONAL.sumar(utc(2026, 12, 4, 16, 30), 2 * H) == resultado
    assert NACIONAL.sumar(datetime(2026, 12, 4, 11, 30, tzinfo=timezone(timedelta(hours=-5))), 2 * H) == resultado


def test_weekends_are_skipped():
    # 2026-03-06 is a Friday; still CET (+1) on both sides
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 6, 16, 0), 3 * H) == utc(2026, 3, 9, 9, 0)  # Monday 10:00
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 7, 12, 0), H) == utc(2026, 3, 9, 9, 0)  # from Saturday noon
    assert SIN_FESTIVOS.laborable_entre(madrid(2026, 3, 6, 18, 0), madrid(2026, 3, 9, 9, 0)) == timedelta(0)
    assert not SIN_FESTIVOS.es_laborable(date(2026, 3, 7)) and not SIN_FESTIVOS.es_laborable(date(2026, 3, 8))


def test_a_duration_used_up_at_the_end_of_the_day_ends_there():
    viernes = madrid(2026, 3, 6, 17, 0)
    assert SIN_FESTIVOS.sumar(viernes, H) == utc(2026, 3, 6, 17, 0)  # 18:00 Friday, not 09:00 Monday
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 6, 18, 0), US) == utc(2026, 3, 9, 8, 0, 0, 1)
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 2, 9, 0), 5 * 9 * H) == utc(2026, 3, 6, 17, 0)  # a whole week


def test_before_hours_the_clock_starts_at_the_opening():
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 2, 7, 0), H) == utc(2026, 3, 2, 9, 0)  # Monday 10:00
    assert SIN_FESTIVOS.laborable_entre(madrid(2026, 3, 2, 7, 0), madrid(2026, 3, 2, 9, 30)) == 30 * MIN


def test_a_zero_duration_is_the_start_itself_even_out_of_hours():
    sabado = madrid(2026, 3, 7, 12, 0)
    assert SIN_FESTIVOS.sumar(sabado, timedelta(0)) == sabado
    assert SIN_FESTIVOS.sumar(sabado, timedelta(0)).tzinfo is UTC


def test_microseconds_are_exact():
    lunes = madrid(2026, 3, 2, 9, 0)
    casi = 9 * H - US
    assert SIN_FESTIVOS.sumar(lunes, casi) == utc(2026, 3, 2, 16, 59, 59, 999999)
    assert SIN_FESTIVOS.laborable_entre(lunes, madrid(2026, 3, 3, 9, 0, 0, 7)) == 9 * H + 7 * US
    assert SIN_FESTIVOS.sumar(lunes, 9 * H + US) == utc(2026, 3, 3, 8, 0, 0, 1)


def test_a_closing_day_is_skipped():
    cerrado = Calendario(pais=None, cierres=(date(2026, 3, 9),))
    assert not cerrado.es_laborable(date(2026, 3, 9)) and cerrado.es_laborable(date(2026, 3, 10))
    # 1 h on Friday the 6th, Monday the 9th closed, 1 h on Tuesday
    assert cerrado.sumar(madrid(2026, 3, 6, 17, 0), 2 * H) == utc(2026, 3, 10, 9, 0)
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 6, 17, 0), 2 * H) == utc(2026, 3, 9, 9, 0)


def test_a_regional_holiday_counts_only_with_its_region():
    miercoles = madrid(2025, 4, 30, 17, 0)  # CEST (+2); 1 May is Labour Day everywhere
    assert NACIONAL.es_laborable(date(2025, 5, 2)) and not MADRID_MD.es_laborable(date(2025, 5, 2))
    assert not NACIONAL.es_laborable(date(2025, 5, 1))
    assert NACIONAL.sumar(miercoles, 2 * H) == utc(2025, 5, 2, 8, 0)  # Friday 2 May, 10:00
    assert MADRID_MD.sumar(miercoles, 2 * H) == utc(2025, 5, 5, 8, 0)  # Monday 5 May, 10:00


def test_working_intervals_are_listed_in_utc_and_in_order():
    tramos = list(SIN_FESTIVOS.tramos(madrid(2026, 3, 6, 12, 0), madrid(2026, 3, 10, 10, 0)))
    assert tramos == [
        (utc(2026, 3, 6, 11, 0), utc(2026, 3, 6, 17, 0)),
        (utc(2026, 3, 9, 8, 0), utc(2026, 3, 9, 17, 0)),
        (utc(2026, 3, 10, 8, 0), utc(2026, 3, 10, 9, 0)),
    ]
    assert list(SIN_FESTIVOS.tramos(madrid(2026, 3, 10), madrid(2026, 3, 9))) == []
    assert SIN_FESTIVOS.laborable_entre(madrid(2026, 3, 10), madrid(2026, 3, 9)) == timedelta(0)


# -- daylight saving time -------------------------------------------------------------


def _dia(cal: Calendario, dia: date) -> list[tuple[datetime, datetime]]:
    tz = ZoneInfo(cal.zona)
    return list(cal.tramos(datetime.combine(dia, time(0), tzinfo=tz),
                           datetime.combine(dia + timedelta(days=1), time(0), tzinfo=tz)))


def test_spring_forward_shortens_a_day_whose_hours_span_the_gap():
    noche = Calendario(dias=SIEMPRE, desde=time(1, 0), hasta=time(4, 0), pais=None)
    # 2026-03-29: 02:00-03:00 local does not exist; 01:00 CET is 00:00Z, 04:00 CEST is 02:00Z
    assert _dia(noche, date(2026, 3, 29)) == [(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))]
    assert _dia(noche, date(2026, 3, 28)) == [(utc(2026, 3, 28, 0, 0), utc(2026, 3, 28, 3, 0))]
    assert _dia(noche, date(2026, 3, 30)) == [(utc(2026, 3, 29, 23, 0), utc(2026, 3, 30, 2, 0))]
    assert noche.sumar(madrid(2026, 3, 29, 0, 0), 2 * H + MIN) == utc(2026, 3, 29, 23, 1)


def test_fall_back_lengthens_a_day_whose_hours_span_the_repeat():
    noche = Calendario(dias=SIEMPRE, desde=time(1, 0), hasta=time(4, 0), pais=None)
    # 2026-10-25: 02:00-03:00 local happens twice; 01:00 CEST is 23:00Z, 04:00 CET is 03:00Z
    assert _dia(noche, date(2026, 10, 25)) == [(utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0))]


def test_whole_days_are_an_hour_shorter_or_longer_on_the_change():
    dia_entero = Calendario(dias=SIEMPRE, desde=time(0, 0), hasta=time(23, 59), pais=None)

    def largo(dia: date) -> timedelta:
        return sum((fin - inicio for inicio, fin in _dia(dia_entero, dia)), timedelta(0))

    assert largo(date(2026, 3, 28)) == 23 * H + 59 * MIN
    assert largo(date(2026, 3, 29)) == 22 * H + 59 * MIN
    assert largo(date(2026, 10, 25)) == 24 * H + 59 * MIN


def test_wall_hours_stay_the_same_across_the_change():
    # Friday 27 March is CET, Monday 30 March CEST: both 09:00-18:00 local
    assert list(SIN_FESTIVOS.tramos(madrid(2026, 3, 27), madrid(2026, 3, 31))) == [
        (utc(2026, 3, 27, 8, 0), utc(2026, 3, 27, 17, 0)),
        (utc(2026, 3, 30, 7, 0), utc(2026, 3, 30, 16, 0)),
    ]
    assert SIN_FESTIVOS.sumar(madrid(2026, 3, 27, 17, 0), 2 * H) == utc(2026, 3, 30, 8, 0)


def test_hours_that_do_not_exist_are_taken_as_the_instant_of_the_jump():
    domingo = date(2026, 3, 29)  # the jump is at 01:00Z: 02:00 CET becomes 03:00 CEST
    desde_en_el_hueco = Calendario(dias=SIEMPRE, desde=time(2, 30), hasta=time(4, 0), pais=None)
    assert _dia(desde_en_el_hueco, domingo) == [(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))]
    hasta_en_el_hueco = Calendario(dias=SIEMPRE, desde=time(1, 0), hasta=time(2, 30), pais=None)
    assert _dia(hasta_en_el_hueco, domingo) == [(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0))]
    todo_en_el_hueco = Calendario(dias=SIEMPRE, desde=time(2, 0), hasta=time(2, 59), pais=None)
    assert _dia(todo_en_el_hueco, domingo) == [] and todo_en_el_hueco.es_laborable(domingo)
    assert todo_en_el_hueco.sumar(madrid(2026, 3, 29, 0, 0), MIN) == utc(2026, 3, 30, 0, 1)


def test_new_york_with_us_federal_holidays():
    nueva_york = Calendario(zona="America/New_York", pais="US")
    # Wednesday 25 November 2026 17:00 EST (22:00Z): 1 h, Thanksgiving, 1 h on Friday from 09:00 EST
    assert nueva_york.sumar(datetime(2026, 11, 25, 17, 0, tzinfo=NUEVA_YORK), 2 * H) == utc(2026, 11, 27, 15, 0)
    # Friday 6 March 2026 17:00 EST; clocks go forward on Sunday 8 March; Monday 10:00 EDT is 14:00Z
    assert nueva_york.sumar(datetime(2026, 3, 6, 17, 0, tzinfo=NUEVA_YORK), 2 * H) == utc(2026, 3, 9, 14, 0)
    assert nueva_york.laborable_entre(utc(2026, 3, 6, 22, 0), utc(2026, 3, 9, 14, 0)) == 2 * H


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("zona", ["Mars/Olympus", "europe/madrid", "", "Europe", "../etc/passwd", "localtime",
                                  "Europe/Madrid\x00", 5, None])
def test_an_unknown_zone_is_refused(zona):
    with pytest.raises(ValueError):
        Calendario(zona=zona)


@pytest.mark.parametrize("desde, hasta", [(time(9), time(9)), (time(18), time(9)), (time(9, 0, 30), time(18)),
                                          (time(9), time(18, 0, 0, 1)), (time(9, tzinfo=UTC), time(18)),
                                          ("09:00", time(18)), (9, 18)])
def test_bad_hours_are_refused(desde, hasta):
    with pytest.raises(ValueError):
        Calendario(desde=desde, hasta=hasta)


@pytest.mark.parametrize("dias", [(), (7,), (-1,), (0, 8), (True,), ("1",), (1.0,), "01234", 3, None, ([1],)])
def test_bad_weekdays_are_refused(dias):
    with pytest.raises(ValueError):
        Calendario(dias=dias)


@pytest.mark.parametrize("pais, region", [("XX", None), ("es", None), ("ZZZ", None), (34, None), ("ES", "NY"),
                                          ("ES", "md"), (None, "MD"), ("ES", 28)])
def test_unknown_countries_and_regions_are_refused(pais, region):
    with pytest.raises(ValueError):
        Calendario(pais=pais, region=region)


def test_known_regions_are_accepted():
    assert Calendario(pais="US", region="NY").region == "NY"
    assert "MD" in paises_con_festivos()["ES"] and "ES" in paises_con_festivos()
    assert "Europe/Madrid" in zonas_horarias() and "localtime" not in zonas_horarias()


@pytest.mark.parametrize("cierres", [(datetime(2026, 12, 24),), ("2026-12-24",), "2026-12-24", 5, (None,),
                                     tuple(date(2026, 1, 1) + timedelta(days=i) for i in range(367))])
def test_bad_closing_days_are_refused(cierres):
    with pytest.raises(ValueError):
        Calendario(cierres=cierres)


def test_weekdays_and_closing_days_are_kept_sorted_and_unique():
    cal = Calendario(dias=[4, 0, 2, 0], cierres=[date(2026, 12, 31), date(2026, 12, 24), date(2026, 12, 31)])
    assert cal.dias == (0, 2, 4)
    assert cal.cierres == (date(2026, 12, 24), date(2026, 12, 31))
    assert cal == Calendario(dias=(0, 2, 4), cierres=(date(2026, 12, 24), date(2026, 12, 31)))
    un_ano = tuple(date(2026, 1, 1) + timedelta(days=i) for i in range(366))
    assert len(Calendario(cierres=un_ano + un_ano[:5]).cierres) == 366


@pytest.mark.parametrize("llamada", [
    lambda: NACIONAL.sumar(datetime(2026, 3, 2, 9, 0), H),
    lambda: NACIONAL.sumar(date(2026, 3, 2), H),
    lambda: NACIONAL.laborable_entre(datetime(2026, 3, 2, 9, 0), madrid(2026, 3, 3)),
    lambda: NACIONAL.laborable_entre(madrid(2026, 3, 2), datetime(2026, 3, 3)),
    lambda: NACIONAL.tramos(datetime(2026, 3, 2, 9, 0), madrid(2026, 3, 3)),
    lambda: NACIONAL.tramos(madrid(2026, 3, 2), "2026-03-03"),
    lambda: NACIONAL.sumar(madrid(2026, 3, 2), -US),
    lambda: NACIONAL.sumar(madrid(2026, 3, 2), 60),
    lambda: NACIONAL.es_laborable(madrid(2026, 3, 2)),
    lambda: NACIONAL.es_laborable("2026-03-02"),
], ids=["naive-sumar", "date-sumar", "naive-desde", "naive-hasta", "naive-tramos", "str-tramos",
        "negative", "int-duration", "datetime-day", "str-day"])
def test_bad_arguments_are_refused(llamada):
    with pytest.raises(ValueError):
        llamada()


def test_a_calendar_without_working_days_is_refused_rather_than_looped(monkeypatch):
    # Mondays only, the next two closed: 20 days without working time from Tuesday the 3rd
    lunes = Calendario(dias=(0,), pais=None, cierres=(date(2026, 3, 9), date(2026, 3, 16)))
    assert lunes.sumar(madrid(2026, 3, 3), H) == utc(2026, 3, 23, 9, 0)
    assert modulo.MAX_DIAS_SIN_JORNADA == 3700
    monkeypatch.setattr(modulo, "MAX_DIAS_SIN_JORNADA", 10)
    with pytest.raises(ValueError, match="no working day"):
        lunes.sumar(madrid(2026, 3, 3), H)


def test_the_end_of_the_calendar_is_refused_not_overflowed():
    with pytest.raises(ValueError):
        SIN_FESTIVOS.sumar(datetime(9999, 12, 30, tzinfo=UTC), 30 * H)
    with pytest.raises(ValueError):
        Calendario(zona="Asia/Tokyo", pais=None).laborable_entre(datetime(1, 1, 1, tzinfo=UTC), utc(1, 1, 3))


# -- dict form ------------------------------------------------------------------------


def test_the_dict_form():
    cal = Calendario(zona="Europe/Madrid", dias=(0, 1, 2, 3, 4), desde=time(8, 30), hasta=time(17, 5),
                     pais="ES", region="MD", cierres=(date(2026, 12, 24), date(2026, 12, 31)))
    forma = {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "08:30", "hasta": "17:05",
             "pais": "ES", "region": "MD", "cierres": ["2026-12-24", "2026-12-31"]}
    assert cal.to_dict() == forma
    assert Calendario.of(forma) == cal
    assert Calendario.of(json.loads(json.dumps(cal.to_dict()))) == cal
    assert Calendario.of(cal) is cal
    assert Calendario.of({}) == Calendario()
    assert Calendario.of({"pais": None}) == SIN_FESTIVOS
    assert Calendario.of({"desde": time(8, 30), "hasta": time(17, 5), "region": "MD", "dias": (0, 1, 2, 3, 4),
                          "cierres": [date(2026, 12, 31), "2026-12-24"]}) == cal
    assert Calendario().to_dict() == {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00",
                                      "hasta": "18:00", "pais": "ES", "region": None, "cierres": []}


@pytest.mark.parametrize("valor", [
    None, [], "ES", 5, [("zona", "UTC")],
    {"zona": 5}, {"zona": "Nowhere/City"}, {"zona": None},
    {"dias": "01234"}, {"dias": 3}, {"dias": [1, "2"]}, {"dias": [[1]]}, {"dias": []}, {"dias": [7]}, {"dias": None},
    {"desde": "9:00"}, {"desde": "25:00"}, {"desde": "09:60"}, {"desde": "09:00:00"}, {"desde": 900},
    {"desde": None}, {"desde": "nueve"}, {"desde": "٠٩:٠٠"}, {"hasta": "08:00"}, {"desde": "18:00", "hasta": "18:00"},
    {"cierres": "2026-12-24"}, {"cierres": ["2026-13-01"]}, {"cierres": ["20261224"]}, {"cierres": ["2026-W52-4"]},
    {"cierres": [20261224]}, {"cierres": [None]}, {"cierres": [["2026-12-24"]]}, {"cierres": {"2026-12-24": 1}},
    {"cierres": ["2026-12-24T00:00:00"]}, {"cierres": [datetime(2026, 12, 24)]},
    {"pais": 34}, {"pais": "XX"}, {"pais": None, "region": "MD"}, {"region": "XX"}, {"region": ["MD"]},
    {"zonas": "UTC"}, {1: 2}, {None: 1},
])
def test_of_refuses_garbage_with_value_error(valor):
    with pytest.raises(ValueError):
        Calendario.of(valor)


# -- properties -----------------------------------------------------------------------
# A reference computation, plain and slow: each local date's hours built from
# the wall times, a skipped wall time found by stepping a minute at a time.

ZONAS = ("Europe/Madrid", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")
FESTIVOS = ((None, None), ("ES", None), ("ES", "MD"), ("US", None), ("US", "NY"))
PRIMERO, ULTIMO = date(2024, 1, 1), date(2028, 12, 31)
PROPIEDAD = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow])


@cache
def _festivos_ref(pais: str, region: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(pais, subdiv=region, years=range(2023, 2032))


def _es_laborable_ref(cal: Calendario, dia: date) -> bool:
    festivo = cal.pais is not None and dia in _festivos_ref(cal.pais, cal.region)
    return dia.weekday() in cal.dias and not festivo and dia not in set(cal.cierres)


def _pared(instante: datetime, tz: ZoneInfo) -> datetime:
    return instante.astimezone(tz).replace(tzinfo=None)


def _instante_ref(dia: date, hora: time, tz: ZoneInfo) -> datetime:
    """The first instant whose wall time is ``hora`` on ``dia``, or, if none
    is, the first whose wall time is later."""
    pared = datetime.combine(dia, hora)
    lecturas = [pared.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    existen = [x for x in lecturas if _pared(x, tz) == pared]
    if existen:
        return min(existen)
    x = min(lecturas)
    while _pared(x, tz) <= pared:
        x += MIN
    return x


def _jornada_ref(cal: Calendario, dia: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(cal.zona)
    return _instante_ref(dia, cal.desde, tz), _instante_ref(dia, cal.hasta, tz)


def _laborable_ref(cal: Calendario, a: datetime, b: datetime) -> timedelta:
    tz, total = ZoneInfo(cal.zona), timedelta(0)
    dia, ultimo = a.astimezone(tz).date() - timedelta(days=1), b.astimezone(tz).date() + timedelta(days=1)
    while dia <= ultimo:
        if _es_laborable_ref(cal, dia):
            inicio, fin = _jornada_ref(cal, dia)
            inicio, fin = max(inicio, a), min(fin, b)
            if inicio < fin:
                total += fin - inicio
        dia += timedelta(days=1)
    return total


def _cambios(zona: str) -> list[date]:
    """The dates 2024-2028 on which the zone's clocks change."""
    tz, dias = ZoneInfo(zona), []
    dia = PRIMERO
    while dia <= ULTIMO:
        if not _sin_cambio(dia, tz):
            dias.append(dia)
        dia += timedelta(days=1)
    return dias


def _sin_cambio(dia: date, tz: ZoneInfo) -> bool:
    return (datetime.combine(dia, time(0), tzinfo=tz).utcoffset()
            == datetime.combine(dia, time(23, 59, 59), tzinfo=tz).utcoffset())


CAMBIOS = {zona: _cambios(zona) for zona in ZONAS}


@st.composite
def calendarios(draw: st.DrawFn) -> Calendario:
    inicio = draw(st.integers(0, 24 * 60 - 2))
    fin = draw(st.integers(inicio + 1, 24 * 60 - 1))
    pais, region = draw(st.sampled_from(FESTIVOS))
    return Calendario(
        zona=draw(st.sampled_from(ZONAS)),
        dias=tuple(draw(st.sets(st.integers(0, 6), min_size=1))),
        desde=time(*divmod(inicio, 60)),
        hasta=time(*divmod(fin, 60)),
        pais=pais,
        region=region,
        cierres=tuple(draw(st.lists(st.dates(PRIMERO, date(2029, 12, 31)), max_size=6))),
    )


def instantes(cal: Calendario) -> st.SearchStrategy[datetime]:
    """Anywhere in 2024-2028, or right at (or next to) a day's opening or
    closing, DST change days included."""
    libre = st.datetimes(datetime.combine(PRIMERO, time(0)), datetime.combine(ULTIMO, time(23, 59, 59, 999999)),
                         timezones=st.just(UTC))
    dias = st.dates(PRIMERO, ULTIMO)
    if CAMBIOS[cal.zona]:
        dias = st.one_of(dias, st.sampled_from(CAMBIOS[cal.zona]))
    tz = ZoneInfo(cal.zona)
    cerca = st.builds(lambda dia, hora, delta: _instante_ref(dia, hora, tz) + delta,
                      dias, st.sampled_from([cal.desde, cal.hasta]),
                      st.sampled_from([timedelta(0), US, -US, MIN, -MIN, H, -H]))
    return st.one_of(libre, cerca)


def duraciones(cal: Calendario) -> st.SearchStrategy[timedelta]:
    """Up to some 40 working days, at microseconds; whole days (ending at a
    closing) and tiny ones more often than chance would give."""
    jornada = (datetime.combine(PRIMERO, cal.hasta) - datetime.combine(PRIMERO, cal.desde)) // US
    return st.one_of(
        st.integers(0, 40 * jornada),
        st.integers(0, 40).map(lambda dias: dias * jornada),
        st.integers(0, 2000),
    ).map(lambda micros: micros * US)


@st.composite
def casos(draw: st.DrawFn, n_instantes: int = 1, n_duraciones: int = 1):
    cal = draw(calendarios())
    return (cal, [draw(instantes(cal)) for _ in range(n_instantes)],
            [draw(duraciones(cal)) for _ in range(n_duraciones)])


@PROPIEDAD
@given(casos())
def test_sumar_adds_exactly_the_duration_and_no_less_would_do(caso):
    cal, [a], [d] = caso
    resultado = cal.sumar(a, d)
    assert resultado.tzinfo is UTC and resultado >= a
    assert cal.laborable_entre(a, resultado) == d
    assert _laborable_ref(cal, a, resultado) == d
    if d:
        assert cal.laborable_entre(a, resultado - US) < d
        assert _laborable_ref(cal, a, resultado - US) == d - US
    else:
        assert resultado == a


@PROPIEDAD
@given(casos(n_instantes=2))
def test_laborable_entre_agrees_with_the_reference(caso):
    cal, [a, b], _ = caso
    b = min(b, a + timedelta(days=60))
    assert cal.laborable_entre(a, b) == _laborable_ref(cal, a, b)
    if b > a:
        assert cal.laborable_entre(b, a) == timedelta(0)


@PROPIEDAD
@given(casos(n_instantes=3))
def test_business_time_adds_up_over_consecutive_intervals(caso):
    cal, instantes_, _ = caso
    a, b, c = sorted(instantes_)
    c = min(c, a + timedelta(days=90))
    b = min(b, c)
    ab, bc, ac = cal.laborable_entre(a, b), cal.laborable_entre(b, c), cal.laborable_entre(a, c)
    assert ac == ab + bc  # so a pause takes away exactly its own business time
    assert ab <= ac  # monotone in the end


@PROPIEDAD
@given(casos(n_duraciones=2))
def test_sumar_is_monotone_in_the_duration(caso):
    cal, [a], duraciones_ = caso
    d1, d2 = sorted(duraciones_)
    assert cal.sumar(a, d1) <= cal.sumar(a, d2)


@PROPIEDAD
@given(casos(n_duraciones=2))
def test_sumar_composes(caso):
    cal, [a], [d1, d2] = caso
    intermedio = cal.sumar(a, d1)
    final = cal.sumar(intermedio, d2)
    assert cal.laborable_entre(a, final) == d1 + d2
    # the earliest instant with d1 + d2 behind it is the earliest with d2 behind the earliest with d1
    assert final == cal.sumar(a, d1 + d2)


@PROPIEDAD
@given(casos())
def test_a_deadline_falls_within_the_hours_of_a_working_day(caso):
    cal, [a], [d] = caso
    if not d:
        return
    tz = ZoneInfo(cal.zona)
    resultado = cal.sumar(a, d)
    dia = resultado.astimezone(tz).date()
    assert cal.es_laborable(dia) and _es_laborable_ref(cal, dia)
    inicio, fin = _jornada_ref(cal, dia)
    assert inicio < resultado <= fin
    if _sin_cambio(dia, tz):
        assert cal.desde < resultado.astimezone(tz).time() <= cal.hasta


@PROPIEDAD
@given(casos(n_instantes=2))
def test_working_intervals_are_ordered_disjoint_and_within_working_days(caso):
    cal, [a, b], _ = caso
    b = min(b, a + timedelta(days=60))
    tz = ZoneInfo(cal.zona)
    tramos = list(cal.tramos(a, b))
    anterior = a
    for inicio, fin in tramos:
        assert inicio.tzinfo is UTC and fin.tzinfo is UTC
        assert anterior <= inicio < fin <= b
        assert cal.es_laborable(inicio.astimezone(tz).date())
        anterior = fin
    assert sum((fin - inicio for inicio, fin in tramos), timedelta(0)) == cal.laborable_entre(a, b)


@PROPIEDAD
@given(casos(n_instantes=2), st.sampled_from([ZoneInfo(z) for z in ZONAS] + [
    timezone(timedelta(hours=-11)), timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=14))]))
def test_the_outcome_does_not_depend_on_the_offset_the_instant_is_given_in(caso, otra):
    cal, [a, b], [d] = caso
    b = min(b, a + timedelta(days=60))
    a2, b2 = a.astimezone(otra), b.astimezone(otra)
    assert cal.sumar(a2, d) == cal.sumar(a, d) and cal.sumar(a2, d).tzinfo is UTC
    assert cal.laborable_entre(a2, b2) == cal.laborable_entre(a, b)
    assert list(cal.tramos(a2, b2)) == list(cal.tramos(a, b))


@PROPIEDAD
@given(calendarios(), st.dates(PRIMERO, ULTIMO))
def test_es_laborable_agrees_with_the_holidays_package_and_survives_the_dict_form(cal, dia):
    assert cal.es_laborable(dia) == _es_laborable_ref(cal, dia)
    assert Calendario.of(json.loads(json.dumps(cal.to_dict()))) == cal
