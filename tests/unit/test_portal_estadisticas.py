"""The statistics page's period and tables: the days typed (either
writing) into the API's RFC 3339 instants, whole days in UTC with the last
one included; the API's period back into the form's days; the service
levels' rows pivoted into a table per dimension; the ratings in words; and
the small bar of a row."""
from __future__ import annotations

import pytest

from portal import charts, display
from portal.equipo_estadisticas import (
    ANTES_DE_DESDE, NO_ES_FECHA, day_of, period_dates, period_query, satisfaction, service_levels,
)


@pytest.mark.parametrize("typed, day", [
    ("2026-12-01", "2026-12-01"), ("01/12/2026", "2026-12-01"), (" 1-12-2026 ", "2026-12-01"),
    ("29/02/2028", "2028-02-29")])
def test_a_day_in_either_writing(typed, day):
    assert day_of(typed).isoformat() == day


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_a_blank_day_is_no_day(typed):
    assert day_of(typed) is None


@pytest.mark.parametrize("typed", ["mañana", "31/02/2026", "2026-13-01", "2026-12-01T00:00:00Z", "12/2026"])
def test_what_is_no_day(typed):
    with pytest.raises(ValueError):
        day_of(typed)


def test_the_period_is_whole_days_in_utc_with_the_last_one_included():
    params, valores, errores = period_query({"desde": "01/11/2026", "hasta": "2026-11-30"})
    assert not errores
    assert params == {"desde": "2026-11-01T00:00:00Z", "hasta": "2026-12-01T00:00:00Z"}
    assert valores == {"desde": "2026-11-01", "hasta": "2026-11-30"}  # as a date input holds them


def test_one_day_is_a_period_and_the_year_turns():
    params, _, errores = period_query({"desde": "2026-12-31", "hasta": "2026-12-31"})
    assert not errores
    assert params == {"desde": "2026-12-31T00:00:00Z", "hasta": "2027-01-01T00:00:00Z"}


def test_no_days_is_the_apis_own_period_and_one_day_alone_is_sent_alone():
    params, valores, errores = period_query({})
    assert (params, valores, bool(errores)) == ({}, {"desde": "", "hasta": ""}, False)
    assert period_query({"desde": "2026-11-01", "hasta": ""})[0] == {"desde": "2026-11-01T00:00:00Z"}
    assert period_query({"hasta": "2026-11-30"})[0] == {"hasta": "2026-12-01T00:00:00Z"}


def test_wrong_days_are_said_next_to_their_field_and_nothing_is_asked():
    params, valores, errores = period_query({"desde": "ayer", "hasta": "2026-11-30"})
    assert params == {}
    assert errores.campos == {"desde": NO_ES_FECHA}
    assert valores["desde"] == "ayer"  # kept as typed, to be corrected
    params, _, errores = period_query({"desde": "2026-12-05", "hasta": "2026-12-01"})
    assert params == {} and errores.campos == {"hasta": ANTES_DE_DESDE}
    assert period_query({"hasta": "9999-12-31"})[2].campos == {"hasta": NO_ES_FECHA}


def test_the_apis_period_back_into_the_forms_days():
    # The API's default: 30 days up to now; its end is excluded, so midnight ends the day before.
    assert period_dates({"desde": "2026-11-06T22:46:43.270200Z", "hasta": "2026-12-06T22:46:43.270200Z"}) == {
        "desde": "2026-11-06", "hasta": "2026-12-06"}
    assert period_dates({"desde": "2026-11-01T00:00:00Z", "hasta": "2026-12-01T00:00:00Z"}) == {
        "desde": "2026-11-01", "hasta": "2026-11-30"}
    assert period_dates({"desde": "2026-11-01T00:30:00+01:00", "hasta": None}) == {"desde": "2026-10-31"}
    assert period_dates(None) == {}


def fila(objetivo, dimension, valor, cumplidos, incumplidos, nombre=""):
    total = cumplidos + incumplidos
    return {"objetivo": objetivo, "dimension": dimension, "valor": valor, "nombre": nombre, "cumplidos": cumplidos,
            "incumplidos": incumplidos, "porcentaje": round(100 * cumplidos / total, 1) if total else None}


