"""How the browser tier (and scripts/screenshots.py) drives the portal:
Debian's Chromium started by Playwright, and the page contract of the
portal's templates (ids, classes, roles and button names) in one place.

Fields are found as the contract names them: ``<input id="ID" name="NAME">``
where ID is NAME with dots replaced by dashes, and a field's error is
``<p class="error-campo" id="ID-error">``. Forms are found by the button
that submits them, since a page may hold several ``texto`` fields.
"""
from __future__ import annotations

import os
import re
from typing import Iterable
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Locator, Page, Playwright, expect

from harness import Account, Driver

# Debian's Chromium; Playwright never downloads a browser of its own.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run",
]
NARROW = {"width": 360, "height": 740}  # a phone
WIDE = {"width": 1280, "height": 800}  # a laptop
LOCALE, TIMEZONE = "es-ES", "Europe/Madrid"
SESSION_COOKIE = "incidencias_sesion"
PORTAL_CATEGORIAS = ("envios", "devoluciones", "garantia", "facturacion", "producto", "otros")


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian Chromium, without its background traffic."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# -- the page contract ------------------------------------------------------------
def field_id(name: str) -> str:
    return name.replace(".", "-")


def field(scope: Page | Locator, name: str) -> Locator:
    """The form field for the API field ``name``."""
    return scope.locator(f'[id="{field_id(name)}"][name="{name}"]')


def field_error(scope: Page | Locator, name: str) -> Locator:
    return scope.locator(f'p.error-campo[id="{field_id(name)}-error"]')


def label_of(page: Page, name: str) -> Locator:
    return page.locator(f'label[for="{field_id(name)}"]')


def button(scope: Page | Locator, name: str) -> Locator:
    return scope.get_by_role("button", name=name, exact=True)


def link(scope: Page | Locator, name: str) -> Locator:
    return scope.get_by_role("link", name=name, exact=True)


def form_with_button(page: Page, name: str) -> Locator:
    """The form submitted by the button ``name``."""
    return page.locator("form").filter(has=button(page, name))


def form_with_field(page: Page, name: str) -> Locator:
    """The form holding the field ``name``."""
    return page.locator("form").filter(has=field(page, name))


def submit_of(form: Locator) -> Locator:
    return form.locator('button[type="submit"], button:not([type]), input[type="submit"]')


def flash_ok(page: Page) -> Locator:
    return page.locator('div.aviso.aviso-ok[role="status"]')


def alert(page: Page) -> Locator:
    return page.locator('div.aviso.aviso-error[role="alert"]')


def estado(page: Page) -> Locator:
    """The state of the incident on its page."""
    return page.locator("span#estado.estado")


def rows(page: Page) -> Locator:
    return page.locator("table#lista-incidencias tr[data-incidencia-id]")


def row(page: Page, incidencia_id: str) -> Locator:
    return page.locator(f'table#lista-incidencias tr[data-incidencia-id="{incidencia_id}"]')


def row_ids(page: Page) -> list[str]:
    return [r.get_attribute("data-incidencia-id") for r in rows(page).all()]


def logout_button(page: Page) -> Locator:
    return page.locator('nav form[action$="/salir"]').locator(
        'button[type="submit"], button:not([type]), input[type="submit"]')


def unread(page: Page) -> Locator:
    return page.locator("nav span#no-leidas.contador")


# -- where the browser is -----------------------------------------------------------
def at(path: str, query: str | None = None) -> re.Pattern:
    """The page URL of ``path`` (any host), with exactly ``query`` when given, or any query."""
    tail = re.escape(f"?{query}") if query is not None else r"(\?[^#]*)?"
    return re.compile(rf"^https?://[^/]+{re.escape(path)}{tail}(#.*)?$")


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


INCIDENT_PAGE = re.compile(r"^https?://[^/]+/incidencias/(?!nueva\b)([^/?#]+)(\?[^#]*)?$")


def incidencia_id_of(page: Page) -> str:
    """The id of the incident whose customer page is shown."""
    match = INCIDENT_PAGE.match(page.url)
    assert match, f"not an incident page: {page.url}"
    return match.group(1)


