"""The whole life of an incident in two browsers at once: the admin registers
an agent in the console, a customer opens an incident that the system gives
to that agent, and the two work it (start, comments both ways, a solution,
its rejection with a reason, a second solution, the confirmation) while each
one's open page follows what the other does, without reloading it."""
from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from harness import EMPLEADO_PASSWORD, wait_until

from .pages import (
    act, at, button, comment, estado, field, flash_ok, link, open_incidencia, row, sign_in,
)

pytestmark = pytest.mark.browser

LIVE_MS = 2_000  # the agent resolves -> the customer's open page shows it within this


def has_class(name: str) -> re.Pattern:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


def test_customer_and_agent_work_an_incident_through_its_whole_life(contexts, api, admin, categoria_propia):
    # The admin registers the agent in /equipo/empleados.
    consola = contexts().new_page()
    sign_in(consola, admin.email, admin.password, equipo=True)
    consola.goto("/equipo/empleados")
    link(consola, "Dar de alta").click()
    expect(consola).to_have_url(at("/equipo/empleados/nuevo"))
    email = f"eva.{uuid.uuid4().hex[:10]}@example.com"
    field(consola, "nombre").fill("Eva")
    field(consola, "apellidos").fill("López")
    field(consola, "email").fill(email)
    consola.get_by_text("Sin invitación: darle yo una contraseña inicial").click()  # a password, not an invitation
    field(consola, "password").fill(EMPLEADO_PASSWORD)
    field(consola, "rol").select_option("agente")
    field(consola, "categorias").fill(categoria_propia)
    consola.locator("form").filter(has=field(consola, "categorias")).locator(
        'button[type="submit"], button:not([type])').click()
    expect(flash_ok(consola)).to_have_count(1)
    consola.goto("/equipo/empleados")
    expect(consola.locator("main")).to_contain_text(email)
    empleados = api.call("GET", "empleados", "/empleados", admin.token, params={"q": email}).json()["elementos"]
    assert [(e["nombre"], e["apellidos"], e["rol"], e["categorias"], e["activo"]) for e in empleados] == [
        ("Eva", "López", "agente", [categoria_propia], True)]
    agente_id = empleados[0]["id"]
    wait_until(lambda: agente_id in {e["id"] for e in api.call(
        "GET", "resolucion", "/estadisticas", admin.token).json()["carga_por_empleado"]},
        timeout=20, message="resolucion knows the new agent")

    # The customer opens an incident of the agent's category; it is assigned to her.
    cliente = api.new_cliente("Sofía", apellidos="Martín")
    mia = contexts().new_page()
    sign_in(mia, cliente.email, cliente.password)
    incidencia_id = open_incidencia(mia, "El pedido llegó roto", categoria=categoria_propia, prioridad="alta")
    expect(estado(mia)).to_have_attribute("data-estado", "asignada")
    expect(mia.locator("dd#asignada-a")).to_have_text("Eva López")

    # The agent finds it in her queue and starts it; the customer's page follows.
    suya = contexts().new_page()
    sign_in(suya, email, EMPLEADO_PASSWORD, equipo=True)
    suya.goto("/equipo/incidencias?vista=mias")
    expect(row(suya, incidencia_id)).to_have_count(1)
    row(suya, incidencia_id).get_by_role("link").first.click()
    expect(suya).to_have_url(at(f"/equipo/incidencias/{incidencia_id}"))
    expect(suya.locator("h1")).to_have_text("El pedido llegó roto")
    expect(suya.locator("main")).to_contain_text("Sofía")
    expect(button(suya, "Tomar")).to_have_count(0)  # already hers
    expect(suya.locator('select[name="empleado_id"]')).to_have_count(0)  # agents do not assign
    button(suya, "Empezar").click()
    expect(estado(suya)).to_have_attribute("data-estado", "en_curso")
    expect(estado(mia)).to_have_attribute("data-estado", "en_curso", timeout=LIVE_MS)

    # Comments both ways, each shown on the other's open page.
    comment(suya, "Le enviamos otra lámpara", "Añadir comentario")
    expect(suya.locator("ol#comentarios > li")).to_have_count(1)
    expect(mia.locator("ol#comentarios > li")).to_have_count(1, timeout=5_000)
    expect(mia.locator("ol#comentarios > li").first).to_contain_text("Le enviamos otra lámpara")
    expect(mia.locator("ol#comentarios > li").first).to_contain_text("Eva")
    comment(mia, "Gracias, quedo a la espera")
    expect(mia.locator("ol#comentarios > li")).to_have_count(2)
    expect(suya.locator("ol#comentarios > li")).to_have_count(2, timeout=5_000)
    expect(suya.locator("ol#comentarios > li").nth(1)).to_contain_text("Gracias, quedo a la espera")

    # The agent proposes a solution: the customer's open page shows it within two seconds.
    act(suya, "Proponer solución", texto="Reenvío gratuito")
    expect(estado(suya)).to_have_attribute("data-estado", "resuelta")
    resolved_at = time.monotonic()
    expect(estado(mia)).to_have_attribute("data-estado", "resuelta", timeout=LIVE_MS)
    seen_after = time.monotonic() - resolved_at
    expect(estado(mia)).to_have_class(has_class("estado-resuelta"))
    expect(mia.locator("section#solucion")).to_contain_text("Reenvío gratuito")
    expect(button(mia, "Confirmar la solución")).to_have_count(1)
    expect(button(mia, "Rechazar la solución")).to_have_count(1)
    expect(button(mia, "Cancelar la incidencia")).to_have_count(0)
    expect(button(suya, "Proponer solución")).to_have_count(0)  # apertura owns it now
    print(f"the customer's page showed 'resuelta' {seen_after:.2f}s after the agent's page did")

    # She rejects it with a reason; it goes back to the same agent.
    act(mia, "Rechazar la solución", motivo="La nueva también llegó rota")
    expect(flash_ok(mia)).to_have_count(1)
    expect(estado(mia)).to_have_attribute("data-estado", "asignada", timeout=5_000)
    expect(mia.locator("dd#asignada-a")).to_have_text("Eva López")
    expect(estado(suya)).to_have_attribute("data-estado", "asignada", timeout=5_000)
    expect(suya.locator("ol#historial")).to_contain_text("Reabierta: La nueva también llegó rota")

    # A second solution, again seen live, and her confirmation closes it.
    act(suya, "Proponer solución", texto="Reembolso completo")
    expect(estado(suya)).to_have_attribute("data-estado", "resuelta")
    expect(estado(mia)).to_have_attribute("data-estado", "resuelta", timeout=LIVE_MS)
    expect(mia.locator("section#solucion")).to_contain_text("Reembolso completo")
    button(mia, "Confirmar la solución").click()
    expect(flash_ok(mia)).to_have_count(1)
    expect(estado(mia)).to_have_attribute("data-estado", "cerrada")
    for gone in ("Confirmar la solución", "Rechazar la solución", "Cancelar la incidencia", "Enviar comentario"):
        expect(button(mia, gone)).to_have_count(0)
    expect(estado(suya)).to_have_attribute("data-estado", "cerrada", timeout=5_000)

    historial = mia.locator("ol#historial > li")
    expect(historial).to_have_count(8)
    expect(historial).to_contain_text([
        re.compile("abierta", re.IGNORECASE), "Asignada a Eva López", "En curso", "Solución propuesta",
        "Reabierta: La nueva también llegó rota", "Asignada a Eva López", "Solución propuesta", "Cerrada"])
    final = api.customer_view(cliente, incidencia_id)
    assert [h["a"] for h in final["historial"]] == [
        "abierta", "asignada", "en_curso", "resuelta", "reabierta", "asignada", "resuelta", "cerrada"]
    assert [c["texto"] for c in final["comentarios"]] == ["Le enviamos otra lámpara", "Gracias, quedo a la espera"]
    assert final["asignada_a"]["id"] == agente_id
