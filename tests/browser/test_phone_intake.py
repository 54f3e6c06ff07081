"""A call taken at the desk, in the console: the agent looks the caller up
by the number they call from, finds no account, registers them, opens the
incident they tell about in their name; the caller chooses a password from
the mail the system's own SMTP server received (``tests.browser.mails``),
lands in their account and finds the incident there, opened by phone and
assigned. Each new page passes axe-core."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from harness import EMPLEADO_PASSWORD

from .mails import link_in_mail
from .pages import at, button, field, field_error, fill_fields, flash_ok, incident_fields, link, row, sign_in, specialist
from .test_account_links import accessible, fill_new_password

pytestmark = pytest.mark.browser


def test_an_agent_registers_a_caller_and_opens_their_incident_which_they_then_follow(contexts, api, admin, system,
                                                                                     categoria_propia):
    agente = specialist(api, admin, categoria_propia, "Telma", "Centralita")
    digits = f"6{uuid.uuid4().int % 10**8:08d}"
    telefono = f"{digits[:3]} {digits[3:5]} {digits[5:7]} {digits[7:]}"
    email = f"dolores.{uuid.uuid4().hex[:10]}@example.com"

    desk = contexts().new_page()
    sign_in(desk, agente.email, EMPLEADO_PASSWORD, equipo=True)
    desk.goto(f"/equipo/clientes?q={digits}")
    expect(desk.locator("p.total")).to_have_text("0 clientes")
    link(desk, "Dar de alta a quien llama").click()
    expect(desk).to_have_url(at("/equipo/clientes/nuevo"))
    accessible(desk)
    fill_fields(desk, {"nombre": "Dolores", "apellidos": "Fuertes", "email": "no-es-un-email", "telefono": telefono})
    button(desk, "Dar de alta").click()
    expect(field_error(desk, "email")).to_have_text("No es un email válido.")
    expect(field(desk, "telefono")).to_have_value(telefono)
    field(desk, "email").fill(email)
    button(desk, "Dar de alta").click()
    expect(desk.locator("h1")).to_have_text("Dolores Fuertes")
    expect(flash_ok(desk)).to_contain_text(f"Hemos enviado a {email} un enlace para elegir su contraseña")
    expect(desk.locator("#cliente-telefono")).to_have_text(telefono)

    link(desk, "Abrir una incidencia por teléfono").click()
    accessible(desk)
    fill_fields(desk, incident_fields("La freidora no calienta", **{"producto.nombre": "Freidora de aire"}))
    field(desk, "categoria").select_option(categoria_propia)
    button(desk, "Abrir incidencia").click()
    expect(flash_ok(desk)).to_have_text("Incidencia «La freidora no calienta» abierta por teléfono")

    caller = contexts().new_page()
    caller.goto(link_in_mail(system, email, "/cuenta/invitacion"))
    expect(caller.locator("h1")).to_have_text("Elija su contraseña")
    accessible(caller)
    fill_new_password(caller, "Freidora-2026")
    button(caller, "Guardar y entrar").click()
    expect(caller).to_have_url(at("/incidencias"))
    expect(flash_ok(caller)).to_have_text("Su contraseña se ha guardado. Estas son sus incidencias.")
    [incidencia] = api.list_all("apertura", "/incidencias", api.login("clientes", email, "Freidora-2026")).values()
    assert (incidencia["titulo"], incidencia["canal"]) == ("La freidora no calienta", "telefono")
    assert incidencia["historial"][0]["por"] == {"id": agente.id, "rol": "agente"}
    expect(row(caller, incidencia["id"])).to_contain_text("La freidora no calienta")
    link(caller, "La freidora no calienta").click()
    expect(caller.locator("span#estado")).to_have_attribute("data-estado", "asignada")
