"""The customers' ratings and the team's warnings, in the browser: a
customer (without JavaScript) confirms a solution, follows the
notification of the close to the rating form, leaves the score out (said
next to it, the comment kept), then rates; the agent's console shows the
rating on the incident and in the statistics of a period, whose CSV is
downloaded through the portal. An agent reads a warning on the Avisos
page, follows it to the incident and marks it read.

The warning is written into resolucion's store (``store``: the tier's
system looks at the service levels once a minute, too slowly for a test)."""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from harness import new_categoria, wait_until
from portal.forms import SIN_PUNTUACION

from .pages import (
    at, button, field, field_error, flash_ok, link, sign_in, specialist,
)
from .store import add_staff_notification

pytestmark = pytest.mark.browser

CSV_HEADER = "seccion,objetivo,dimension,valor,nombre,cumplidos,incumplidos,porcentaje,valoraciones,media"


def test_a_customer_rates_a_closed_incident_and_the_team_sees_it(contexts, api, admin):
    categoria = new_categoria("valoracion")  # the portal's own are few: other tests need them
    agente = specialist(api, admin, categoria, "Rita", "Valorada")
    cliente = api.new_cliente("Carmen", apellidos="Cierre")
    incidencia_id = api.new_incidencia(cliente, categoria, titulo="El grifo gotea")["id"]
    abierta_el = date.fromisoformat(api.wait_staff_sees(agente, incidencia_id, "asignada")["creada_en"][:10])
    api.act(agente, "resolucion", incidencia_id, {"texto": "Le enviamos una junta nueva."})
    api.wait_customer_sees(cliente, incidencia_id, "resuelta")

    # She confirms the solution; the close's notification leads to the rating form.
    mia = contexts(javascript=False).new_page()
    sign_in(mia, cliente.email, cliente.password)
    mia.goto(f"/incidencias/{incidencia_id}")
    button(mia, "Confirmar la solución").click()
    expect(flash_ok(mia)).to_contain_text("la incidencia está cerrada")
    wait_until(lambda: any(n["tipo"] == "incidencia.cerrada" and n["incidencia_id"] == incidencia_id
                           for n in api.list_all("apertura", "/notificaciones", cliente.token).values()),
               timeout=20, message="the customer is notified of the close")
    mia.goto("/notificaciones")
    mia.locator("#notificaciones a", has_text="la incidencia está cerrada").first.click()
    expect(mia).to_have_url(re.compile(rf"/incidencias/{incidencia_id}#valoracion$"))
    valoracion = mia.locator("section#valoracion")
    expect(valoracion.locator("fieldset legend")).to_have_text("Su valoración, del 1 al 5")
    expect(valoracion.get_by_role("radio")).to_have_count(5)
    expect(valoracion.locator("fieldset label")).to_have_text(
        ["1 · Muy mal", "2 · Mal", "3 · Regular", "4 · Bien", "5 · Muy bien"])

    # No score: said next to the choices, the comment kept; then the rating.
    comentario = "Rápidos y amables; la junta llegó al día siguiente."
    field(mia, "comentario").fill(comentario)
    button(mia, "Enviar valoración").click()
    expect(field_error(mia, "puntuacion")).to_have_text(SIN_PUNTUACION)
    expect(field(mia, "comentario")).to_have_value(comentario)
    mia.get_by_label("4 · Bien", exact=True).check()
    button(mia, "Enviar valoración").click()
    expect(flash_ok(mia)).to_have_text("Gracias por su valoración")
    expect(mia.locator("#valoracion-nota")).to_contain_text("Su valoración: 4 de 5")
    expect(mia.locator("#valoracion-comentario")).to_have_text(comentario)
    expect(button(mia, "Enviar valoración")).to_have_count(0)

    # The agent's console: on the incident, and in the period's figures.
    wait_until(lambda: api.staff_view(agente, incidencia_id).get("valoracion"), timeout=20,
               message="resolucion holds the rating")
    consola = contexts().new_page()
    sign_in(consola, agente.email, agente.password, equipo=True)
    consola.goto(f"/equipo/incidencias/{incidencia_id}")
    expect(consola.locator("#valoracion h2")).to_have_text("Valoración del cliente")
    expect(consola.locator("#valoracion-nota")).to_contain_text("4 de 5")
    expect(consola.locator("#valoracion-comentario")).to_have_text(comentario)

    link(consola, "Estadísticas").click()
    desde, hasta = abierta_el - timedelta(days=1), abierta_el
    field(consola, "desde").fill(desde.isoformat())
    field(consola, "hasta").fill((desde - timedelta(days=1)).isoformat())
    button(consola, "Ver el periodo").click()
    expect(field_error(consola, "hasta")).to_contain_text("posterior")
    field(consola, "hasta").fill(hasta.isoformat())
    button(consola, "Ver el periodo").click()
    expect(consola).to_have_url(re.compile(rf"[?&]desde={desde.isoformat()}&hasta={hasta.isoformat()}"))
    expect(consola.locator("#periodo-resumen")).to_contain_text(
        f"Del {desde.strftime('%d/%m/%Y')} al {hasta.strftime('%d/%m/%Y')}")
    fila = consola.locator(f'#satisfaccion-agentes tr[data-agente="{agente.id}"]')
    expect(fila.locator("th")).to_have_text("Rita Valorada")
    expect(fila.locator("td")).to_have_text(["1", "4"])
    expect(consola.locator("#grafico-valoraciones")).to_be_visible()

    with consola.expect_download() as descarga:
        link(consola, "Descargar CSV").click()
    csv = Path(descarga.value.path()).read_text(encoding="utf-8")
    assert descarga.value.suggested_filename.startswith(f"informe-{desde.isoformat()}-"), \
        descarga.value.suggested_filename
    lineas = csv.splitlines()
    assert lineas[0] == CSV_HEADER
    assert f"satisfaccion,,agente,{agente.id},Rita Valorada,,,,1,4.0" in lineas