# -- what people do -----------------------------------------------------------------
def sign_in(page: Page, email: str, password: str, *, equipo: bool = False) -> None:
    """The login form of the area, submitted with Enter; on to the area's first page."""
    page.goto("/equipo/entrar" if equipo else "/entrar")
    field(page, "email").fill(email)
    field(page, "password").fill(password)
    field(page, "password").press("Enter")
    expect(page).to_have_url(at("/equipo/incidencias") if equipo else at("/incidencias"))


def sign_out(page: Page, *, equipo: bool = False) -> None:
    logout_button(page).click()
    expect(page).to_have_url(at("/equipo/entrar" if equipo else "/entrar"))


def register(page: Page, nombre: str, apellidos: str, email: str, password: str,
             fecha_nacimiento: str | None = None) -> None:
    page.goto("/registro")
    fill_fields(page, {"nombre": nombre, "apellidos": apellidos, "email": email, "password": password})
    if fecha_nacimiento:
        field(page, "fecha_nacimiento").fill(fecha_nacimiento)
    submit_of(form_with_field(page, "email")).click()


def fill_fields(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        field(page, name).fill(value)


def incident_fields(titulo: str = "La lámpara llegó rota", **overrides: str) -> dict[str, str]:
    """Values for the text fields of the open-an-incident form."""
    return {"producto.referencia": "SKU-LAMP-7", "producto.nombre": "Lámpara de pie", "pedido": "PED-2026-0042",
            "titulo": titulo, "descripcion": "La caja venía aplastada y el pie está partido.", **overrides}


def open_incidencia(page: Page, titulo: str = "La lámpara llegó rota", *, categoria: str | None = None,
                    prioridad: str | None = None, **overrides: str) -> str:
    """Open an incident through the form; its id (the page it lands on)."""
    page.goto("/incidencias/nueva")
    fill_fields(page, incident_fields(titulo, **overrides))
    if categoria is not None:
        field(page, "categoria").select_option(categoria)
    if prioridad is not None:
        field(page, "prioridad").select_option(prioridad)
    button(page, "Abrir incidencia").click()
    expect(page).to_have_url(INCIDENT_PAGE)
    expect(flash_ok(page)).to_have_text("Incidencia abierta")
    return incidencia_id_of(page)


def comment(page: Page, texto: str, button_name: str = "Enviar comentario", *, interna: bool = False) -> None:
    form = form_with_button(page, button_name)
    form.locator('textarea[name="texto"]').fill(texto)
    if interna:
        field(form, "interna").check()
    button(form, button_name).click()


def act(page: Page, button_name: str, **textareas: str) -> None:
    """Fill the textareas of the form of ``button_name`` and submit it."""
    form = form_with_button(page, button_name)
    for name, value in textareas.items():
        form.locator(f'textarea[name="{name}"]').fill(value)
    button(form, button_name).click()


def texts(locator: Locator) -> list[str]:
    return [" ".join(t.split()) for t in locator.all_inner_texts()]


def without_horizontal_scroll(page: Page) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of the document: equal when nothing sticks out sideways."""
    return tuple(page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]"))


def within_viewport(page: Page, locators: Iterable[Locator]) -> list[str]:
    """The locators (by their first element) that stick out of the viewport sideways."""
    width = page.viewport_size["width"]
    outside = []
    for locator in locators:
        box = locator.first.bounding_box()
        if box is None or box["x"] < 0 or box["x"] + box["width"] > width + 0.5:
            outside.append(f"{locator} at {box}")
    return outside


# -- people the tests are not about, made through the APIs ---------------------------------
def specialist(driver: Driver, admin: Account, categoria: str, nombre: str, apellidos: str) -> Account:
    """An agent for ``categoria``, known by resolucion (so auto-assignment considers them)."""
    agente = driver.new_empleado("agente", [categoria], nombre=nombre, apellidos=apellidos, admin_token=admin.token)
    driver.wait_known_by_resolucion(admin, agente)
    return agente
