"""Service levels on one incident: which targets a policy gives it, and how
it stands against them as it moves (``incidencias_dominio.plazos``). Pure:
the domain builds the incidents; the business-time arithmetic itself is
``test_calendario``'s."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from incidencias_dominio import (
    APERTURA, PRIMERA_RESPUESTA, RESOLUCION, RESOLUCION_OBJETIVO, EmpleadoRef, EstadoSla, Incidencia, Plazos,
    PoliticaSla, seguimiento,
)

MADRID = ZoneInfo("Europe/Madrid")
POLITICA = PoliticaSla.of({
    "calendario": {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00", "hasta": "18:00",
                   "pais": "ES", "region": "MD", "cierres": []},
    "por_prioridad": {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 2 * 9 * 60},
                      "media": {"primera_respuesta_minutos": 480, "resolucion_minutos": 5 * 9 * 60}},
    "por_categoria": {"envio": {"alta": {"primera_respuesta_minutos": 60, "resolucion_minutos": 540}}},
})
AGENTE = {"id": "e-1", "rol": "agente", "nombre": "Eva"}
CLIENTE = {"id": "c-1", "rol": "cliente", "nombre": "Ana"}


def madrid(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """An instant of November 2026 (Friday 20 to Monday 30: no holiday), Madrid's wall time, in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=MADRID).astimezone(timezone.utc)


def viernes_tarde(prioridad: str = "alta", categoria: str | None = None, en: datetime | None = None) -> Incidencia:
    """Opened on Friday 20 November 2026 at 17:30 in Madrid."""
    return Incidencia.abrir("i-1", {"id": "c-1", "nombre": "Ana"}, {"referencia": "R", "nombre": "Lámpara"},
                            "No enciende", "Nada", categoria, prioridad, en or madrid(20, 17, 30),
                            plazos=POLITICA.plazos_para(prioridad, categoria))


def test_the_policy_gives_the_priority_targets_and_a_category_may_replace_them():
    assert POLITICA.plazos_para("alta", None).objetivos.primera_respuesta_minutos == 120
    assert POLITICA.plazos_para("alta", "envio").objetivos.primera_respuesta_minutos == 60
    assert POLITICA.plazos_para("media", "envio").objetivos.primera_respuesta_minutos == 480
    assert POLITICA.plazos_para("baja", None) is None


def test_a_policy_and_its_targets_survive_their_dict_forms():
    assert PoliticaSla.of(POLITICA.to_dict()) == POLITICA
    plazos = POLITICA.plazos_para("alta", None)
    assert Plazos.of(plazos.to_dict()) == plazos


@pytest.mark.parametrize("bad", [
    {"por_prioridad": {"urgente": {"primera_respuesta_minutos": 1, "resolucion_minutos": 2}}},
    {"por_prioridad": {"alta": {"primera_respuesta_minutos": 0, "resolucion_minutos": 2}}},
    {"por_prioridad": {"alta": {"primera_respuesta_minutos": 1}}},
    {"por_prioridad": {"alta": {"primera_respuesta_minutos": True, "resolucion_minutos": 2}}},
    {"calendario": {"zona": "Marte/Olimpo"}},
    {"por_categoria": []},
])
def test_a_malformed_policy_is_refused(bad):
    with pytest.raises(ValueError):
        PoliticaSla.of(bad)


def test_friday_evening_is_due_on_the_next_working_days():
    """2 working hours to answer, 2 working days to resolve, Madrid's calendar."""
    i = viernes_tarde()
    sla = seguimiento(i, madrid(20, 17, 45))
    assert sla[PRIMERA_RESPUESTA].vence_en == madrid(23, 10, 30)  # 30 min on Friday, 90 on Monday
    assert sla[PRIMERA_RESPUESTA].en_riesgo_desde == madrid(23, 10, 6)  # 4/5 of 120 min
    assert sla[RESOLUCION_OBJETIVO].vence_en == madrid(24, 17, 30)  # 30 min, then 9 h on Monday, 8 h 30 on Tuesday
    assert {s.estado for s in sla.values()} == {EstadoSla.EN_PLAZO}


def test_madrid_holidays_push_the_due_instants():
    """Friday 4 December 2026: Monday 7 is Madrid's (Constitution Day moved from Sunday), Tuesday 8 the nation's."""
    i = viernes_tarde(en=madrid(4, 17, 30, month=12))
    sla = seguimiento(i, madrid(4, 17, 45, month=12))
    assert sla[PRIMERA_RESPUESTA].vence_en == madrid(9, 10, 30, month=12)
    assert sla[RESOLUCION_OBJETIVO].vence_en == madrid(10, 17, 30, month=12)


def test_the_state_follows_the_clock():
    i = viernes_tarde()
    assert seguimiento(i, madrid(23, 10, 5))[PRIMERA_RESPUESTA].estado is EstadoSla.EN_PLAZO
    assert seguimiento(i, madrid(23, 10, 6))[PRIMERA_RESPUESTA].estado is EstadoSla.EN_RIESGO
    assert seguimiento(i, madrid(23, 10, 30))[PRIMERA_RESPUESTA].estado is EstadoSla.INCUMPLIDO


