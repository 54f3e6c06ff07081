"""Service levels and questions to the customer, in the browser: an admin
sets the targets on the console's page (a refused field first, then a
valid policy); an agent's incident shows how it stands against them and
when each one is due, in the queue too; the agent asks the customer
something and the incident waits on them; the customer (without
JavaScript) reads the question, answers it with a comment, and the agent's
open page shows it back at work.

The policy is the system's own, shared by every test of the tier: the
module puts back the one it found when it is done."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from harness import Driver, wait_until
from portal import display

from .pages import (
    at, button, comment, estado, field, field_error, flash_ok, label_of, link, row, sign_in, specialist,
)

pytestmark = pytest.mark.browser

GUARDAR = "Guardar los niveles de servicio"
ALWAYS_OPEN = {"zona": "Europe/Madrid", "dias": list(range(7)), "desde": "00:00", "hasta": "23:59", "pais": None,
               "region": None, "cierres": []}
"""A calendar whose clock runs whenever a test does: due instants come within hours."""


def open_with_targets(api: Driver, cliente, categoria: str, **fields) -> dict:
    """An incident opened once apertura, which gives an incident its targets
    when it opens, holds the policy just set (it gets it as an event)."""
    api.settle()

    def opened() -> dict | bool:
        incidencia = api.new_incidencia(cliente, categoria, **fields)
        return incidencia if incidencia.get("primera_respuesta_prevista") else False

    return wait_until(opened, timeout=20, interval=0.2, message="apertura holds the new policy")


@pytest.fixture(scope="module", autouse=True)
def politica_de_antes(system):
    """The policy found, put back once the module is done."""
    with Driver(system.urls) as driver:
        token = driver.admin_token()
        antes = driver.call("GET", "resolucion", "/sla", token).json()
    yield
    with Driver(system.urls) as driver:
        body = {k: antes[k] for k in ("calendario", "por_prioridad", "por_categoria")}
        restored = driver.call("PUT", "resolucion", "/sla", driver.admin_token(), json=body)
        assert restored.status_code == 200, restored.text


def test_an_admin_sets_the_service_levels(admin_page, api, admin):
    page = admin_page
    link(page, "Niveles de servicio").click()
    expect(page).to_have_url(at("/equipo/sla"))
    expect(page.locator("h1")).to_have_text("Niveles de servicio")
    for name, value in {"por_prioridad.alta.primera_respuesta_horas": "2", "por_prioridad.alta.resolucion_horas": "18",
                        "por_prioridad.media.primera_respuesta_horas": "1,5",
                        "por_prioridad.media.resolucion_horas": "8",
                        "por_prioridad.critica.primera_respuesta_horas": "",
                        "por_prioridad.critica.resolucion_horas": "",
                        "calendario.desde": "09:00", "calendario.hasta": "18:00",
                        "calendario.pais": "", "calendario.region": "",
                        "calendario.cierres": "24/12/2026\n2026-12-31", "calendario.zona": "Europa/Madrid"}.items():
        field(page, name).fill(value)
    page.get_by_label("Sábado", exact=True).check()
    button(page, GUARDAR).click()

    # Refused by resolucion: said next to the zone, the rest kept as typed.
    expect(field_error(page, "calendario.zona")).to_contain_text("Zona horaria desconocida")
    expect(field(page, "calendario.zona")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("p.error-campo")).to_have_count(1)
    expect(field(page, "por_prioridad.media.primera_respuesta_horas")).to_have_value("1,5")
    expect(page.get_by_label("Sábado", exact=True)).to_be_checked()

    field(page, "calendario.zona").fill("Europe/Madrid")
    button(page, GUARDAR).click()
    expect(page).to_have_url(at("/equipo/sla"))
    expect(flash_ok(page)).to_contain_text("Niveles de servicio guardados")
    tabla = page.locator("table#plazos-prioridad")
    expect(tabla.locator('tr[data-prioridad="alta"] td')).to_have_text(["2 h", "18 h"])
    expect(tabla.locator('tr[data-prioridad="media"] td')).to_have_text(["1 h 30 min", "8 h"])
    expect(tabla.locator('tr[data-prioridad="critica"] td')).to_have_text(["Sin plazo", "Sin plazo"])
    expect(page.locator("dl#calendario")).to_contain_text("De lunes a sábado")
    expect(page.locator("dl#calendario")).to_contain_text("24/12/2026, 31/12/2026")
    politica = api.call("GET", "resolucion", "/sla", admin.token).json()
    assert politica["por_prioridad"] == {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 1080},
                                         "media": {"primera_respuesta_minutos": 90, "resolucion_minutos": 480}}
    assert politica["calendario"]["dias"] == [0, 1, 2, 3, 4, 5]
    assert politica["calendario"]["cierres"] == ["2026-12-24", "2026-12-31"]


def test_an_agent_asks_the_customer_and_the_answer_brings_the_incident_back(contexts, api, admin, categoria_propia):
    puesta = api.call("PUT", "resolucion", "/sla", admin.token, json={
        "calendario": ALWAYS_OPEN, "por_categoria": {},
        "por_prioridad": {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 600}}})
    assert puesta.status_code == 200, puesta.text
    agente = specialist(api, admin, categoria_propia, "Olga", "Plazo")
    cliente = api.new_cliente("Pilar", apellidos="Pregunta")
    incidencia_id = open_with_targets(api, cliente, categoria_propia, prioridad="alta", titulo="Falta una pieza")["id"]
    sla = api.wait_staff_sees(agente, incidencia_id, "asignada")["sla"]
    vence = display.instant(sla["primera_respuesta"]["vence_en"])[0]

    # Her page, without JavaScript: when she will hear from the team.
    mia = contexts(javascript=False).new_page()
    sign_in(mia, cliente.email, cliente.password)
    mia.goto(f"/incidencias/{incidencia_id}")
    expect(mia.locator("#prevision")).to_contain_text("Le responderemos antes del")
    expect(mia.locator("#prevision time")).to_have_attribute("datetime", vence)

    # The agent's queue and page: how it stands and when it is due.
    consola = contexts().new_page()
    sign_in(consola, agente.email, agente.password, equipo=True)
    consola.goto("/equipo/incidencias?vista=mias&orden=vencimiento&sla=en_plazo")
    expect(row(consola, incidencia_id).locator(".sla")).to_have_text("En plazo")
    expect(row(consola, incidencia_id).locator(".plazo-fila time")).to_have_attribute("datetime", vence)
    row(consola, incidencia_id).get_by_role("link").first.click()
    expect(consola).to_have_url(at(f"/equipo/incidencias/{incidencia_id}"))
    primera = consola.locator("#sla-primera_respuesta")
    expect(primera.locator("dt")).to_contain_text("Primera respuesta")
    expect(primera.locator(".sla")).to_have_text("En plazo")
    expect(primera.locator("time")).to_have_attribute("datetime", vence)
    expect(consola.locator("#sla-resolucion dt")).to_contain_text("Resolución (10 h)")

    # Asking nothing is refused next to the question; then the question.
    button(consola, "Preguntar al cliente").click()
    expect(field_error(consola, "pregunta")).to_have_text("Este campo es obligatorio.")
    pregunta = "¿Qué pieza falta exactamente? Mire el número de la hoja de montaje."
    field(consola, "pregunta").fill(pregunta)
    button(consola, "Preguntar al cliente").click()
    expect(flash_ok(consola)).to_contain_text("Pregunta enviada")
    expect(estado(consola)).to_have_attribute("data-estado", "esperando_cliente")
    expect(estado(consola)).to_have_text("Esperando al cliente")
    expect(consola.locator("#pregunta-pendiente")).to_have_text(pregunta)
    expect(consola.locator("#sla-primera_respuesta .sla")).to_have_text("Cumplido")
    expect(consola.locator("#sla-resolucion .sla")).to_have_text("En pausa")
    for nothing_to_do in ("Proponer solución", "Preguntar al cliente", "Guardar cambios"):
        expect(button(consola, nothing_to_do)).to_have_count(0)

    # She reads the question where she answers it, and answers.
    mia.goto(f"/incidencias/{incidencia_id}")
    expect(estado(mia)).to_have_text("Pendiente de su respuesta")
    aviso = mia.locator("section#pregunta")
    expect(aviso.locator("h2")).to_have_text("El equipo le ha hecho una pregunta")
    expect(aviso.locator("blockquote")).to_have_text(pregunta)
    expect(label_of(mia, "texto")).to_have_text("Su respuesta para Olga Plazo")
    expect(mia.locator("#prevision")).to_have_count(0)  # answered: the question was the first answer
    comment(mia, "La pata izquierda, la número 4.", "Enviar respuesta")
    expect(flash_ok(mia)).to_have_text("Respuesta enviada: seguimos con su incidencia")
    expect(estado(mia)).to_have_attribute("data-estado", "en_curso")
    expect(mia.locator("section#pregunta")).to_have_count(0)

    # The agent's open page follows by itself.
    expect(estado(consola)).to_have_attribute("data-estado", "en_curso")
    expect(consola.locator("#historial")).to_contain_text("El cliente respondió")
    expect(consola.locator("#comentarios")).to_contain_text("La pata izquierda, la número 4.")
    expect(consola.locator("#espera")).to_have_count(0)
    expect(consola.locator("#sla-resolucion .sla")).to_have_text("En plazo")
    expect(button(consola, "Proponer solución")).to_have_count(1)

    # Agents read the service levels; only admins change them.
    consola.goto("/equipo/sla")
    expect(consola.locator('table#plazos-prioridad tr[data-prioridad="alta"] td')).to_have_text(["2 h", "10 h"])
    expect(button(consola, GUARDAR)).to_have_count(0)