def test_a_warning_leads_to_its_incident_and_is_marked_read(contexts, api, system, admin):
    categoria = new_categoria("aviso")
    agente = specialist(api, admin, categoria, "Tomás", "Avisado")
    cliente = api.new_cliente("Ramón")
    incidencia_id = api.new_incidencia(cliente, categoria, titulo="La nevera no enfría")["id"]
    api.wait_staff_sees(agente, incidencia_id, "asignada")
    mensaje = "A «La nevera no enfría» le queda poco para la primera respuesta: vence el 01/12/2026 a las 12:00."
    aviso_id = add_staff_notification(system, agente, incidencia_id, mensaje)

    page = contexts(javascript=False).new_page()
    sign_in(page, agente.email, agente.password, equipo=True)
    contador = page.locator("nav span#avisos-no-leidos")
    expect(contador).to_have_text("1")
    page.locator("nav").get_by_role("link", name=re.compile(r"^Avisos")).click()
    expect(page).to_have_url(at("/equipo/avisos"))
    aviso = page.locator(f'#avisos li[data-aviso-id="{aviso_id}"]')
    expect(aviso).to_contain_text("Nuevo")
    expect(aviso).to_contain_text("En riesgo")
    expect(aviso).to_contain_text("Primera respuesta")
    expect(aviso.get_by_role("link")).to_have_text(mensaje)
    expect(aviso.get_by_role("link")).to_have_attribute(
        "href", f"/equipo/incidencias/{incidencia_id}#sla-primera_respuesta")

    link(page, "Sin leer").click()
    expect(page).to_have_url(at("/equipo/avisos", "filtro=sin_leer"))
    button(page.locator(f'li[data-aviso-id="{aviso_id}"]'), "Marcar como leído").click()
    expect(flash_ok(page)).to_have_text("Aviso marcado como leído")
    expect(page).to_have_url(at("/equipo/avisos", "filtro=sin_leer"))
    expect(page.locator("main")).to_contain_text("No tiene avisos sin leer.")
    expect(contador).to_have_text("0")
    leidos = api.call("GET", "resolucion", "/notificaciones", agente.token).json()["elementos"]
    assert [(n["id"], n["leida"]) for n in leidos] == [(aviso_id, True)]

    link(page, "Todos").click()
    aviso = page.locator(f'#avisos li[data-aviso-id="{aviso_id}"]')
    expect(aviso).not_to_contain_text("Nuevo")
    expect(button(aviso, "Marcar como leído")).to_have_count(0)
    aviso.get_by_role("link").click()
    expect(page).to_have_url(at(f"/equipo/incidencias/{incidencia_id}"))
    expect(page.locator("h1")).to_have_text("La nevera no enfría")
