"""The service levels page's form: hours typed (decimals, a comma, h:mm)
into the API's minutes, blank targets as no service level, closing days
one a line, and the API's refusals next to the form's own fields."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from portal.api import Problem
from portal.equipo_sla import (
    FUERA_DE_RANGO, LOS_DOS, NO_ES_HORAS, SIN_CATEGORIA, SIN_PLAZOS, UN_DIA, YA_ESTA, closing_days, form_of_policy,
    minutes_of_hours, policy_errors, policy_from_form,
)

POLITICA = {
    "calendario": {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00", "hasta": "18:00",
                   "pais": "ES", "region": "MD", "cierres": ["2026-12-24", "2026-12-31"]},
    "por_prioridad": {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 1080},
                      "critica": {"primera_respuesta_minutos": 30, "resolucion_minutos": 90}},
    "por_categoria": {"envios": {"alta": {"primera_respuesta_minutos": 60, "resolucion_minutos": 540}}},
    "version": 3, "actualizada_en": "2026-12-06T10:00:00Z",
}


def form(**fields) -> MultiDict:
    """The form as the page draws it for POLITICA, with ``fields`` changed (a list: several values)."""
    values = {k: v for k, v in form_of_policy(POLITICA).items()}
    values.update(fields)
    pairs = []
    for name, value in values.items():
        pairs.extend((name, v) for v in value) if isinstance(value, list) else pairs.append((name, value))
    pairs.append(("por_categoria", "envios"))
    return MultiDict(pairs)


@pytest.mark.parametrize("typed, minutes", [
    ("2", 120), ("1,5", 90), ("1.5", 90), (" 0,25 ", 15), ("1:30", 90), ("0:05", 5), ("18", 1080), ("", None),
    ("   ", None), (None, None), ("0,0001", 0), ("-1", -60)])
def test_hours_into_minutes(typed, minutes):
    assert minutes_of_hours(typed) == minutes


@pytest.mark.parametrize("typed", ["dos", "1,5h", "1:75", "inf", "NaN", "1,2,3"])
def test_what_is_no_number_of_hours(typed):
    with pytest.raises(ValueError):
        minutes_of_hours(typed)


def test_closing_days_one_a_line_in_either_writing():
    assert closing_days("24/12/2026\n\n2026-12-31\r\n 24/12/2026 ") == (["2026-12-24", "2026-12-31"], [])
    assert closing_days("1/1/2027, 6-1-2027") == (["2027-01-01", "2027-01-06"], [])
    assert closing_days("31/02/2026\nmañana\n2026-12-24") == (["2026-12-24"], ["31/02/2026", "mañana"])
    assert closing_days("") == ([], [])


def test_the_policy_drawn_into_the_form_comes_back_as_it_was():
    body, errores = policy_from_form(form())
    assert not errores
    assert body == {k: POLITICA[k] for k in ("calendario", "por_prioridad", "por_categoria")}


def test_the_form_shows_hours_and_days_as_people_write_them():
    valores = form_of_policy(POLITICA)
    assert valores["por_prioridad.critica.resolucion_horas"] == "1,5"
    assert valores["por_categoria.envios.alta.primera_respuesta_horas"] == "1"
    assert valores["calendario.cierres"] == "24/12/2026\n31/12/2026"
    assert valores["calendario.dias"] == ["0", "1", "2", "3", "4"]
    assert "por_prioridad.baja.primera_respuesta_horas" not in valores  # no targets: blank


def test_blank_targets_leave_the_priority_without_a_service_level():
    body, errores = policy_from_form(form(**{"por_prioridad.critica.primera_respuesta_horas": "",
                                             "por_prioridad.critica.resolucion_horas": " ",
                                             "por_prioridad.baja.primera_respuesta_horas": "24",
                                             "por_prioridad.baja.resolucion_horas": "40,5"}))
    assert not errores
    assert body["por_prioridad"] == {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 1080},
                                     "baja": {"primera_respuesta_minutos": 1440, "resolucion_minutos": 2430}}


def test_one_target_without_the_other_is_said_next_to_the_blank_one():
    _, errores = policy_from_form(form(**{"por_prioridad.media.resolucion_horas": "8"}))
    assert errores.campos == {"por_prioridad.media.primera_respuesta_horas": LOS_DOS}


def test_what_is_no_number_is_said_next_to_it_and_nothing_is_sent():
    _, errores = policy_from_form(form(**{"por_prioridad.alta.primera_respuesta_horas": "dos"}))
    assert errores.campos == {"por_prioridad.alta.primera_respuesta_horas": NO_ES_HORAS}


def test_the_calendar_from_the_form():
    body, errores = policy_from_form(form(**{
        "calendario.dias": ["5", "0", "0", "9", "x"], "calendario.desde": "8:30", "calendario.hasta": "17:00:00",
        "calendario.pais": " es ", "calendario.region": "", "calendario.zona": " America/Mexico_City ",
        "calendario.cierres": ""}))
    assert not errores
    assert body["calendario"] == {"zona": "America/Mexico_City", "dias": [0, 5], "desde": "08:30", "hasta": "17:00",
                                  "pais": "ES", "region": None, "cierres": []}


def test_no_weekday_ticked_and_dates_that_are_none():
    _, errores = policy_from_form(form(**{"calendario.dias": [], "calendario.cierres": "24/12/2026\n32/12/2026"}))
    assert errores.campos["calendario.dias"] == UN_DIA
    assert errores.campos["calendario.cierres"].startswith("No es una fecha: «32/12/2026».")


def test_blank_required_calendar_fields_are_left_for_the_api_to_name():
    body, errores = policy_from_form(form(**{"calendario.zona": "  ", "calendario.desde": ""}))
    assert not errores
    assert "zona" not in body["calendario"] and "desde" not in body["calendario"]


def test_a_categorys_targets_edited_removed_and_one_added():
    body, _ = policy_from_form(form(**{"por_categoria.envios.alta.primera_respuesta_horas": "0,5"}))
    assert body["por_categoria"] == {"envios": {"alta": {"primera_respuesta_minutos": 30, "resolucion_minutos": 540}}}
    body, errores = policy_from_form(form(**{
        "por_categoria.envios.alta.primera_respuesta_horas": "", "por_categoria.envios.alta.resolucion_horas": "",
        "nueva_categoria": "garantia", "nueva.critica.primera_respuesta_horas": "0,25",
        "nueva.critica.resolucion_horas": "4"}))
    assert not errores
    assert body["por_categoria"] == {
        "garantia": {"critica": {"primera_respuesta_minutos": 15, "resolucion_minutos": 240}}}


@pytest.mark.parametrize("fields, message", [
    ({"nueva_categoria": "garantia"}, SIN_PLAZOS),
    ({"nueva.alta.primera_respuesta_horas": "1", "nueva.alta.resolucion_horas": "2"}, SIN_CATEGORIA),
    ({"nueva_categoria": "envios", "nueva.alta.primera_respuesta_horas": "1", "nueva.alta.resolucion_horas": "2"},
     YA_ESTA),
])
def test_the_new_categorys_row_needs_a_category_and_targets(fields, message):
    _, errores = policy_from_form(form(**fields))
    assert errores.campos == {"nueva_categoria": message}


def problem(*errores):
    return Problem(status=422, title="Datos no válidos", detail="Revise estos campos",
                   errores=[{"campo": c, "mensaje": m, "ubicacion": "cuerpo"} for c, m in errores])


def test_the_apis_refusal_next_to_the_forms_fields():
    errores = policy_errors(problem(
        ("calendario.zona", "Zona horaria desconocida (una de la base de datos IANA, como Europe/Madrid)."),
        ("calendario.hasta", "Debe ser posterior a desde."),
        ("calendario.cierres.0", "Not a valid date."),
        ("por_prioridad.alta.value.primera_respuesta_minutos",
         "De 1 a 527040 minutos."),
        ("por_categoria.envios.value.alta.value.resolucion_minutos", "Missing data for required field."),
        ("por_categoria.garantia.value.critica.value.resolucion_minutos",
         "De 1 a 527040 minutos."),
        ("por_categoria.garantia.key", "Longer than maximum length 50."),
    ), ["envios"], "garantia")
    assert errores.campos == {
        "calendario.zona": "Zona horaria desconocida (una de la base de datos IANA, como Europe/Madrid).",
        "calendario.hasta": "Debe ser posterior a desde.",
        "calendario.cierres": "No es una fecha válida.",
        "por_prioridad.alta.primera_respuesta_horas": FUERA_DE_RANGO,
        "por_categoria.envios.alta.resolucion_horas": "Este campo es obligatorio.",
        "nueva.critica.resolucion_horas": FUERA_DE_RANGO,
        "nueva_categoria": "Como mucho 50 caracteres.",
    }
    assert errores.generales == []


def test_what_the_form_has_no_field_for_goes_above_it():
    errores = policy_errors(problem(("por_prioridad.urgente.key", "Must be one of: baja, media, alta, critica.")),
                            [], None)
    assert errores.campos == {}
    assert errores.generales == ["por_prioridad.urgente.key: Debe ser uno de: baja, media, alta, critica."]
