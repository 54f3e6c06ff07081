"""How the portal words an incident: its historial as a Spanish timeline,
states, categories, instants and durations."""
from __future__ import annotations

import pytest

from portal import display

AGENTE = {"id": "e1", "rol": "agente"}
CLIENTE = {"id": "c1", "rol": "cliente"}
SISTEMA = {"id": "sistema", "rol": "sistema"}
EN = "2026-12-01T10:00:00.000000Z"


def entry(de, a, por=AGENTE, motivo=None, cambios=None):
    return {"de": de, "a": a, "por": por, "en": EN, "motivo": motivo, "cambios": cambios}


def test_the_whole_lifecycle_in_words():
    historial = [
        entry(None, "abierta", CLIENTE),
        entry("abierta", "asignada", SISTEMA,
              cambios={"asignada_a": {"de": None, "a": {"id": "e1", "nombre": "Eva López"}}}),
        entry("asignada", "en_curso"),
        entry("en_curso", "resuelta"),
        entry("resuelta", "reabierta", CLIENTE, motivo="La nueva también llegó rota"),
        entry("reabierta", "asignada", SISTEMA,
              cambios={"asignada_a": {"de": {"id": "e1", "nombre": "Eva López"},
                                      "a": {"id": "e1", "nombre": "Eva López"}}}),
        entry("asignada", "resuelta"),
        entry("resuelta", "cerrada", CLIENTE),
    ]
    assert [h.texto for h in display.timeline(historial)] == [
        "Abierta", "Asignada a Eva López", "En curso", "Solución propuesta", "Reabierta: La nueva también llegó rota",
        "Asignada a Eva López", "Solución propuesta", "Cerrada",
    ]
    assert [h.quien for h in display.timeline(historial)][:3] == ["Cliente", "Automático", "Equipo de soporte"]


def test_cancelled_with_and_without_a_reason_and_the_automatic_close():
    assert display.hito(entry("abierta", "cancelada", CLIENTE)).texto == "Cancelada"
    assert display.hito(entry("abierta", "cancelada", CLIENTE, motivo="Ya no la necesito")).texto == \
        "Cancelada: Ya no la necesito"
    assert display.hito(entry("resuelta", "cerrada", SISTEMA, motivo="cierre automático")).texto == \
        "Cerrada automáticamente"


def test_a_change_of_data_says_what_changed_from_what_to_what():
    hito = display.hito(entry("en_curso", "en_curso", cambios={
        "prioridad": {"de": "media", "a": "critica"}, "categoria": {"de": None, "a": "garantia"}}))
    assert hito.texto == "Prioridad cambiada de Media a Crítica; Categoría cambiada de Sin categoría a Garantía"


def test_an_assignment_without_a_known_name_and_an_empty_historial():
    assert display.hito(entry("abierta", "asignada", cambios={"asignada_a": {"de": None, "a": {"id": "x"}}})).texto \
        == "Asignada"
    assert display.timeline(None) == []


def test_instants_to_the_minute_in_utc_for_the_time_element():
    assert display.instant("2026-12-01T10:00:59.123456Z") == ("2026-12-01T10:00:59Z", "01/12/2026 10:00 UTC")
    assert display.instant("2026-12-01T11:00:00+01:00") == ("2026-12-01T10:00:00Z", "01/12/2026 10:00 UTC")
    assert display.instant(None) is None and display.instant("ayer") is None


@pytest.mark.parametrize("seconds, text", [
    (None, "sin datos"), (0, "0 s"), (42.4, "42 s"), (125, "2 min 5 s"), (3600, "1 h"), (3 * 3600 + 61, "3 h 1 min"),
    (2 * 86400 + 3 * 3600 + 59, "2 d 3 h"),
])
def test_durations_with_their_two_largest_units(seconds, text):
    assert display.duration(seconds) == text


def test_words_of_states_priorities_categories_and_roles():
    assert display.estado("en_curso") == "En curso"
    assert display.prioridad("critica") == "Crítica"
    assert display.categoria(None) == "Sin categoría"
    assert display.categoria("envios") == "Envíos"
    assert display.categoria("muebles") == "Muebles"
    assert display.rol("admin") == "Administrador"


def test_a_week_by_channel_shows_each_count_and_the_share_that_came_by_phone():
    semana = {"semana": "2026-W49", "desde": "2026-11-30T00:00:00.000000Z", "web": 6, "telefono": 3, "email": 1}
    assert display.week_by_channel(semana) == {
        "semana": "2026-W49", "desde": "2026-11-30T00:00:00.000000Z",
        "cuentas": [("Web", 6), ("Teléfono", 3), ("Email", 1)], "telefono_pct": 30}
    empty = display.week_by_channel({**semana, "web": 0, "telefono": 0, "email": 0})
    assert empty["telefono_pct"] is None
    assert display.week_of("2026-11-30T00:00:00.000000Z") == "del 30/11/2026" and display.week_of(None) == ""
