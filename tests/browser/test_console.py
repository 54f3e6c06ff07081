"""The team console: the queue's tabs, filters and orders (on a system of the
test's own, so the queue holds exactly its incidents and nobody else can be
auto-assigned), taking and starting an incident, internal notes that never
reach the customer, changing priority and category, the statistics charts,
the admin's employees pages, and what an agent is not offered."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, EMPLEADO_PASSWORD, Driver

from .pages import (
    at, button, comment, estado, field, field_error, flash_ok, form_with_button, link, row, row_ids, rows, sign_in,
    specialist,
)

pytestmark = pytest.mark.browser

NOTE_MARK = "Nota interna: nunca se muestra al cliente"
TABS = ("Mis incidencias", "Sin asignar", "Todas")


def tab(page: Page, name: str):
    return page.locator("main").get_by_role("link", name=name, exact=True)


def assert_active_tab(page: Page, name: str) -> None:
    for other in TABS:
        if other == name:
            expect(tab(page, other)).to_have_attribute("aria-current", "page")
        else:
            expect(tab(page, other)).not_to_have_attribute("aria-current", "page")


def filter_by(page: Page, **selects: str) -> None:
    form = form_with_button(page, "Filtrar")
    for name, value in selects.items():
        form.locator(f'select[name="{name}"]').select_option(value)
    button(form, "Filtrar").click()
    for name, value in selects.items():
        expect(form_with_button(page, "Filtrar").locator(f'select[name="{name}"]')).to_have_value(value)


def display_name(driver: Driver, token: str) -> str:
    me = driver.call("GET", "empleados", "/empleados/yo", token).json()
    return f"{me['nombre']} {me['apellidos'] or ''}".strip()


@pytest.fixture
def quiet(own_system):
    """A system of the test's own with no agent or supervisor: what is opened waits unassigned."""
    with Driver(own_system.urls, patience=20) as driver:
        yield own_system, driver


def test_queue_tabs_filters_and_orders(contexts, quiet):
    system, api = quiet
    cliente = api.new_cliente("Cola")
    primera = api.new_incidencia(cliente, "envios", titulo="Primera", prioridad="alta")["id"]
    segunda = api.new_incidencia(cliente, "devoluciones", titulo="Segunda", prioridad="critica")["id"]
    tercera = api.new_incidencia(cliente, None, titulo="Tercera", prioridad="baja")["id"]
    page = contexts(base_url=system.portal_url).new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
    page.goto("/equipo/")
    expect(page).to_have_url(at("/equipo/incidencias", "vista=mias"))
    assert_active_tab(page, "Mis incidencias")
    expect(rows(page)).to_have_count(0)

    tab(page, "Sin asignar").click()
    expect(page).to_have_url(re.compile(r"[?&]vista=sin_asignar(&|$)"))
    assert_active_tab(page, "Sin asignar")
    expect(rows(page)).to_have_count(3)
    assert sorted(row_ids(page)) == sorted([primera, segunda, tercera])
    expect(row(page, segunda)).to_contain_text("Segunda")

    filter_by(page, orden="antiguedad")
    assert row_ids(page) == [primera, segunda, tercera]
    filter_by(page, orden="recientes")
    assert row_ids(page) == [tercera, segunda, primera]
    filter_by(page, orden="prioridad")
    assert row_ids(page) == [segunda, primera, tercera]
    assert_active_tab(page, "Sin asignar")  # filtering keeps the tab
    filter_by(page, prioridad="alta")
    assert row_ids(page) == [primera]
    filter_by(page, prioridad="", categoria="devoluciones")
    assert row_ids(page) == [segunda]
    filter_by(page, categoria="", estado="abierta")
    expect(rows(page)).to_have_count(3)
    filter_by(page, estado="cerrada")
    expect(rows(page)).to_have_count(0)
    filter_by(page, estado="")
    expect(rows(page)).to_have_count(3)

    # The open queue shows a new incident by itself.
    cuarta = api.new_incidencia(cliente, None, titulo="Cuarta")["id"]
    expect(row(page, cuarta)).to_have_count(1, timeout=5_000)
    expect(rows(page)).to_have_count(4)

    tab(page, "Todas").click()
    assert_active_tab(page, "Todas")
    expect(rows(page)).to_have_count(4)


