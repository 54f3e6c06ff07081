"""Opening an incident with the keyboard alone: signing in, reaching the
form, every field, the selects and the submit button, never the mouse."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from .pages import INCIDENT_PAGE, button, field, flash_ok, incidencia_id_of, link

pytestmark = pytest.mark.browser

MAX_TABS = 40


def focused(locator: Locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page: Page, locator: Locator) -> int:
    """Press Tab until ``locator`` has the focus; how many presses it took."""
    expect(locator).to_have_count(1)
    for presses in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        if focused(locator):
            return presses
    raise AssertionError(f"{MAX_TABS} presses of Tab never reached {locator}")


def type_into(page: Page, locator: Locator, text: str) -> None:
    tab_to(page, locator)
    page.keyboard.type(text)


def choose(page: Page, select: Locator, value: str) -> None:
    """Focus the select with Tab and move to ``value`` with the arrow keys."""
    tab_to(page, select)
    values = select.locator("option").evaluate_all("options => options.map(o => o.value)")
    current = values.index(select.input_value())
    key = "ArrowDown" if values.index(value) > current else "ArrowUp"
    for _ in range(abs(values.index(value) - current)):
        page.keyboard.press(key)
    expect(select).to_have_value(value)


def test_open_an_incident_with_the_keyboard_only(page, api):
    cliente = api.new_cliente("Teclado")
    page.goto("/entrar")
    # The first stop of every page is the skip link.
    page.keyboard.press("Tab")
    skip = link(page, "Saltar al contenido")
    assert focused(skip)
    expect(skip).to_have_attribute("href", "#contenido")
    type_into(page, field(page, "email"), cliente.email)
    type_into(page, field(page, "password"), cliente.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/incidencias(\?[^#]*)?$"))

    tab_to(page, link(page, "Abrir una incidencia"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/incidencias/nueva$"))
    page.keyboard.press("Tab")
    assert focused(link(page, "Saltar al contenido"))
    page.keyboard.press("Enter")
    expect(page.locator("main#contenido")).to_be_focused()

    values = {"producto.referencia": "SKU-TEC-1", "producto.nombre": "Teclado inalámbrico", "pedido": "PED-77",
              "titulo": "Faltan dos teclas", "descripcion": "La Ñ y la Ç no vienen en la caja."}
    for name, value in values.items():
        type_into(page, field(page, name), value)
    choose(page, field(page, "categoria"), "producto")
    choose(page, field(page, "prioridad"), "alta")
    tab_to(page, button(page, "Abrir incidencia"))
    page.keyboard.press("Enter")

    expect(page).to_have_url(INCIDENT_PAGE)
    expect(flash_ok(page)).to_have_text("Incidencia abierta")
    incidencia_id = incidencia_id_of(page)
    view = api.customer_view(cliente, incidencia_id)
    assert (view["producto"], view["titulo"], view["descripcion"], view["categoria"],
            view["prioridad"]) == ({"referencia": "SKU-TEC-1", "nombre": "Teclado inalámbrico", "pedido": "PED-77"},
                                   "Faltan dos teclas", "La Ñ y la Ç no vienen en la caja.", "producto", "alta")
