"""JavaScript turned off: the core customer flow still works with plain
forms and redirects after POST (register, open, comment, confirm the
solution), and dates are the server's UTC text."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from harness import CLIENTE_PASSWORD

from .pages import (
    act, at, button, comment, estado, flash_ok, incidencia_id_of, open_incidencia, register, row, rows,
    sign_in,
)

pytestmark = pytest.mark.browser

UTC_TEXT = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2} UTC$")


def test_register_open_comment_and_close_without_javascript(contexts, api, admin):
    page = contexts(javascript=False).new_page()
    email = f"sinjs.{uuid.uuid4().hex[:10]}@example.com"
    register(page, "Tomás", "Sin Script", email, CLIENTE_PASSWORD)
    expect(page).to_have_url(at("/incidencias"))
    expect(rows(page)).to_have_count(0)

    incidencia_id = open_incidencia(page, "Falta una pieza", prioridad="baja")
    assert incidencia_id_of(page) == incidencia_id
    expect(page.locator("h1")).to_have_text("Falta una pieza")
    fecha = page.locator("main time[datetime]").first
    expect(fecha).to_have_text(UTC_TEXT)
    expect(fecha).to_have_attribute("datetime", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$"))

    comment(page, "Es la pieza B del montaje")
    expect(flash_ok(page)).to_have_count(1)
    expect(page).to_have_url(at(f"/incidencias/{incidencia_id}"))
    expect(page.locator("ol#comentarios > li")).to_have_count(1)
    expect(page.locator("ol#comentarios > li").first).to_contain_text("Es la pieza B del montaje")

    # The admin takes it and proposes a solution through the API; without
    # scripts the customer sees it when she loads the page again.
    cliente_token = api.login("clientes", email, CLIENTE_PASSWORD)
    assert api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/asignacion", admin.token,
                    json={}).status_code == 200
    api.act(admin, "resolucion", incidencia_id, {"texto": "Le enviamos la pieza B"})
    api.wait_customer_sees(cliente_token, incidencia_id, "resuelta")
    page.goto(f"/incidencias/{incidencia_id}")
    expect(estado(page)).to_have_attribute("data-estado", "resuelta")
    expect(page.locator("section#solucion")).to_contain_text("Le enviamos la pieza B")

    button(page, "Confirmar la solución").click()
    expect(flash_ok(page)).to_have_count(1)
    expect(estado(page)).to_have_attribute("data-estado", "cerrada")
    expect(button(page, "Enviar comentario")).to_have_count(0)
    page.goto("/incidencias")
    expect(row(page, incidencia_id).locator("span.estado")).to_have_class(re.compile(r"(^|\s)estado-cerrada(\s|$)"))
    assert api.customer_view(cliente_token, incidencia_id)["estado"] == "cerrada"


def test_reject_and_cancel_without_javascript(contexts, api, admin):
    cliente = api.new_cliente("Quique")
    page = contexts(javascript=False).new_page()
    sign_in(page, cliente.email, cliente.password)
    incidencia_id = open_incidencia(page, "Se apaga sola")
    assert api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/asignacion", admin.token,
                    json={}).status_code == 200
    api.act(admin, "resolucion", incidencia_id, {"texto": "Actualice el firmware"})
    api.wait_customer_sees(cliente, incidencia_id, "resuelta")
    page.goto(f"/incidencias/{incidencia_id}")
    act(page, "Rechazar la solución", motivo="Sigue apagándose")
    expect(flash_ok(page)).to_have_count(1)
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    page.goto(f"/incidencias/{incidencia_id}")
    expect(page.locator("ol#historial")).to_contain_text("Reabierta: Sigue apagándose")
    act(page, "Cancelar la incidencia", motivo="Lo devuelvo")
    expect(flash_ok(page)).to_have_count(1)
    api.wait_customer_sees(cliente, incidencia_id, "cancelada")
    page.goto(f"/incidencias/{incidencia_id}")
    expect(estado(page)).to_have_attribute("data-estado", "cancelada")