def test_the_service_levels_rows_become_a_table_per_dimension_with_a_cell_per_target():
    niveles = service_levels([
        fila("primera_respuesta", "total", "", 3, 1), fila("resolucion", "total", "", 2, 0),
        fila("primera_respuesta", "prioridad", "critica", 0, 1), fila("primera_respuesta", "prioridad", "baja", 3, 0),
        fila("resolucion", "prioridad", "baja", 2, 0),
        fila("primera_respuesta", "categoria", "", 1, 0), fila("primera_respuesta", "categoria", "garantia", 2, 1),
        fila("primera_respuesta", "agente", "e2", 1, 0, "Jorge Marín"),
        fila("primera_respuesta", "agente", "e1", 2, 1, "eva López"),
    ])
    assert niveles["total"]["primera_respuesta"] == {
        "cumplidos": 3, "incumplidos": 1, "total": 4, "porcentaje": 75.0, "texto": "75 %", "barra": 60.0}
    assert [f["valor"] for f in niveles["prioridad"]] == ["baja", "critica"]  # the priorities' own order
    critica = niveles["prioridad"][1]
    assert critica["nombre"] == "Crítica"
    assert critica["objetivos"]["primera_respuesta"]["texto"] == "0 %"
    assert critica["objetivos"]["resolucion"] is None  # no settled resolution: no cell
    assert [(f["valor"], f["nombre"]) for f in niveles["categoria"]] == [("garantia", "Garantía"),
                                                                         ("", display.SIN_CATEGORIA)]
    assert niveles["categoria"][0]["objetivos"]["primera_respuesta"]["texto"] == "66,7 %"
    assert [f["nombre"] for f in niveles["agente"]] == ["eva López", "Jorge Marín"]  # by name, any case


def test_no_rows_no_tables():
    assert service_levels([]) == {"total": {}, "prioridad": [], "categoria": [], "agente": []}


def test_the_ratings_in_words_the_spread_from_five_down_and_the_rows_by_name():
    sat = satisfaction({
        "valoraciones": 4, "cerradas": 6, "tasa_respuesta": 66.7, "media": 3.75,
        "distribucion": {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1},
        "por_agente": [{"id": "e2", "nombre": "Jorge Marín", "valoraciones": 1, "media": 2.0},
                       {"id": "e1", "nombre": "Eva López", "valoraciones": 3, "media": 4.33}],
        "por_categoria": [{"categoria": "", "valoraciones": 1, "media": 5.0},
                          {"categoria": "envios", "valoraciones": 3, "media": 3.33}],
    })
    assert (sat["media"], sat["tasa"], sat["valoraciones"], sat["cerradas"]) == ("3,8 de 5", "66,7 %", 4, 6)
    assert [(b.label, b.value) for b in sat["grafico"].bars] == [
        ("5 · Muy bien", 1), ("4 · Bien", 2), ("3 · Regular", 0), ("2 · Mal", 1), ("1 · Muy mal", 0)]
    assert [r["parte"] for r in sat["reparto"]] == ["25 %", "50 %", "0 %", "25 %", "0 %"]
    assert [(a["nombre"], a["media"]) for a in sat["por_agente"]] == [("Eva López", "4,3"), ("Jorge Marín", "2")]
    assert [(c["nombre"], c["media"]) for c in sat["por_categoria"]] == [("Envíos", "3,3"),
                                                                         (display.SIN_CATEGORIA, "5")]


def test_no_ratings_at_all():
    sat = satisfaction({"valoraciones": 0, "cerradas": 0, "tasa_respuesta": None, "media": None,
                        "distribucion": {str(n): 0 for n in range(1, 6)}, "por_agente": [], "por_categoria": []})
    assert (sat["media"], sat["tasa"]) == ("sin valoraciones", "—")
    assert [r["parte"] for r in sat["reparto"]] == ["—"] * 5


@pytest.mark.parametrize("percentage, length", [(None, None), (0, 0.0), (0.5, 2.0), (50, 40.0), (100, 80.0),
                                                (140, 80.0), (-3, 0.0)])
def test_a_rows_bar_is_its_share_of_the_width(percentage, length):
    assert charts.meter(percentage) == length
