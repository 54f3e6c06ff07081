"""A phone (360x740) and a laptop (1280x800): the customer's flow fits the
width of both (nothing to scroll sideways, every control inside the
screen), and so does the team console on the laptop."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .pages import (
    NARROW, WIDE, button, comment, field, incident_fields, link, logout_button, open_incidencia, row, sign_in,
    within_viewport, without_horizontal_scroll,
)

pytestmark = pytest.mark.browser


def assert_fits(page) -> None:
    scroll_width, client_width = without_horizontal_scroll(page)
    assert scroll_width <= client_width, f"{page.url}: {scroll_width}px wide in a {client_width}px window"


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["narrow-360x740", "wide-1280x800"])
def test_the_customer_flow_fits_the_screen(contexts, api, viewport):
    cliente = api.new_cliente("Movil")
    page = contexts(viewport=viewport).new_page()
    page.goto("/entrar")
    assert_fits(page)
    sign_in(page, cliente.email, cliente.password)
    assert_fits(page)
    expect(logout_button(page)).to_be_visible()
    assert within_viewport(page, [link(page, "Abrir una incidencia"), logout_button(page)]) == []

    page.goto("/incidencias/nueva")
    assert_fits(page)
    controls = [field(page, name) for name in incident_fields()] + [
        field(page, "categoria"), field(page, "prioridad"), button(page, "Abrir incidencia")]
    for control in controls:
        control.scroll_into_view_if_needed()
        expect(control).to_be_visible()
    assert within_viewport(page, controls) == []

    incidencia_id = open_incidencia(page, "Pantalla pequeña")
    assert_fits(page)
    comment(page, "Comentario desde el móvil")
    expect(page.locator("ol#comentarios > li")).to_have_count(1)
    assert_fits(page)
    assert within_viewport(page, [page.locator("h1"), page.locator("span#estado"),
                                  button(page, "Enviar comentario"), button(page, "Cancelar la incidencia")]) == []
    page.goto("/incidencias")
    assert_fits(page)
    expect(row(page, incidencia_id)).to_be_visible()
    for path in ("/notificaciones", "/perfil", "/perfil/baja", "/registro"):
        page.goto(path)
        assert_fits(page)


def test_the_console_fits_a_laptop(contexts, admin, api):
    cliente = api.new_cliente("Portatil")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Consola ancha")["id"]
    page = contexts(viewport=WIDE).new_page()
    sign_in(page, admin.email, admin.password, equipo=True)
    for path in ("/equipo/incidencias?vista=todas&orden=recientes", f"/equipo/incidencias/{incidencia_id}", "/equipo/estadisticas",
                 "/equipo/avisos", "/equipo/sla", "/equipo/empleados", "/equipo/empleados/nuevo"):
        page.goto(path)
        assert_fits(page)
    page.goto("/equipo/incidencias?vista=todas&orden=recientes")
    expect(row(page, incidencia_id)).to_be_visible()
    assert within_viewport(page, [row(page, incidencia_id), button(page, "Filtrar")]) == []