def test_a_public_reply_of_staff_meets_the_first_answer_and_a_customer_comment_or_note_does_not():
    i = viernes_tarde()
    i.asignar(RESOLUCION, EmpleadoRef("e-1", "Eva"), AGENTE, madrid(20, 17, 31))
    i.comentar("c1", CLIENTE, "¿Hay novedades?", False, madrid(23, 9, 0))
    i.comentar("c2", AGENTE, "nota interna", True, madrid(23, 9, 10))
    assert seguimiento(i, madrid(23, 9, 20))[PRIMERA_RESPUESTA].cumplido_en is None
    i.comentar("c3", AGENTE, "Lo miramos hoy", False, madrid(23, 9, 30))
    primera = seguimiento(i, madrid(25, 12))[PRIMERA_RESPUESTA]
    assert (primera.estado, primera.cumplido_en, primera.vence_en) == (
        EstadoSla.CUMPLIDO, madrid(23, 9, 30), madrid(23, 10, 30))


def test_a_late_answer_stays_a_breach():
    i = viernes_tarde()
    i.comentar("c1", AGENTE, "Perdone la espera", False, madrid(23, 11))
    assert seguimiento(i, madrid(25, 9))[PRIMERA_RESPUESTA].estado is EstadoSla.INCUMPLIDO


def test_waiting_on_the_customer_stops_the_resolution_clock_and_a_reopening_starts_it_again():
    i = viernes_tarde()
    i.asignar(RESOLUCION, EmpleadoRef("e-1", "Eva"), AGENTE, madrid(20, 17, 31))
    i.resolver(RESOLUCION, "Cambie la bombilla", AGENTE, madrid(23, 10))  # 30 + 60 business minutes
    resuelta = seguimiento(i, madrid(25, 9))
    assert resuelta[PRIMERA_RESPUESTA].cumplido_en == madrid(23, 10)
    assert (resuelta[RESOLUCION_OBJETIVO].estado, resuelta[RESOLUCION_OBJETIVO].cumplido_en) == (
        EstadoSla.CUMPLIDO, madrid(23, 10))
    i.reabrir(APERTURA, "Sigue sin encender", CLIENTE, madrid(25, 9))
    reabierta = seguimiento(i, madrid(25, 9, 1))[RESOLUCION_OBJETIVO]
    # 990 minutes left from Wednesday 9:00: the 540 of Wednesday, then 450 on Thursday
    assert (reabierta.estado, reabierta.cumplido_en, reabierta.vence_en) == (
        EstadoSla.EN_PLAZO, None, madrid(26, 16, 30))
    assert seguimiento(i, madrid(25, 9, 1))[PRIMERA_RESPUESTA].estado is EstadoSla.CUMPLIDO


def test_a_cancelled_incident_stops_its_clock_short_of_its_targets():
    i = viernes_tarde()
    i.cancelar(RESOLUCION, CLIENTE, madrid(23, 9, 30))
    sla = seguimiento(i, madrid(30, 9))
    assert {(s.estado, s.vence_en) for s in sla.values()} == {(EstadoSla.PAUSADO, None)}


def test_a_change_of_priority_takes_the_policy_targets_of_the_new_one():
    i = viernes_tarde("media")
    i.cambiar_datos(RESOLUCION, "alta", "envio", por=AGENTE, en=madrid(20, 17, 40),
                    plazos_para=POLITICA.plazos_para)
    assert i.plazos == POLITICA.plazos_para("alta", "envio")
    assert seguimiento(i, madrid(20, 17, 41))[PRIMERA_RESPUESTA].vence_en == madrid(23, 9, 30)
    i.cambiar_datos(RESOLUCION, "baja", None, por=AGENTE, en=madrid(20, 17, 42), plazos_para=POLITICA.plazos_para)
    assert i.plazos is None and seguimiento(i, madrid(20, 17, 43)) is None


def test_both_replicas_compute_the_same_from_the_snapshot():
    i = viernes_tarde()
    i.asignar(RESOLUCION, EmpleadoRef("e-1", "Eva"), AGENTE, madrid(20, 17, 31))
    i.comentar("c3", AGENTE, "Lo miramos hoy", False, madrid(23, 9, 30))
    otra = Incidencia.from_snapshot(i.to_snapshot(incluir_internas=False))
    ahora = madrid(24, 12) + timedelta(seconds=1)
    assert seguimiento(otra, ahora) == seguimiento(i, ahora)


def test_an_incident_without_targets_has_no_service_level():
    i = viernes_tarde("baja")
    assert i.plazos is None and seguimiento(i, madrid(23, 9)) is None
    assert i.to_snapshot(False)["plazos"] is None


def test_the_next_warning_is_due_exactly_when_the_look_finds_it():
    from incidencias_dominio import EN_RIESGO, INCUMPLIDO, aviso, avisos_debidos, proximo_aviso
    i = viernes_tarde()
    avisados: set[str] = set()
    told = []
    for _ in range(4):  # at risk and run out, for each target, in the order they come
        sla = seguimiento(i, madrid(20, 17, 31))
        siguiente = proximo_aviso(sla, avisados)
        antes = seguimiento(i, siguiente - timedelta(microseconds=1))
        assert avisos_debidos(antes, avisados, siguiente - timedelta(microseconds=1)) == []
        debidos = avisos_debidos(seguimiento(i, siguiente), avisados, siguiente)
        assert debidos
        for nivel, s in debidos:
            avisados |= {aviso(s.objetivo, nivel), aviso(s.objetivo, EN_RIESGO)}
            told.append((s.objetivo, nivel))
    assert told == [(PRIMERA_RESPUESTA, EN_RIESGO), (PRIMERA_RESPUESTA, INCUMPLIDO),
                    (RESOLUCION_OBJETIVO, EN_RIESGO), (RESOLUCION_OBJETIVO, INCUMPLIDO)]
    assert proximo_aviso(seguimiento(i, madrid(30, 9)), avisados) is None
