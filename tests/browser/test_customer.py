"""The customer's portal in the browser: registering, opening and following
an incident, the list (filter, pages, newest first, live), bad input shown
next to the fields, login refusals, cancelling, notifications, the profile
and deleting the account."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from harness import CLIENTE_PASSWORD
from portal.forms import spanish

from .pages import (
    act, alert, at, button, estado, field, field_error, flash_ok, form_with_button, form_with_field, incidencia_id_of,
    incident_fields, label_of, link, register, row, row_ids, rows, sign_in, sign_out, submit_of,
    specialist, unread,
)

pytestmark = pytest.mark.browser


def new_email(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def test_a_customer_registers_opens_an_incident_and_follows_it(page, api, admin, categoria_propia):
    agente = specialist(api, admin, categoria_propia, "Marta", "Ruiz")
    email = new_email("lucia")

    page.goto("/")
    expect(field(page, "email")).to_be_visible()
    expect(field(page, "password")).to_have_attribute("type", "password")
    link(page, "Crear una cuenta").click()
    expect(page).to_have_url(at("/registro"))
    for name in ("nombre", "apellidos", "email", "password", "fecha_nacimiento"):
        expect(label_of(page, name)).to_have_count(1)
    expect(field(page, "fecha_nacimiento")).to_have_attribute("type", "date")
    register(page, "Lucía", "Gómez Prieto", email, CLIENTE_PASSWORD, fecha_nacimiento="1990-07-26")

    expect(page).to_have_url(at("/incidencias"))
    expect(page.locator("nav")).to_contain_text("Lucía")
    expect(page.locator("main")).to_contain_text("Todavía no ha abierto ninguna incidencia")
    expect(rows(page)).to_have_count(0)
    cliente_token = api.login("clientes", email, CLIENTE_PASSWORD)
    me = api.call("GET", "clientes", "/clientes/yo", cliente_token).json()
    assert (me["nombre"], me["apellidos"], me["email"], me["fecha_nacimiento"]) == (
        "Lucía", "Gómez Prieto", email, "1990-07-26")

    link(page, "Abrir una incidencia").click()
    expect(page).to_have_url(at("/incidencias/nueva"))
    expect(field(page, "prioridad")).to_have_value("media")
    expect(field(page, "categoria").locator("option")).to_have_count(7)  # the six categories and "Sin categoría"
    expect(field(page, "categoria").locator('option[value=""]')).to_have_text("Sin categoría")
    expect(field(page, "descripcion")).to_have_js_property("tagName", "TEXTAREA")
    values = incident_fields("La lámpara llegó rota")
    for name, value in values.items():
        field(page, name).fill(value)
    field(page, "categoria").select_option(categoria_propia)
    field(page, "prioridad").select_option("alta")
    button(page, "Abrir incidencia").click()

    expect(flash_ok(page)).to_have_text("Incidencia abierta")
    incidencia_id = incidencia_id_of(page)
    expect(page.locator("h1")).to_have_text("La lámpara llegó rota")
    main = page.locator("main")
    for value in (values["producto.referencia"], values["producto.nombre"], values["pedido"]):
        expect(main).to_contain_text(value)
    # Assigned by the system to the only specialist: the open page shows it by itself.
    expect(estado(page)).to_have_attribute("data-estado", "asignada")
    expect(estado(page)).to_have_class(re.compile(r"(^|\s)estado-asignada(\s|$)"))
    expect(page.locator("dd#asignada-a")).to_have_text("Marta Ruiz")
    expect(page.locator("ol#historial > li")).to_have_count(2)
    expect(page.locator("ol#historial > li").nth(1)).to_contain_text("Asignada a Marta Ruiz")

    stored = api.customer_view(cliente_token, incidencia_id)
    assert (stored["titulo"], stored["descripcion"], stored["producto"], stored["categoria"],
            stored["prioridad"]) == (values["titulo"], values["descripcion"], {
                "referencia": values["producto.referencia"], "nombre": values["producto.nombre"],
                "pedido": values["pedido"]}, categoria_propia, "alta")
    assert stored["asignada_a"]["id"] == agente.id

    page.goto("/incidencias")
    expect(rows(page)).to_have_count(1)
    listed = row(page, incidencia_id)
    expect(listed).to_contain_text("La lámpara llegó rota")
    expect(listed.locator("span.estado")).to_have_class(re.compile(r"(^|\s)estado-asignada(\s|$)"))
    expect(listed).to_have_attribute("data-version", str(stored["version"]))
    listed.get_by_role("link").first.click()
    expect(page).to_have_url(at(f"/incidencias/{incidencia_id}"))


def test_the_list_and_the_incident_page_update_by_themselves(contexts, api, admin, categoria_propia):
    agente = specialist(api, admin, categoria_propia, "Nico", "Vidal")
    cliente = api.new_cliente("Rosa")
    incidencia_id = api.new_incidencia(cliente, categoria_propia)["id"]
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    lista = contexts().new_page()
    sign_in(lista, cliente.email, cliente.password)
    detalle = lista.context.new_page()
    detalle.goto(f"/incidencias/{incidencia_id}")
    expect(estado(detalle)).to_have_attribute("data-estado", "asignada")
    expect(row(lista, incidencia_id).locator("span.estado")).to_have_class(
        re.compile(r"(^|\s)estado-asignada(\s|$)"))

    api.act(agente, "inicio", incidencia_id)
    api.wait_customer_sees(cliente, incidencia_id, "en_curso")
    expect(estado(detalle)).to_have_attribute("data-estado", "en_curso", timeout=3_000)
    expect(row(lista, incidencia_id).locator("span.estado")).to_have_class(
        re.compile(r"(^|\s)estado-en_curso(\s|$)"), timeout=3_000)

    api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/comentarios", agente.token,
             json={"texto": "Revisamos el envío hoy"})
    expect(detalle.locator("ol#comentarios > li")).to_have_count(1, timeout=5_000)
    expect(detalle.locator("ol#comentarios > li")).to_contain_text(["Revisamos el envío hoy"])


def test_my_incidents_newest_first_filtered_by_state_20_a_page(page, api, admin):
    cliente = api.new_cliente("Paula")
    opened = [api.new_incidencia(cliente, None, titulo=f"Incidencia {n:02d}")["id"] for n in range(1, 23)]
    api.call("POST", "apertura", f"/incidencias/{opened[0]}/cancelacion", cliente.token, json={})
    api.wait_customer_sees(cliente, opened[0], "cancelada")

    sign_in(page, cliente.email, cliente.password)
    expect(rows(page)).to_have_count(20)
    assert row_ids(page) == list(reversed(opened))[:20]
    expect(link(page, "Anterior")).to_have_count(0)
    link(page, "Siguiente").click()
    expect(page).to_have_url(re.compile(r"[?&]pagina=2(&|$)"))
    expect(rows(page)).to_have_count(2)
    assert row_ids(page) == [opened[1], opened[0]]
    expect(link(page, "Siguiente")).to_have_count(0)
    link(page, "Anterior").click()
    expect(rows(page)).to_have_count(20)

    filtro = form_with_button(page, "Filtrar")
    filtro.locator('select[name="estado"]').select_option("cancelada")
    button(filtro, "Filtrar").click()
    expect(page).to_have_url(re.compile(r"[?&]estado=cancelada(&|$)"))
    expect(rows(page)).to_have_count(1)
    assert row_ids(page) == [opened[0]]
    expect(row(page, opened[0]).locator("span.estado")).to_have_class(re.compile(r"(^|\s)estado-cancelada(\s|$)"))
    expect(page.locator('select[name="estado"]')).to_have_value("cancelada")

    page.locator('select[name="estado"]').select_option("cerrada")
    button(form_with_button(page, "Filtrar"), "Filtrar").click()
    expect(rows(page)).to_have_count(0)


def test_bad_input_is_shown_next_to_the_fields_keeping_what_was_typed(page, api):
    taken = api.new_cliente("Ocupada")
    weak = {"nombre": "Irene", "apellidos": "Sanz", "email": new_email("irene"), "password": "sinnumeros-nunca"}
    refused = api.call("POST", "clientes", "/clientes", json=weak)
    assert refused.status_code == 422
    password_message = {e["campo"]: e["mensaje"] for e in refused.json()["errores"]}["password"]

    page.goto("/registro")
    for name, value in weak.items():
        field(page, name).fill(value)
    submit_of(form_with_field(page, "email")).click()

    expect(page).to_have_url(at("/registro"))
    expect(field_error(page, "password")).to_have_text(password_message)
    expect(field(page, "password")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "password")).to_have_attribute("aria-describedby", "password-error")
    # The message comes right after its field.
    expect(page.locator('[id="password"] + p.error-campo')).to_have_attribute("id", "password-error")
    expect(page.locator("p.error-campo")).to_have_count(1)
    expect(field(page, "email")).not_to_have_attribute("aria-invalid", "true")
    for name in ("nombre", "apellidos", "email"):
        expect(field(page, name)).to_have_value(weak[name])

    # A conflict the API names a field for: the e-mail already registered.
    duplicate = {**weak, "email": taken.email, "password": CLIENTE_PASSWORD}
    conflict = api.call("POST", "clientes", "/clientes", json=duplicate)
    assert conflict.status_code == 409
    email_message = {e["campo"]: e["mensaje"] for e in conflict.json()["errores"]}["email"]
    field(page, "email").fill(taken.email)
    field(page, "password").fill(CLIENTE_PASSWORD)
    submit_of(form_with_field(page, "email")).click()
    expect(field_error(page, "email")).to_have_text(email_message)
    expect(field(page, "email")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "email")).to_have_attribute("aria-describedby", "email-error")
    expect(page.locator("p.error-campo")).to_have_count(1)
    for name in ("nombre", "apellidos", "email"):
        expect(field(page, name)).to_have_value(duplicate[name])


def api_messages(api, token, campo: str, bodies: list[dict]) -> set[str]:
    """What apertura answers for ``campo`` to each of ``bodies`` (all refused)."""
    found = set()
    for body in bodies:
        refused = api.call("POST", "apertura", "/incidencias", token, json=body)
        assert refused.status_code == 422, refused.text
        found |= {e["mensaje"] for e in refused.json()["errores"] if e["campo"] == campo}
    return found


def test_the_open_form_shows_the_api_errors_next_to_the_fields(page, api):
    cliente = api.new_cliente("Elena")
    sign_in(page, cliente.email, cliente.password)
    page.goto("/incidencias/nueva")
    values = incident_fields("   ")  # only blanks: the browser lets it through, the API does not
    base = {"descripcion": values["descripcion"], "producto": {"referencia": "R", "nombre": "N"}}
    # Sent as typed, trimmed, or left out: whichever the portal does, the API's message for it.
    # The portal says marshmallow's English defaults in Spanish (portal.forms.spanish).
    messages = {spanish(m) for m in api_messages(api, cliente.token, "titulo", [
        {**base, "titulo": "   "}, {**base, "titulo": ""}, base])}
    for name, value in values.items():
        field(page, name).fill(value)
    field(page, "prioridad").select_option("critica")
    button(page, "Abrir incidencia").click()

    expect(page).to_have_url(at("/incidencias/nueva"))
    expect(field_error(page, "titulo")).to_have_count(1)
    assert field_error(page, "titulo").inner_text().strip() in messages
    expect(field(page, "titulo")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "titulo")).to_have_attribute("aria-describedby", "titulo-error")
    expect(page.locator("p.error-campo")).to_have_count(1)
    for name, value in values.items():
        if name != "titulo":
            expect(field(page, name)).to_have_value(value)
    expect(field(page, "prioridad")).to_have_value("critica")
    assert api.call("GET", "apertura", "/incidencias", cliente.token).json()["total"] == 0


def test_a_double_submit_opens_one_incident(contexts, api):
    cliente = api.new_cliente("Doble")
    page = contexts(javascript=False).new_page()
    sign_in(page, cliente.email, cliente.password)
    page.goto("/incidencias/nueva")
    for name, value in incident_fields("Dos clics").items():
        field(page, name).fill(value)
    button(page, "Abrir incidencia").dblclick()
    expect(page).to_have_url(re.compile(r"/incidencias/(?!nueva)[^/?#]+$"))
    expect(page.locator("h1")).to_have_text("Dos clics")
    page.goto("/incidencias")
    expect(rows(page)).to_have_count(1)
    assert api.call("GET", "apertura", "/incidencias", cliente.token).json()["total"] == 1


def test_a_wrong_password_and_too_many_attempts_are_readable(page, api):
    cliente = api.new_cliente("Olvido")
    page.goto("/entrar")
    field(page, "email").fill(cliente.email)
    field(page, "password").fill("no-es-la-clave-1")
    field(page, "password").press("Enter")
    expect(alert(page)).to_have_text("El email o la contraseña no son correctos")
    expect(field(page, "email")).to_have_value(cliente.email)
    for _ in range(4):  # five failures in all: the account's limit
        field(page, "password").fill("no-es-la-clave-1")
        field(page, "password").press("Enter")
        expect(alert(page)).to_have_text("El email o la contraseña no son correctos")
    field(page, "password").fill(cliente.password)  # even the right one waits now
    field(page, "password").press("Enter")
    expect(alert(page)).to_have_text(re.compile(r"^\s*Demasiados intentos; espere (\d+) segundos\s*$"))
    seconds = int(re.search(r"\d+", alert(page).inner_text()).group())
    assert 1 <= seconds <= 301
    expect(page).to_have_url(at("/entrar"))


def test_a_customer_cancels_an_incident_while_it_is_cancellable(page, api, generalista):
    cliente = api.new_cliente("Bruno")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Ya no lo quiero")["id"]
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    sign_in(page, cliente.email, cliente.password)
    page.goto(f"/incidencias/{incidencia_id}")
    expect(button(page, "Confirmar la solución")).to_have_count(0)
    act(page, "Cancelar la incidencia", motivo="Lo compré en otra tienda")
    expect(flash_ok(page)).to_have_count(1)
    expect(estado(page)).to_have_attribute("data-estado", "cancelada")
    expect(button(page, "Cancelar la incidencia")).to_have_count(0)
    expect(button(page, "Enviar comentario")).to_have_count(0)
    expect(page.locator("ol#historial > li").last).to_contain_text("Cancelada")
    assert api.wait_staff_sees(generalista, incidencia_id, "cancelada")["estado"] == "cancelada"


def test_notifications_show_the_unread_count_and_are_marked_read(page, api, admin, generalista):
    cliente = api.new_cliente("Aviso")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Sin luz")["id"]
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    api.act(generalista, "inicio", incidencia_id)
    api.act(generalista, "resolucion", incidencia_id, {"texto": "Cambie la bombilla"})
    api.wait_customer_sees(cliente, incidencia_id, "resuelta")

    def notificaciones() -> list[dict]:
        return api.call("GET", "apertura", "/notificaciones", cliente.token).json()["elementos"]

    expected = sum(1 for n in notificaciones() if not n["leida"])
    assert expected >= 1

    sign_in(page, cliente.email, cliente.password)
    expect(unread(page)).to_have_text(str(expected))
    page.goto("/notificaciones")
    expect(unread(page)).to_have_text(str(expected))
    main = page.locator("main")
    for notificacion in notificaciones():
        expect(main).to_contain_text(notificacion["mensaje"])
    button(page, "Marcar todas como leídas").click()
    expect(unread(page)).to_have_text("0")
    assert [n for n in notificaciones() if not n["leida"]] == []


def test_profile_edit_and_password_change(page, api):
    cliente = api.new_cliente("Carmen", apellidos="Ortiz")
    sign_in(page, cliente.email, cliente.password)
    page.goto("/perfil")
    expect(field(page, "nombre")).to_have_value("Carmen")
    expect(field(page, "apellidos")).to_have_value("Ortiz")
    expect(field(page, "email")).to_have_value(cliente.email)
    field(page, "nombre").fill("Carmela")
    field(page, "fecha_nacimiento").fill("1985-03-14")
    button(page, "Guardar").click()
    expect(flash_ok(page)).to_have_count(1)
    expect(field(page, "nombre")).to_have_value("Carmela")
    expect(page.locator("nav")).to_contain_text("Carmela")
    me = api.call("GET", "clientes", "/clientes/yo", api.login("clientes", cliente.email, cliente.password)).json()
    assert (me["nombre"], me["fecha_nacimiento"]) == ("Carmela", "1985-03-14")

    form = form_with_button(page, "Cambiar la contraseña")
    field(form, "password_actual").fill("no-es-la-actual-1")
    field(form, "password").fill("Nueva-clave-2027")
    button(form, "Cambiar la contraseña").click()
    wrong = api.call("PATCH", "clientes", "/clientes/yo", api.login("clientes", cliente.email, cliente.password),
                     json={"password_actual": "no-es-la-actual-1", "password": "Nueva-clave-2027"})
    message = {e["campo"]: e["mensaje"] for e in wrong.json()["errores"]}["password_actual"]
    expect(field_error(page, "password_actual")).to_have_text(message)

    form = form_with_button(page, "Cambiar la contraseña")
    field(form, "password_actual").fill(cliente.password)
    field(form, "password").fill("Nueva-clave-2027")
    button(form, "Cambiar la contraseña").click()
    expect(flash_ok(page)).to_have_count(1)
    sign_out(page)
    sign_in(page, cliente.email, "Nueva-clave-2027")


def test_deleting_the_account_needs_the_confirmation_and_ends_the_session(page, api):
    cliente = api.new_cliente("Adios")
    sign_in(page, cliente.email, cliente.password)
    page.goto("/perfil/baja")
    expect(label_of(page, "confirmacion")).to_have_text("Entiendo que se borrarán mis datos")
    button(page, "Borrar mi cuenta").click()
    expect(field_error(page, "confirmacion")).to_have_count(1)
    expect(field(page, "confirmacion")).to_have_attribute("aria-invalid", "true")
    assert api.call("GET", "clientes", "/clientes/yo", cliente.token).status_code == 200

    field(page, "confirmacion").check()
    button(page, "Borrar mi cuenta").click()
    expect(page).to_have_url(at("/entrar"))
    expect(flash_ok(page)).to_have_text("Su cuenta se ha borrado")
    page.goto("/incidencias")
    expect(page).to_have_url(at("/entrar"))
    field(page, "email").fill(cliente.email)
    field(page, "password").fill(cliente.password)
    field(page, "password").press("Enter")
    expect(alert(page)).to_have_text("El email o la contraseña no son correctos")
