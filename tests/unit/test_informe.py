"""The period's report (``incidencias_resolucion.informe``): pure functions
of incidents the domain builds, no fakes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from incidencias_dominio import APERTURA, RESOLUCION, EmpleadoRef, Incidencia, PoliticaSla
from incidencias_resolucion.informe import como_csv, esperas, informe, niveles_de_servicio, satisfaccion

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
POLITICA = PoliticaSla.of({
    "calendario": {"zona": "UTC", "dias": [0, 1, 2, 3, 4, 5, 6], "desde": "00:00", "hasta": "23:59", "pais": None},
    "por_prioridad": {"alta": {"primera_respuesta_minutos": 30, "resolucion_minutos": 120}}})
AGENTE = {"id": "e1", "rol": "agente", "nombre": "=Eva"}
CLIENTE = {"id": "c1", "rol": "cliente", "nombre": "Ana"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def incidencia(n: int, prioridad: str = "alta", categoria: str | None = "envios") -> Incidencia:
    i = Incidencia.abrir(f"i-{n}", {"id": "c1", "nombre": "Ana"}, {"referencia": "R", "nombre": "Radio"}, "Roto",
                         "Nada", categoria, prioridad, at(0), plazos=POLITICA.plazos_para(prioridad, categoria))
    i.asignar(RESOLUCION, EmpleadoRef("e1", "=Eva"), AGENTE, at(1))
    return i


def test_only_settled_targets_count_and_each_in_its_rows():
    on_time = incidencia(1)
    on_time.resolver(RESOLUCION, "Hecho", AGENTE, at(20))  # both targets met
    late = incidencia(2)
    late.comentar("k", AGENTE, "Tarde", False, at(40))  # first answer late; resolution still running
    running = incidencia(3)
    running.comentar("k", AGENTE, "Lo miramos", False, at(10))  # answered; its resolution still has time
    sin_sla = incidencia(4, prioridad="baja")
    rows = {(r["objetivo"], r["dimension"], r["valor"]): (r["cumplidos"], r["incumplidos"], r["porcentaje"])
            for r in niveles_de_servicio([on_time, late, running, sin_sla], at(50))}
    assert rows[("primera_respuesta", "total", "")] == (2, 1, 66.7)
    assert rows[("resolucion", "total", "")] == (1, 0, 100.0)  # the two still running count in neither
    assert rows[("primera_respuesta", "agente", "e1")] == (2, 1, 66.7)
    assert ("primera_respuesta", "prioridad", "baja") not in rows


def test_ratings_count_over_the_closed_incidents():
    rated, unrated, open_ = incidencia(1), incidencia(2), incidencia(3)
    for i in (rated, unrated):
        i.resolver(RESOLUCION, "Hecho", AGENTE, at(20))
        i.cerrar(APERTURA, CLIENTE, at(21))
    rated.valorar(APERTURA, 5, None, CLIENTE, at(22))
    sat = satisfaccion([rated, unrated, open_])
    assert (sat["valoraciones"], sat["cerradas"], sat["tasa_respuesta"], sat["media"]) == (1, 2, 50.0, 5.0)
    assert sat["distribucion"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}
    assert sat["por_categoria"] == [{"categoria": "envios", "valoraciones": 1, "media": 5.0}]


def test_waits_on_the_customer_last_from_the_question_to_what_ended_it():
    i = incidencia(1)
    i.consultar(RESOLUCION, "q1", "¿Modelo?", AGENTE, at(5))
    i.iniciar(APERTURA, CLIENTE, at(65))
    i.consultar(RESOLUCION, "q2", "¿Color?", AGENTE, at(70))  # still waiting: not counted
    assert esperas([i]) == {"mediana_s": 3600.0, "p90_s": 3600.0, "muestras": 1}


def test_the_csv_writes_a_name_a_spreadsheet_would_run_as_text():
    i = incidencia(1)
    i.resolver(RESOLUCION, "Hecho", AGENTE, at(20))
    lines = como_csv(informe([i], at(30))).splitlines()
    assert lines[0] == "seccion,objetivo,dimension,valor,nombre,cumplidos,incumplidos,porcentaje,valoraciones,media"
    assert "nivel_de_servicio,primera_respuesta,agente,e1,'=Eva,1,0,100.0,," in lines