def test_take_start_internal_note_and_data_change(contexts, quiet):
    system, api = quiet
    cliente = api.new_cliente("Nora", apellidos="Cliente")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Caja abollada")["id"]
    admin_name = display_name(api, api.admin_token())
    page = contexts(base_url=system.portal_url).new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
    page.goto("/equipo/incidencias?vista=sin_asignar")
    row(page, incidencia_id).get_by_role("link").first.click()
    expect(page).to_have_url(at(f"/equipo/incidencias/{incidencia_id}"))
    expect(estado(page)).to_have_attribute("data-estado", "abierta")
    expect(page.locator("dd#asignada-a")).to_have_text("Sin asignar")
    expect(page.locator("main")).to_contain_text("Nora")
    expect(button(page, "Empezar")).to_have_count(0)
    expect(page.locator('select[name="empleado_id"]')).to_have_count(1)  # admins assign

    button(page, "Tomar").click()
    expect(flash_ok(page)).to_have_count(1)
    expect(estado(page)).to_have_attribute("data-estado", "asignada")
    expect(page.locator("dd#asignada-a")).to_have_text(admin_name)
    button(page, "Empezar").click()
    expect(estado(page)).to_have_attribute("data-estado", "en_curso")
    expect(page.locator("ol#historial")).to_contain_text(f"Asignada a {admin_name}")
    expect(page.locator("ol#historial > li").last).to_contain_text("En curso")

    comment(page, "El transportista ya tuvo otras quejas", "Añadir comentario", interna=True)
    expect(flash_ok(page)).to_have_count(1)
    nota = page.locator("ol#comentarios > li.comentario.nota-interna")
    expect(nota).to_have_count(1)
    expect(nota).to_contain_text(NOTE_MARK)
    expect(nota).to_contain_text("El transportista ya tuvo otras quejas")
    comment(page, "Le enviamos una caja nueva", "Añadir comentario")
    expect(page.locator("ol#comentarios > li.comentario")).to_have_count(2)
    expect(nota).to_have_count(1)
    expect(page.locator("ol#comentarios > li.comentario:not(.nota-interna)")).to_contain_text(
        ["Le enviamos una caja nueva"])

    datos = form_with_button(page, "Guardar cambios")
    datos.locator('select[name="prioridad"]').select_option("critica")
    datos.locator('select[name="categoria"]').select_option("garantia")
    button(datos, "Guardar cambios").click()
    expect(flash_ok(page)).to_have_count(1)
    staff = api.staff_view(api.admin_token(), incidencia_id)
    assert (staff["prioridad"], staff["categoria"]) == ("critica", "garantia")
    assert [(c["texto"], c["interna"]) for c in staff["comentarios"]] == [
        ("El transportista ya tuvo otras quejas", True), ("Le enviamos una caja nueva", False)]

    page.goto("/equipo/incidencias?vista=mias")
    assert row_ids(page) == [incidencia_id]
    otra = api.new_incidencia(cliente, None, titulo="Sigue sin asignar")["id"]
    page.goto("/equipo/incidencias?vista=todas")
    assert sorted(row_ids(page)) == sorted([incidencia_id, otra])
    admin_id = api.call("GET", "empleados", "/empleados/yo", api.admin_token()).json()["id"]
    filter_by(page, asignada_a=admin_id)
    assert row_ids(page) == [incidencia_id]

    # The customer's page: the public comment, never the note.
    suya = contexts(base_url=system.portal_url).new_page()
    sign_in(suya, cliente.email, cliente.password)
    suya.goto(f"/incidencias/{incidencia_id}")
    expect(suya.locator("ol#comentarios > li")).to_have_count(1, timeout=5_000)
    expect(suya.locator("ol#comentarios > li")).to_contain_text(["Le enviamos una caja nueva"])
    html = suya.content()
    assert "El transportista ya tuvo otras quejas" not in html
    assert "Nota interna" not in html
    expect(suya.locator(".nota-interna")).to_have_count(0)


def test_statistics_page_draws_svg_charts_with_the_figures(contexts, quiet):
    system, api = quiet
    cliente = api.new_cliente("Cifras")
    admin_token = api.admin_token()
    trabajada = api.new_incidencia(cliente, None, titulo="Una", prioridad="alta")["id"]
    resuelta = api.new_incidencia(cliente, None, titulo="Dos", prioridad="alta")["id"]
    api.new_incidencia(cliente, None, titulo="Tres", prioridad="baja")
    for incidencia_id in (trabajada, resuelta):
        assert api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/asignacion", admin_token,
                        json={}).status_code == 200
    api.act(admin_token, "inicio", trabajada)
    api.act(admin_token, "resolucion", resuelta, {"texto": "Hecho"})
    figures = api.call("GET", "resolucion", "/estadisticas", admin_token).json()
    assert {k: v for k, v in figures["por_estado"].items() if v} == {"abierta": 1, "en_curso": 1, "resuelta": 1}

    page = contexts(base_url=system.portal_url).new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
    page.goto("/equipo/estadisticas")
    expect(page.locator("h1")).to_have_count(1)
    charts = page.locator('main svg[role="img"]')
    expect(charts).to_have_count(3)
    for chart in charts.all():
        expect(chart.locator("title")).to_have_count(1)
        assert chart.locator("title").text_content().strip()
        labelled_by = chart.get_attribute("aria-labelledby").split()
        assert labelled_by
        for element_id in labelled_by:
            expect(page.locator(f'[id="{element_id}"]')).to_have_count(1)
        assert chart.locator("rect").count() >= 1
    # The numbers as tables too: every figure that is not zero is a cell.
    cells = [t.strip() for t in page.locator("main table td").all_text_contents()]
    wanted = [str(v) for v in figures["por_estado"].values() if v] + [
        str(v) for v in figures["por_prioridad"].values() if v] + [
        str(e["abiertas"]) for e in figures["carga_por_empleado"] if e["abiertas"]]
    for value in set(wanted):
        assert cells.count(value) >= wanted.count(value), (value, cells)
    main = page.locator("main")
    expect(main).to_contain_text(re.compile("mediana", re.IGNORECASE))
    expect(main).to_contain_text(re.compile(r"p90|percentil 90", re.IGNORECASE))


