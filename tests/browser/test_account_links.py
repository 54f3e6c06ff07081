"""The pages the account mails link to, followed from the mails themselves
(the system's own SMTP server, ``tests.browser.mails``): a new customer's
e-mail verified (the reminder, its throttled "send again", a link prefetched
by a mail scanner still working), a forgotten password reset (the same
answer for an unknown e-mail; the old password and sessions out), an
invitation accepted and a staff password reset, a new e-mail confirmed and
the mail preference, and the links into an incident's forms. A wrong, used
or forged link is one page, 400, every time. Each new page also passes
axe-core (no serious or critical violation)."""
from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from common.passwords import PASSWORD_RULE
from harness import CLIENTE_PASSWORD

from .mails import link_in_mail, links_to
from .pages import alert, at, button, field, field_error, flash_ok, link, register, sign_in, sign_out

pytestmark = pytest.mark.browser

INVALID = "El enlace no es válido o ha caducado"
SESSION_ENDED = "Su sesión ha terminado; vuelva a entrar"
BLOCKING = ("serious", "critical")
axe = Axe()


def new_email(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def accessible(page: Page) -> None:
    """One <h1>, and nothing serious or critical for axe-core."""
    expect(page.locator("h1")).to_have_count(1)
    blocking = [f"{v['id']} ({v['impact']}): {v['help']}" for v in axe.run(page).response["violations"]
                if v["impact"] in BLOCKING]
    assert blocking == [], f"{page.url}:\n" + "\n".join(blocking)


def forged(url: str) -> str:
    """``url`` with its token's secret changed: the shape of a token, the right account, not its link."""
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    cuenta_id, _, secret = token.partition(".")
    other = ("A" if secret[0] != "A" else "B") + secret[1:]
    return parts._replace(query=urlencode({"token": f"{cuenta_id}.{other}"})).geturl()


def invalid_link_page(page: Page, url: str, ask_again: str, ask_again_path: str) -> str:
    """Open ``url``'s form and send it: the one page of a bad link; its text."""
    answer = page.goto(url)
    if answer.status == 200:  # a well-formed token: only sending the form tells
        if field(page, "password").count():
            fill_new_password(page, "Otra-clave-2029")
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.locator("main form button[type=submit]").click()
        assert posted.value.status == 400
    else:
        assert answer.status == 400
    expect(page.locator("h1")).to_have_text(INVALID)
    expect(link(page, ask_again)).to_have_attribute("href", ask_again_path)
    return page.locator("main").inner_text()


def fill_new_password(page: Page, password: str, repeated: str | None = None) -> None:
    field(page, "password").fill(password)
    field(page, "password_repetida").fill(password if repeated is None else repeated)


def test_a_new_customer_confirms_the_email_from_the_mail(contexts, api, system):
    email = new_email("vera")
    page = contexts().new_page()
    register(page, "Vera", "Correo", email, CLIENTE_PASSWORD)
    expect(page).to_have_url(at("/incidencias"))
    reminder = page.locator("section#aviso-verificacion")
    expect(reminder).to_contain_text(f"Confirme su e-mail. Le hemos enviado un enlace a {email}")
    accessible(page)

    # The registration mailed a link a moment ago: another one now is refused, and the page says why.
    button(reminder, "Reenviar el enlace").click()
    expect(page).to_have_url(at("/incidencias"))
    expect(alert(page)).to_contain_text(re.compile(
        r"Ya le enviamos un enlace hace muy poco, así que no le hemos enviado otro\. "
        r"Podrá pedir otro dentro de \d+ segundos\."))
    url = link_in_mail(system, email, "/cuenta/verificar")
    assert len(links_to(system, email, "/cuenta/verificar")) == 1

    # A mail scanner fetching the link uses nothing up.
    scanned = httpx.get(url, timeout=10)
    assert scanned.status_code == 200 and "Confirmar mi e-mail" in scanned.text
    token = api.login("clientes", email, CLIENTE_PASSWORD)
    assert api.call("GET", "clientes", "/clientes/yo", token).json()["email_verificado"] is False

    # The owner opens it in the browser of the mail client (not signed in there) and confirms.
    mail_client = contexts().new_page()
    mail_client.goto(url)
    expect(mail_client.locator("h1")).to_have_text("Confirme su e-mail")
    accessible(mail_client)
    button(mail_client, "Confirmar mi e-mail").click()
    expect(mail_client).to_have_url(at("/entrar"))
    expect(flash_ok(mail_client)).to_have_text("Su e-mail está confirmado. Ya puede entrar en su cuenta.")
    assert api.call("GET", "clientes", "/clientes/yo", token).json()["email_verificado"] is True

    # The signed-in page learns it on its next load: no reminder any more.
    page.reload()
    expect(page.locator("section#aviso-verificacion")).to_have_count(0)

    # Used, forged or mangled: the same page, 400.
    used = invalid_link_page(mail_client, url, "Entrar en mi cuenta", "/incidencias")
    accessible(mail_client)
    assert invalid_link_page(mail_client, forged(url), "Entrar en mi cuenta", "/incidencias") == used
    assert invalid_link_page(mail_client, "/cuenta/verificar?token=no-es-un-token", "Entrar en mi cuenta",
                             "/incidencias") == used


def test_a_customer_resets_a_forgotten_password_and_the_old_sessions_end(contexts, api, system):
    cliente = api.new_cliente("Olvido", apellidos="Despistada")
    before = contexts().new_page()
    sign_in(before, cliente.email, cliente.password)
    before.goto("/perfil")  # a page that polls nothing: what ends the session is the reload below

    page = contexts().new_page()
    page.goto("/entrar")
    link(page, "¿Ha olvidado su contraseña?").click()
    expect(page).to_have_url(at("/cuenta/olvido"))
    accessible(page)
    field(page, "email").fill(new_email("nadie"))
    button(page, "Enviarme el enlace").click()
    expect(page).to_have_url(at("/cuenta/olvido/enviado"))
    expect(page.locator("h1")).to_have_text("Revise su correo")
    accessible(page)
    unknown = page.locator("main").inner_text()
    page.goto("/cuenta/olvido")
    field(page, "email").fill(cliente.email)
    button(page, "Enviarme el enlace").click()
    expect(page).to_have_url(at("/cuenta/olvido/enviado"))
    assert page.locator("main").inner_text() == unknown  # an account or not: the same answer

    url = link_in_mail(system, cliente.email, "/cuenta/restablecer")
    page.goto(url)
    expect(page.locator("h1")).to_have_text("Elija una contraseña nueva")
    accessible(page)
    fill_new_password(page, "Nueva-clave-2027", "Nueva-clave-2028")
    button(page, "Guardar la contraseña").click()
    expect(field_error(page, "password_repetida")).to_have_text("Las dos contraseñas no coinciden.")
    expect(field(page, "password_repetida")).to_have_attribute("aria-invalid", "true")
    fill_new_password(page, "corta-1")
    button(page, "Guardar la contraseña").click()
    expect(field_error(page, "password")).to_have_text(PASSWORD_RULE)
    accessible(page)
    fill_new_password(page, "Nueva-clave-2027")
    button(page, "Guardar la contraseña").click()
    expect(page).to_have_url(at("/cuenta/restablecer/hecho"))
    expect(page.locator("h1")).to_have_text("Su contraseña se ha cambiado")
    accessible(page)

    link(page, "Entrar con la contraseña nueva").click()
    expect(page).to_have_url(at("/entrar"))
    field(page, "email").fill(cliente.email)
    field(page, "password").fill("Nueva-clave-2027")
    field(page, "password").press("Enter")
    expect(page).to_have_url(at("/incidencias"))
    assert api.call("POST", "clientes", "/clientes/login",
                    json={"email": cliente.email, "password": cliente.password}).status_code == 401

    # The session opened with the old password is over.
    before.reload()
    expect(before).to_have_url(at("/entrar", "siguiente=/perfil"))
    expect(before.locator("main")).to_contain_text(SESSION_ENDED)

    # The link served once.
    invalid_link_page(contexts().new_page(), url, "Pedir un enlace nuevo", "/cuenta/olvido")


def test_an_invited_employee_chooses_the_password_and_can_reset_it(admin_page, contexts, api, admin, system):
    page = admin_page
    email = new_email("ines")
    page.goto("/equipo/empleados/nuevo")
    expect(field(page, "password")).to_be_hidden()  # folded away: the form invites
    for name, value in {"nombre": "Inés", "apellidos": "Invitada", "email": email}.items():
        field(page, name).fill(value)
    field(page, "rol").select_option("agente")
    field(page, "categorias").fill("invitaciones")
    button(page, "Dar de alta").click()
    expect(page).to_have_url(at("/equipo/empleados"))
    expect(flash_ok(page)).to_contain_text(f"Hemos enviado una invitación a {email}")
    found = api.call("GET", "empleados", "/empleados", admin.token, params={"q": email}).json()["elementos"]
    assert [(e["rol"], e["categorias"], e["invitacion_pendiente"]) for e in found] == [
        ("agente", ["invitaciones"], True)]
    expect(page.locator(f'tr[data-empleado-id="{found[0]["id"]}"]')).to_contain_text("Invitación pendiente")

    url = link_in_mail(system, email, "/equipo/invitacion")
    ines = contexts().new_page()
    ines.goto(url)
    expect(ines.locator("h1")).to_have_text("Le damos la bienvenida al equipo")
    accessible(ines)
    fill_new_password(ines, "Soporte-Ines-2027")
    button(ines, "Guardar y entrar").click()
    expect(ines).to_have_url(at("/equipo/incidencias", "vista=mias"))
    expect(ines.locator("nav.menu")).to_contain_text("Inés Invitada")
    assert api.call("GET", "empleados", f"/empleados/{found[0]['id']}", admin.token).json()[
        "invitacion_pendiente"] is False
    invalid_link_page(contexts().new_page(), url, "Pedir un enlace para elegir mi contraseña", "/equipo/olvido")

    # Later she forgets it: the console's own forgotten-password pages.
    sign_out(ines, equipo=True)
    link(ines, "¿Ha olvidado su contraseña?").click()
    expect(ines).to_have_url(at("/equipo/olvido"))
    accessible(ines)
    field(ines, "email").fill(email)
    button(ines, "Enviarme el enlace").click()
    expect(ines).to_have_url(at("/equipo/olvido/enviado"))
    reset = link_in_mail(system, email, "/equipo/restablecer")
    ines.goto(reset)
    accessible(ines)
    fill_new_password(ines, "Soporte-Ines-2028")
    button(ines, "Guardar la contraseña").click()
    expect(ines).to_have_url(at("/equipo/restablecer/hecho"))
    link(ines, "Entrar con la contraseña nueva").click()
    expect(ines).to_have_url(at("/equipo/entrar"))
    sign_in(ines, email, "Soporte-Ines-2028", equipo=True)
    invalid_link_page(ines, forged(reset), "Pedir un enlace nuevo", "/equipo/olvido")


def test_a_new_email_waits_for_its_link_and_the_mail_preference_is_kept(contexts, api, system):
    cliente = api.new_cliente("Emilia", apellidos="Mudanza")
    nuevo = new_email("emilia.nueva")
    page = contexts().new_page()
    sign_in(page, cliente.email, cliente.password)
    page.goto("/perfil")
    field(page, "email").fill(nuevo)
    button(page, "Guardar").click()
    expect(page).to_have_url(at("/perfil"))
    expect(flash_ok(page)).to_have_text(
        f"Sus datos se han guardado. Para cambiar su e-mail, abra el enlace que le hemos enviado a {nuevo}; "
        f"hasta entonces seguimos usando {cliente.email}.")
    expect(field(page, "email")).to_have_value(cliente.email)
    expect(page.locator("p#email-ayuda")).to_contain_text(f"Pendiente de confirmar: {nuevo}.")
    expect(field(page, "email")).to_have_attribute("aria-describedby", "email-ayuda")
    accessible(page)

    url = link_in_mail(system, nuevo, "/cuenta/confirmar-email")
    page.goto(url)
    expect(page.locator("h1")).to_have_text("Confirme su nuevo e-mail")
    accessible(page)
    button(page, "Confirmar mi nuevo e-mail").click()
    expect(page).to_have_url(at("/perfil"))
    expect(flash_ok(page)).to_have_text(f"Su e-mail es ahora {nuevo}.")
    expect(field(page, "email")).to_have_value(nuevo)
    expect(page.locator("main")).not_to_contain_text("Pendiente de confirmar")
    invalid_link_page(contexts().new_page(), url, "Ir a mi perfil", "/perfil")

    # The preference the incident mails link to (/perfil#avisos).
    avisos = page.locator("section#avisos")
    expect(field(avisos, "avisos_por_correo")).to_be_checked()
    field(avisos, "avisos_por_correo").uncheck()
    button(avisos, "Guardar mis avisos").click()
    expect(page).to_have_url(at("/perfil"))
    assert urlsplit(page.url).fragment == "avisos"
    expect(field(page.locator("section#avisos"), "avisos_por_correo")).not_to_be_checked()
    token = api.login("clientes", nuevo, cliente.password)
    assert api.call("GET", "clientes", "/clientes/yo", token).json()["avisos_por_correo"] is False

    # Opened while signed out, the link goes through the login to that very part.
    sign_out(page)
    page.goto("/perfil#avisos")
    expect(page).to_have_url(at("/entrar"))
    field(page, "email").fill(nuevo)
    field(page, "password").fill(cliente.password)
    field(page, "password").press("Enter")
    expect(page).to_have_url(at("/perfil"))
    assert urlsplit(page.url).fragment == "avisos"


def test_the_links_of_a_resolution_mail_land_on_the_incidents_forms(contexts, api, system, generalista):
    cliente = api.new_cliente("Resuelta", apellidos="Por Correo")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Llegó sin cable")["id"]
    api.wait_staff_sees(generalista, incidencia_id, "asignada")
    api.act(generalista, "resolucion", incidencia_id, {"texto": "Le enviamos el cable hoy mismo."})
    api.wait_customer_sees(cliente, incidencia_id, "resuelta")
    cierre = link_in_mail(system, cliente.email, f"/incidencias/{incidencia_id}", fragment="cierre")
    reapertura = link_in_mail(system, cliente.email, f"/incidencias/{incidencia_id}", fragment="reapertura")

    page = contexts().new_page()
    sign_in(page, cliente.email, cliente.password)
    page.goto(reapertura)
    expect(page.locator("form#reapertura")).to_be_in_viewport()
    expect(page.locator("form#reapertura textarea[name=motivo]")).to_be_visible()
    page.goto(cierre)
    expect(page.locator("form#cierre")).to_be_in_viewport()
    button(page.locator("form#cierre"), "Confirmar la solución").click()
    expect(flash_ok(page)).to_have_text("Ha confirmado la solución: la incidencia está cerrada")
