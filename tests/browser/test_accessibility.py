"""Every page of the portal, checked by axe-core (the axe-playwright-python
package's copy) in Chromium: no serious or critical violation. Each page is
also checked for what the contract promises on every page: Spanish as its
language, one <h1>, <main id="contenido"> and the skip link to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from harness import Driver, wait_until

from .pages import button, field, form_with_button, link, sign_in, submit_of
from .store import add_staff_notification

pytestmark = pytest.mark.browser

BLOCKING = ("serious", "critical")
axe = Axe()


@dataclass
class World:
    """The people and incidents the pages show."""

    cliente: object
    agente: object
    resuelta: str  # an incident waiting for the customer's answer
    en_curso: str  # one being worked on, with an internal note
    esperando: str  # one waiting on the customer's answer to a question
    cerrada: str  # a closed one, not rated yet (its rating form)
    valorada: str  # a closed one the customer rated
    states: dict[str, dict]  # who -> signed-in storage state


@pytest.fixture(scope="module")
def world(system, admin, generalista, browser) -> World:
    """The incidents below, and a warning of the agent's (written into resolucion's store: ``store``)."""
    with Driver(system.urls, patience=20) as api:
        cliente = api.new_cliente("Alba", apellidos="Accesible")
        resuelta = api.new_incidencia(cliente, None, titulo="Resuelta para revisar", prioridad="alta")["id"]
        en_curso = api.new_incidencia(cliente, None, titulo="En curso para revisar", pedido="PED-9")["id"]
        for incidencia_id in (resuelta, en_curso):
            api.wait_staff_sees(generalista, incidencia_id, "asignada")
            api.act(generalista, "inicio", incidencia_id)
        api.call("POST", "resolucion", f"/incidencias/{en_curso}/comentarios", generalista.token,
                 json={"texto": "Nota para el equipo", "interna": True})
        api.call("POST", "resolucion", f"/incidencias/{en_curso}/comentarios", generalista.token,
                 json={"texto": "Estamos en ello"})
        api.act(generalista, "resolucion", resuelta, {"texto": "Cambiamos la pieza"})
        api.wait_customer_sees(cliente, resuelta, "resuelta")
        esperando = api.new_incidencia(cliente, None, titulo="Esperando para revisar")["id"]
        api.wait_staff_sees(generalista, esperando, "asignada")
        api.act(generalista, "consulta", esperando, {"pregunta": "¿Nos dice el número de serie?"})
        api.wait_customer_sees(cliente, esperando, "esperando_cliente")
        cerradas = []
        for titulo in ("Cerrada para valorar", "Cerrada y valorada"):
            incidencia_id = api.new_incidencia(cliente, None, titulo=titulo)["id"]
            api.wait_staff_sees(generalista, incidencia_id, "asignada")
            api.act(generalista, "resolucion", incidencia_id, {"texto": "Listo"})
            api.wait_customer_sees(cliente, incidencia_id, "resuelta")
            closed = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", cliente.token, json={})
            assert closed.status_code == 200, closed.text
            cerradas.append(incidencia_id)
        cerrada, valorada = cerradas
        rated = api.call("POST", "apertura", f"/incidencias/{valorada}/valoracion", cliente.token,
                         json={"puntuacion": 2, "comentario": "Tardaron en responder"})
        assert rated.status_code == 201, rated.text
        wait_until(lambda: api.staff_view(generalista, valorada).get("valoracion"), timeout=20,
                   message="resolucion holds the rating")
        add_staff_notification(system, generalista, en_curso, "A «En curso para revisar» le queda poco")
    states = {}
    for who, (email, password, equipo) in {
            "cliente": (cliente.email, cliente.password, False),
            "admin": (admin.email, admin.password, True),
            "agente": (generalista.email, generalista.password, True)}.items():
        context = browser.new_context(base_url=system.portal_url)
        page = context.new_page()
        sign_in(page, email, password, equipo=equipo)
        states[who] = context.storage_state()
        context.close()
    return World(cliente, generalista, resuelta, en_curso, esperando, cerrada, valorada, states)


def registration_errors(page: Page) -> None:
    field(page, "nombre").fill("Ana")
    field(page, "apellidos").fill("Errores")
    field(page, "email").fill("ana.errores@example.com")
    field(page, "password").fill("sin-numeros-nunca")
    submit_of(page.locator("form").filter(has=field(page, "email"))).click()
    expect(page.locator("p.error-campo")).to_have_count(1)


def login_error(page: Page) -> None:
    field(page, "email").fill("nadie@example.com")
    field(page, "password").fill("Incorrecta-2026")
    field(page, "password").press("Enter")
    expect(page.locator('div.aviso.aviso-error[role="alert"]')).to_have_count(1)


def csrf_refused(page: Page) -> None:
    form = form_with_button(page, "Enviar comentario")
    form.locator('input[name="csrf_token"]').evaluate("element => element.remove()")
    form.locator('textarea[name="texto"]').fill("x")
    button(form, "Enviar comentario").click()
    expect(page.locator("main")).to_contain_text("La página ha caducado; vuelva a intentarlo")


def baja_without_confirmation(page: Page) -> None:
    button(page, "Borrar mi cuenta").click()
    expect(page.locator("p.error-campo")).to_have_count(1)


def new_employee_errors(page: Page) -> None:
    field(page, "nombre").fill("Pedro")
    field(page, "apellidos").fill("Errores")
    field(page, "email").fill("pedro.errores@example.com")
    page.get_by_text("Sin invitación: darle yo una contraseña inicial").click()  # a password instead of an invitation
    field(page, "password").fill("sin-numeros-nunca")
    submit_of(page.locator("form").filter(has=field(page, "categorias"))).click()
    expect(page.locator("p.error-campo").first).to_be_visible()


def phone_incident_errors(page: Page) -> None:
    field(page, "producto.nombre").fill("Batidora")
    submit_of(page.locator("form").filter(has=field(page, "titulo"))).click()
    expect(page.locator("p.error-campo").first).to_be_visible()


def canned_reply_errors(page: Page) -> None:
    field(page, "texto").fill("Hola {nombre}")
    submit_of(page.locator("form").filter(has=field(page, "titulo"))).click()
    expect(page.locator("p.error-campo").first).to_be_visible()


def sla_errors(page: Page) -> None:
    field(page, "calendario.zona").fill("Europa/Madrid")  # refused by resolucion, next to the field
    submit_of(page.locator("form").filter(has=field(page, "calendario.zona"))).click()
    expect(page.locator("p.error-campo")).to_have_count(1)


def rating_errors(page: Page) -> None:
    button(page, "Enviar valoración").click()
    expect(page.locator("p.error-campo")).to_have_count(1)


def nothing(_page: Page) -> None:
    pass


# (who is signed in, path with {resuelta}/{en_curso}/{esperando}/{cerrada}/{valorada}/{agente}/{cliente} in it,
# what to do there first)
PAGES: list[tuple[str | None, str, Callable[[Page], None]]] = [
    (None, "/", nothing),
    (None, "/entrar", nothing),
    (None, "/entrar", login_error),
    (None, "/registro", nothing),
    (None, "/registro", registration_errors),
    (None, "/equipo/entrar", nothing),
    ("cliente", "/incidencias", nothing),
    ("cliente", "/incidencias?estado=resuelta", nothing),
    ("cliente", "/incidencias/nueva", nothing),
    ("cliente", "/incidencias/{resuelta}", nothing),
    ("cliente", "/incidencias/{en_curso}", nothing),
    ("cliente", "/incidencias/{en_curso}", csrf_refused),
    ("cliente", "/incidencias/{esperando}", nothing),
    ("cliente", "/incidencias/{cerrada}", nothing),
    ("cliente", "/incidencias/{cerrada}", rating_errors),
    ("cliente", "/incidencias/{valorada}", nothing),
    ("cliente", "/notificaciones", nothing),
    ("cliente", "/perfil", nothing),
    ("cliente", "/perfil/baja", nothing),
    ("cliente", "/perfil/baja", baja_without_confirmation),
    ("admin", "/equipo/incidencias?vista=mias", nothing),
    ("admin", "/equipo/incidencias?vista=sin_asignar", nothing),
    ("admin", "/equipo/incidencias?vista=todas", nothing),
    ("admin", "/equipo/incidencias/{en_curso}", nothing),
    ("admin", "/equipo/incidencias/{resuelta}", nothing),
    ("agente", "/equipo/incidencias?vista=mias", nothing),
    ("agente", "/equipo/incidencias/{en_curso}", nothing),
    ("agente", "/equipo/incidencias/{esperando}", nothing),
    ("agente", "/equipo/incidencias/{valorada}", nothing),
    ("agente", "/equipo/avisos", nothing),
    ("agente", "/equipo/avisos?filtro=sin_leer", nothing),
    ("agente", "/equipo/clientes", nothing),
    ("agente", "/equipo/clientes?q=Accesible", nothing),
    ("agente", "/equipo/clientes/{cliente}", nothing),
    ("agente", "/equipo/clientes/{cliente}/incidencias/nueva", nothing),
    ("agente", "/equipo/clientes/{cliente}/incidencias/nueva", phone_incident_errors),
    ("admin", "/equipo/estadisticas", nothing),
    ("admin", "/equipo/estadisticas?desde=2026-12-05&hasta=2026-12-01", nothing),  # the period refused
    ("admin", "/equipo/sla", nothing),
    ("admin", "/equipo/sla", sla_errors),
    ("agente", "/equipo/sla", nothing),
    ("admin", "/equipo/respuestas", nothing),
    ("admin", "/equipo/respuestas/nueva", nothing),
    ("admin", "/equipo/respuestas/nueva", canned_reply_errors),
    ("admin", "/equipo/empleados", nothing),
    ("admin", "/equipo/empleados/nuevo", nothing),
    ("admin", "/equipo/empleados/nuevo", new_employee_errors),
    ("admin", "/equipo/empleados/{agente}", nothing),
    ("agente", "/equipo/empleados", nothing),  # the 403 page
    ("cliente", "/incidencias/no-existe", nothing),  # the 404 page
]


def page_id(entry) -> str:
    who, path, before = entry
    return f"{who or 'anonimo'}:{path}" + ("" if before is nothing else f":{before.__name__}")


@pytest.mark.parametrize("entry", PAGES, ids=[page_id(p) for p in PAGES])
def test_every_page_has_no_serious_accessibility_violation(contexts, world, entry):
    who, path, before = entry
    context = contexts(storage_state=world.states[who] if who else None)
    page = context.new_page()
    page.goto(path.format(resuelta=world.resuelta, en_curso=world.en_curso, esperando=world.esperando,
                          cerrada=world.cerrada, valorada=world.valorada, agente=world.agente.id,
                          cliente=world.cliente.id))
    before(page)

    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("main#contenido")).to_have_count(1)
    expect(link(page, "Saltar al contenido")).to_have_attribute("href", "#contenido")
    if who:
        expect(page.locator('nav form[action$="/salir"]')).to_have_count(1)
    results = axe.run(page)
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} -> " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in results.response["violations"] if v["impact"] in BLOCKING]
    assert blocking == [], "\n".join(blocking)
