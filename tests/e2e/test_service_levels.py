"""Service levels end to end, on a system of its own whose clock the test
moves (``ENVIRONMENT=test`` and ``TEST_CLOCK_FILE``: ``common.clock``), with
two resolucion workers competing on its queues and both running the
service-level look every 0.3 s.

An admin sets "alta: first answer in 2 working hours, resolution in 2
working days, Madrid's calendar"; an incident opened on a Friday at 17:30
shows its due instants on the next working days; its first answer is at
risk and its holder is told once; asking the customer stops the resolution
clock and their answer starts it again; the resolution runs out and each
supervisor is told once (and mailed); the customer closes and rates it,
and the rating shows in the agent's figures."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.storage import open_store
from harness import Driver, System, wait_until
from incidencias_dominio import Calendario
from incidencias_replica.sla import PoliticaSlaStore

MADRID = ZoneInfo("Europe/Madrid")
CALENDARIO = {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00", "hasta": "18:00", "pais": "ES",
              "region": "MD", "cierres": []}
POLITICA = {"calendario": CALENDARIO,
            "por_prioridad": {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 2 * 9 * 60}},
            "por_categoria": {}}


class Clock:
    """The system's clock: now plus the seconds the file holds."""

    def __init__(self, path: Path):
        self.path = path
        self.path.write_text("0")

    def go_to(self, moment: datetime) -> None:
        """Replaced whole (written beside, then renamed), so no process ever reads half of it."""
        offset = (moment - datetime.now(timezone.utc)).total_seconds()
        written = self.path.with_suffix(".new")
        written.write_text(f"{offset:.6f}")
        written.replace(self.path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("service-levels")
    clock = Clock(workdir / "clock")
    system = System.launch(workdir, ENVIRONMENT="test", TEST_CLOCK_FILE=str(clock.path), PLAZOS_INTERVALO="0.3")
    try:
        system.start_another("resolucion_worker", "resolucion_worker_2")
        with Driver(system.urls, patience=30) as api:
            yield system, api, clock
    finally:
        system.dispose()


def next_friday_evening() -> datetime:
    """17:30 in Madrid on a Friday at least a week away (a working day by the calendar, so opening is at 17:30)."""
    calendario = Calendario.of(CALENDARIO)
    day = datetime.now(MADRID).date() + timedelta(days=7)
    while day.weekday() != 4 or not calendario.es_laborable(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(17, 30), MADRID)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def working_day_after(moment: datetime, friday: date) -> bool:
    local = moment.astimezone(MADRID)
    return local.date() > friday and Calendario.of(CALENDARIO).es_laborable(local.date()) \
        and time(9) <= local.time() <= time(18)


def notifications(api: Driver, who, tipo: str) -> list[dict]:
    page = api.call("GET", "resolucion", "/notificaciones", who.token, params={"por_pagina": 100}).json()
    return [n for n in page["elementos"] if n["tipo"] == tipo]


def test_warnings_and_a_breach_reach_the_right_people_once_as_the_clock_moves(world):
    system, api, clock = world
    admin = api.admin()
    agente = api.new_empleado("agente", nombre="Rosa", admin_token=admin.token)
    supervisores = [api.new_empleado("supervisor", nombre=n, admin_token=admin.token) for n in ("Sara", "Ines")]
    cliente = api.new_cliente("Paula")  # every account and token before the clock moves: tokens keep real time
    api.wait_known_by_resolucion(admin, agente, *supervisores)
    assert api.call("PUT", "resolucion", "/sla", admin.token, json=POLITICA).status_code == 200
    apertura_store = open_store(system.storage_url("apertura"))
    try:
        wait_until(lambda: PoliticaSlaStore(apertura_store).current()[1] == 1, timeout=30, interval=0.1,
                   message="apertura holds the policy")
    finally:
        apertura_store.close()

    # Friday, 17:30 in Madrid: the customer opens an urgent incident.
    friday = next_friday_evening()
    clock.go_to(friday)
    opened = api.new_incidencia(cliente, prioridad="alta")
    prevista = instant(opened["primera_respuesta_prevista"])
    assert working_day_after(prevista, friday.date())
    staff = api.wait_staff_sees(agente, opened["id"], "asignada")
    primera, resolucion = staff["sla"]["primera_respuesta"], staff["sla"]["resolucion"]
    calendario = Calendario.of(CALENDARIO)
    creada = instant(staff["creada_en"])
    assert instant(primera["vence_en"]) == prevista == calendario.sumar(creada, timedelta(minutes=120))
    assert instant(resolucion["vence_en"]) == calendario.sumar(creada, timedelta(minutes=1080))
    assert working_day_after(instant(resolucion["vence_en"]), friday.date())
    assert (primera["estado"], resolucion["estado"]) == ("en_plazo", "en_plazo")

    # Past 4/5 of the first answer's time: its holder is told, once.
    clock.go_to(instant(primera["en_riesgo_desde"]) + timedelta(minutes=1))
    [aviso] = wait_until(lambda: notifications(api, agente, "incidencia.sla_en_riesgo"), timeout=30, interval=0.2,
                         message="the holder is told the first answer is at risk")
    assert (aviso["incidencia_id"], aviso["objetivo"]) == (opened["id"], "primera_respuesta")
    assert api.staff_view(agente, opened["id"])["sla"]["primera_respuesta"]["estado"] == "en_riesgo"

    # The agent asks something: the first answer is met, the resolution clock stops.
    asked = api.act(agente, "consulta", opened["id"], {"pregunta": "¿Qué número de serie tiene?"})
    assert asked["sla"]["primera_respuesta"]["estado"] == "cumplido"
    api.wait_customer_sees(cliente, opened["id"], "esperando_cliente")
    paused = api.staff_view(agente, opened["id"])["sla"]["resolucion"]
    assert (paused["estado"], paused["vence_en"]) == ("pausado", None)
    # A working day later the customer answers: the clock goes on from where it stopped.
    stopped_at = instant(asked["historial"][-1]["en"])
    clock.go_to(calendario.sumar(stopped_at, timedelta(hours=9)))
    answered = api.call("POST", "apertura", f"/incidencias/{opened['id']}/comentarios", cliente.token,
                        json={"texto": "Es el SN-4421"})
    assert answered.status_code == 201 and answered.json()["estado"] == "en_curso"
    resumed = api.wait_staff_sees(agente, opened["id"], "en_curso")["sla"]["resolucion"]
    assert resumed["estado"] in ("en_plazo", "en_riesgo")
    assert instant(resumed["vence_en"]) - instant(resolucion["vence_en"]) >= timedelta(hours=9)  # the pause's length

    # Past the resolution's time: each supervisor is told once, and mailed.
    clock.go_to(instant(resumed["vence_en"]) + timedelta(minutes=1))
    for supervisor in supervisores:
        [breach] = wait_until(lambda s=supervisor: notifications(api, s, "incidencia.sla_incumplido"), timeout=30,
                              interval=0.2, message="the supervisor is told of the breach")
        assert (breach["incidencia_id"], breach["objetivo"]) == (opened["id"], "resolucion")
    wait_until(lambda: {s.email for s in supervisores} <= {r for rs in system.mailbox.recipients() for r in rs},
               timeout=30, interval=0.2, message="the supervisors are mailed")
    # By now both workers have looked dozens of times: still one warning each.
    assert len(notifications(api, agente, "incidencia.sla_en_riesgo")) == 1
    assert all(len(notifications(api, s, "incidencia.sla_incumplido")) == 1 for s in supervisores)
    assert notifications(api, agente, "incidencia.sla_incumplido") == []
    assert api.staff_view(agente, opened["id"])["sla"]["resolucion"]["estado"] == "incumplido"
    listed = api.call("GET", "resolucion", "/incidencias", agente.token, params={"sla": "incumplido"}).json()
    assert [i["id"] for i in listed["elementos"]] == [opened["id"]]

    # Resolved late, closed and rated: the rating shows in the agent's figures.
    api.act(agente, "resolucion", opened["id"], {"texto": "Cambiada la placa"})
    api.wait_customer_sees(cliente, opened["id"], "resuelta")
    assert api.call("POST", "apertura", f"/incidencias/{opened['id']}/cierre", cliente.token).status_code == 200
    rated = api.call("POST", "apertura", f"/incidencias/{opened['id']}/valoracion", cliente.token,
                     json={"puntuacion": 4, "comentario": "Tardaron, pero bien"})
    assert rated.status_code == 201

    def figures_show_it():
        figures = api.call("GET", "resolucion", "/estadisticas", admin.token).json()
        mine = [a for a in figures["satisfaccion"]["por_agente"] if a["id"] == agente.id]
        return mine == [{"id": agente.id, "nombre": "Rosa Soporte", "valoraciones": 1, "media": 4.0}] and figures

    figures = wait_until(figures_show_it, timeout=30, interval=0.2, message="the rating reaches the figures")
    kept = {(r["objetivo"], r["dimension"], r["valor"]): (r["cumplidos"], r["incumplidos"])
            for r in figures["niveles_de_servicio"]}
    assert kept[("primera_respuesta", "agente", agente.id)] == (1, 0)
    assert kept[("resolucion", "agente", agente.id)] == (0, 1)
