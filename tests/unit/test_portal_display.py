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


# -- waiting on the customer -----------------------------------------------------------------
def test_the_waiting_state_in_staffs_words_and_in_the_customers():
    assert display.estado("esperando_cliente") == "Esperando al cliente"
    assert display.estado("esperando_cliente", cliente=True) == "Pendiente de su respuesta"
    assert display.estado("en_curso", cliente=True) == display.estado("en_curso") == "En curso"
    assert list(display.ESTADOS) == list(display.ESTADOS_CLIENTE)  # the same states, in the same order


def test_the_domain_sets_as_the_portal_uses_them():
    assert "esperando_cliente" not in display.ASIGNABLES
    assert "esperando_cliente" not in display.EDITABLES and "esperando_cliente" not in display.FINALES
    assert display.CONSULTABLES == ("asignada", "en_curso")
    assert "esperando_cliente" in display.RETIRABLES and "resuelta" not in display.RETIRABLES
    assert set(display.CANCELABLES) < set(display.RETIRABLES)


def test_the_question_and_the_customers_answer_in_the_timeline():
    historial = [
        entry("en_curso", "esperando_cliente", cambios={"consulta": {"de": None, "a": "k1"}}),
        entry("esperando_cliente", "en_curso", CLIENTE),
        entry("en_curso", "esperando_cliente", cambios={"consulta": {"de": None, "a": "k2"}}),
        entry("esperando_cliente", "cerrada", SISTEMA, motivo="cierre automático"),
    ]
    assert [(h.texto, h.quien) for h in display.timeline(historial)] == [
        ("Pregunta al cliente", "Equipo de soporte"), ("El cliente respondió", "Cliente"),
        ("Pregunta al cliente", "Equipo de soporte"), ("Cerrada automáticamente", "Automático")]


def test_the_pending_question_is_the_comment_the_last_consulta_names():
    incidencia = {
        "estado": "esperando_cliente",
        "historial": [entry("asignada", "esperando_cliente", cambios={"consulta": {"de": None, "a": "k1"}}),
                      entry("esperando_cliente", "en_curso", CLIENTE),
                      entry("en_curso", "esperando_cliente", cambios={"consulta": {"de": None, "a": "k2"}})],
        "comentarios": [{"id": "k1", "texto": "¿Qué color?"}, {"id": "c", "texto": "Rojo"},
                        {"id": "k2", "texto": "¿Y la talla?"}],
    }
    assert display.pending_question(incidencia)["texto"] == "¿Y la talla?"
    assert display.pending_question({**incidencia, "estado": "en_curso"}) is None
    assert display.pending_question({**incidencia, "comentarios": []}) is None


# -- service levels --------------------------------------------------------------------------
def seguimiento(estado, vence_en=None, cumplido_en=None):
    return {"objetivo_minutos": 60, "estado": estado, "vence_en": vence_en, "en_riesgo_desde": None,
            "cumplido_en": cumplido_en}


@pytest.mark.parametrize("minutos, text", [(None, "—"), (30, "30 min"), (60, "1 h"), (90, "1 h 30 min"),
                                           (1080, "18 h"), (2 * 24 * 60 + 5, "48 h 5 min")])
def test_targets_in_hours_and_minutes(minutos, text):
    assert display.minutes(minutos) == text


@pytest.mark.parametrize("minutos, text", [(None, ""), (60, "1"), (90, "1,5"), (100, "1,6667"), (1080, "18"),
                                           (1, "0,0167")])
def test_targets_in_the_forms_hours(minutos, text):
    assert display.hours_field(minutos) == text


def test_the_worst_target_is_the_one_a_queue_row_shows():
    sla = {"primera_respuesta": seguimiento("cumplido", "2026-12-07T10:00:00Z", "2026-12-07T09:00:00Z"),
           "resolucion": seguimiento("en_plazo", "2026-12-09T17:00:00Z")}
    assert display.worst_target(sla)["objetivo"] == "resolucion"
    assert display.worst_target(sla)["nombre"] == "Resolución"
    sla["resolucion"] = seguimiento("incumplido", "2026-12-05T17:00:00Z")
    sla["primera_respuesta"] = seguimiento("en_riesgo", "2026-12-07T10:00:00Z")
    assert display.worst_target(sla)["estado"] == "incumplido"
    both = {"primera_respuesta": seguimiento("en_plazo", "2026-12-08T10:00:00Z"),
            "resolucion": seguimiento("en_plazo", "2026-12-07T10:00:00Z")}
    assert display.worst_target(both)["objetivo"] == "resolucion"  # the first due among equals
    paused = {"primera_respuesta": seguimiento("cumplido", "x", "y"), "resolucion": seguimiento("pausado")}
    assert display.worst_target(paused)["estado"] == "pausado"
    assert display.worst_target(None) is None


def test_sla_states_always_in_words():
    assert [display.sla_estado(e) for e in ("en_plazo", "en_riesgo", "pausado", "cumplido", "incumplido")] == [
        "En plazo", "En riesgo", "En pausa", "Cumplido", "Incumplido"]
    assert set(display.SLA_FILTROS) == {"en_plazo", "en_riesgo", "incumplido"}
    assert "vencimiento" in display.ordenes(False) and "vencimiento" in display.ordenes(True)


@pytest.mark.parametrize("dias, text", [
    ([0, 1, 2, 3, 4], "De lunes a viernes"), (range(7), "Todos los días"), ([0, 2, 5], "Lunes, miércoles y sábado"),
    ([5, 6], "Sábado y domingo"), ([3], "Jueves"), ([], "Ninguno")])
def test_working_weekdays_in_words(dias, text):
    assert display.weekdays(dias) == text


def test_closing_days_as_the_pages_show_them():
    assert display.day("2026-12-24") == "24/12/2026"
    assert display.day("mañana") == "mañana"