def test_the_admin_registers_changes_and_deactivates_an_employee(admin_page, api, admin):
    page = admin_page
    email = f"baja.{uuid.uuid4().hex[:10]}@example.com"
    page.goto("/equipo/empleados/nuevo")
    page.get_by_text("Sin invitación: darle yo una contraseña inicial").click()  # a password instead of an invitation
    for name, value in {"nombre": "Berta", "apellidos": "Temporal", "email": email,
                        "password": EMPLEADO_PASSWORD}.items():
        field(page, name).fill(value)
    field(page, "rol").select_option("agente")
    field(page, "categorias").fill("otros, facturacion")
    page.locator("form").filter(has=field(page, "categorias")).locator(
        'button[type="submit"], button:not([type])').click()
    expect(flash_ok(page)).to_have_count(1)
    found = api.call("GET", "empleados", "/empleados", admin.token, params={"q": email}).json()["elementos"]
    assert [(e["rol"], e["categorias"], e["activo"]) for e in found] == [("agente", ["otros", "facturacion"], True)]
    empleado_id = found[0]["id"]

    page.goto("/equipo/empleados")
    expect(page.locator("main")).to_contain_text(email)
    page.goto(f"/equipo/empleados/{empleado_id}")
    field(page, "rol").select_option("supervisor")
    field(page, "categorias").fill("otros")
    page.locator("form").filter(has=field(page, "categorias")).locator(
        'button[type="submit"], button:not([type])').click()
    expect(flash_ok(page)).to_have_count(1)
    changed = api.call("GET", "empleados", f"/empleados/{empleado_id}", admin.token).json()
    assert (changed["rol"], changed["categorias"]) == ("supervisor", ["otros"])

    page.goto(f"/equipo/empleados/{empleado_id}")
    button(page, "Dar de baja").click()
    expect(field_error(page, "confirmacion")).to_have_count(1)
    assert api.call("GET", "empleados", f"/empleados/{empleado_id}", admin.token).json()["activo"] is True
    field(page, "confirmacion").check()
    button(page, "Dar de baja").click()
    expect(flash_ok(page)).to_have_count(1)
    assert api.call("GET", "empleados", f"/empleados/{empleado_id}", admin.token).json()["activo"] is False


def test_an_agent_is_not_offered_what_only_managers_do(contexts, api, admin, generalista):
    otro = specialist(api, admin, "otros-de-nadie", "Otto", "Ajeno")
    cliente = api.new_cliente("Ajena")
    incidencia_id = api.new_incidencia(cliente, None, titulo="De Gema")["id"]
    api.wait_staff_sees(generalista, incidencia_id, "asignada")
    page = contexts().new_page()
    sign_in(page, otro.email, EMPLEADO_PASSWORD, equipo=True)
    expect(link(page.locator("nav"), "Empleados")).to_have_count(0)
    page.goto(f"/equipo/incidencias/{incidencia_id}")
    expect(page.locator("dd#asignada-a")).to_have_text("Gema General")
    for action in ("Tomar", "Asignar", "Empezar", "Proponer solución"):
        expect(button(page, action)).to_have_count(0)
    expect(page.locator('select[name="empleado_id"]')).to_have_count(0)
    page.goto("/equipo/incidencias?vista=todas")
    expect(page.locator('select[name="asignada_a"]')).to_have_count(0)  # supervisors and admins only

    answer = page.goto("/equipo/empleados")
    assert answer.status == 403
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("Traceback")
    answer = page.goto("/equipo/empleados/nuevo")
    assert answer.status == 403


def test_a_supervisor_changes_the_incidents_ticked_in_the_queue(contexts, quiet):
    system, api = quiet
    cliente = api.new_cliente("Lote")
    ids = [api.new_incidencia(cliente, "envios", titulo=f"Lote {n}", prioridad="baja")["id"] for n in range(3)]
    page = contexts(base_url=system.portal_url).new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
    page.goto("/equipo/incidencias?vista=sin_asignar&categoria=envios")
    expect(rows(page)).to_have_count(3)
    for incidencia_id in ids[:2]:
        row(page, incidencia_id).get_by_role("checkbox").check()
    lote = page.get_by_role("group", name="Con las seleccionadas")
    lote.get_by_label("Hacer").select_option("prioridad")
    lote.get_by_label("Prioridad").select_option("critica")
    button(lote, "Aplicar a las seleccionadas").click()
    expect(flash_ok(page)).to_have_text("Aplicado a 2 de 2.")
    expect(page).to_have_url(at("/equipo/incidencias", "vista=sin_asignar&categoria=envios"))
    for incidencia_id, prioridad in zip(ids, ("Crítica", "Crítica", "Baja")):
        expect(row(page, incidencia_id)).to_contain_text(prioridad)
