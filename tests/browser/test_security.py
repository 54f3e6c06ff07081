"""What the browser must not let through: a POST without its CSRF token, a
title that is markup, one area's session on the other area's pages, a
session after logout, and the token anywhere a script could read it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from harness import wait_until

from .pages import (
    SESSION_COOKIE, at, button, comment, field, flash_ok, form_with_button, open_incidencia, row, sign_in, sign_out,
)

pytestmark = pytest.mark.browser

EXPIRED_PAGE = "La página ha caducado; vuelva a intentarlo"
XSS = "<script>alert(1)</script>"


def submit_and_answer(page, form_button: str):
    """Click ``form_button`` and return the answer to the POST it sends."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        button(page, form_button).click()
    return answer.value


@pytest.mark.parametrize("token", ["missing", "forged"])
def test_a_post_without_a_valid_csrf_token_is_refused_with_the_friendly_page(page, api, token):
    cliente = api.new_cliente("Cora")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Token")["id"]
    sign_in(page, cliente.email, cliente.password)
    page.goto(f"/incidencias/{incidencia_id}")
    form = form_with_button(page, "Enviar comentario")
    hidden = form.locator('input[type="hidden"][name="csrf_token"]')
    expect(hidden).to_have_count(1)
    if token == "missing":
        hidden.evaluate("element => element.remove()")
    else:
        hidden.evaluate("element => { element.value = 'IjEyMzQ1Ig.forged.signature' }")
    form.locator('textarea[name="texto"]').fill("Esto no debe guardarse")
    answer = submit_and_answer(page, "Enviar comentario")

    assert answer.status == 400
    expect(page.locator("main")).to_contain_text(EXPIRED_PAGE)
    expect(page.locator("body")).not_to_contain_text("Traceback")
    expect(page.locator("body")).not_to_contain_text("CSRF")
    expect(page.locator("h1")).to_have_count(1)
    assert api.customer_view(cliente, incidencia_id)["comentarios"] == []
    # The session itself is untouched: a page loaded again posts fine.
    page.goto(f"/incidencias/{incidencia_id}")
    comment(page, "Ahora sí")
    expect(flash_ok(page)).to_have_count(1)
    assert [c["texto"] for c in api.customer_view(cliente, incidencia_id)["comentarios"]] == ["Ahora sí"]


def test_a_post_from_outside_the_page_is_refused(contexts, api):
    """A request with the session cookie but no token (what another site's
    form would send) changes nothing."""
    cliente = api.new_cliente("Fuera")
    incidencia_id = api.new_incidencia(cliente, None, titulo="Desde fuera")["id"]
    context = contexts()
    page = context.new_page()
    sign_in(page, cliente.email, cliente.password)
    for path, form in [(f"/incidencias/{incidencia_id}/comentarios", {"texto": "intruso"}),
                       (f"/incidencias/{incidencia_id}/cancelacion", {"motivo": "intruso"}),
                       ("/salir", {})]:
        answer = context.request.post(path, form=form, max_redirects=0)
        assert answer.status == 400, (path, answer.status)
        assert EXPIRED_PAGE in answer.text(), path
    view = api.customer_view(cliente, incidencia_id)
    assert (view["comentarios"], view["cancelacion_solicitada_en"]) == ([], None)
    page.goto("/incidencias")
    expect(page).to_have_url(at("/incidencias"))  # still signed in


def test_a_markup_title_shows_as_text_and_runs_nothing(page, api, system):
    cliente = api.new_cliente("Xena")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, cliente.email, cliente.password)
    incidencia_id = open_incidencia(page, XSS, descripcion=f"Descripción {XSS}")
    expect(page.locator("h1")).to_have_text(XSS)
    expect(page.locator("h1 script")).to_have_count(0)
    expect(page.locator("main")).to_contain_text(f"Descripción {XSS}")
    comment(page, f"Comentario {XSS}")
    expect(page.locator("ol#comentarios > li").first).to_contain_text(f"Comentario {XSS}")
    page.goto("/incidencias")
    expect(row(page, incidencia_id)).to_contain_text(XSS)
    for path in ("/incidencias", f"/incidencias/{incidencia_id}"):
        page.goto(path)
        # Every script is a file of the portal's own: none is inline, none came from the title.
        expect(page.locator("script:not([src])")).to_have_count(0)
        sources = page.locator("script[src]").evaluate_all("elements => elements.map(e => e.src)")
        assert sources and all(src.startswith(f"{system.portal_url}/static/") for src in sources), sources
    assert api.customer_view(cliente, incidencia_id)["titulo"] == XSS
    assert dialogs == []


def test_a_customer_session_never_reaches_the_console_and_back(contexts, api, admin):
    cliente = api.new_cliente("Solo")
    page = contexts().new_page()
    sign_in(page, cliente.email, cliente.password)
    for path in ("/equipo/", "/equipo/incidencias?vista=todas", "/equipo/estadisticas", "/equipo/empleados"):
        page.goto(path)
        expect(page).to_have_url(at("/equipo/entrar"))
        expect(field(page, "email")).to_be_visible()
    page.goto("/incidencias")
    expect(page).to_have_url(at("/incidencias"))

    equipo = contexts().new_page()
    sign_in(equipo, admin.email, admin.password, equipo=True)
    for path in ("/incidencias", "/incidencias/nueva", "/notificaciones", "/perfil"):
        equipo.goto(path)
        expect(equipo).to_have_url(at("/entrar"))
        expect(field(equipo, "email")).to_be_visible()
    equipo.goto("/equipo/")
    expect(equipo).to_have_url(at("/equipo/incidencias", "vista=mias"))


def test_the_session_cookie_is_httponly_and_the_token_is_nowhere_a_page_can_read(page, api):
    cliente = api.new_cliente("Galleta")
    sign_in(page, cliente.email, cliente.password)
    page.goto("/incidencias")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert (session["httpOnly"], session["sameSite"], session["secure"]) == (True, "Lax", False)
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]
    token = api.login("clientes", cliente.email, cliente.password)
    header = token.split(".")[0]  # every token of the service starts with the same header
    for path in ("/incidencias", "/incidencias/nueva", "/perfil", "/notificaciones"):
        page.goto(path)
        assert header not in page.content(), path
        assert header not in page.url


@pytest.mark.parametrize("area", ["cliente", "equipo"])
def test_logout_ends_the_session(page, api, admin, area):
    equipo = area == "equipo"
    if equipo:
        sign_in(page, admin.email, admin.password, equipo=True)
    else:
        cliente = api.new_cliente("Salida")
        sign_in(page, cliente.email, cliente.password)
    signed_in_cookie = {c["name"]: c["value"] for c in page.context.cookies()}[SESSION_COOKIE]
    sign_out(page, equipo=equipo)
    assert {c["name"]: c["value"] for c in page.context.cookies()}.get(SESSION_COOKIE) != signed_in_cookie
    for path in (["/equipo/incidencias?vista=mias", "/equipo/estadisticas"] if equipo
                 else ["/incidencias", "/perfil", "/incidencias/nueva"]):
        page.goto(path)
        expect(page).to_have_url(at("/equipo/entrar" if equipo else "/entrar"))


SESSION_ENDED = "Su sesión ha terminado; vuelva a entrar"


def test_a_deactivated_employees_open_session_ends(contexts, api, admin):
    agente = api.new_empleado("agente", ["de-paso"], nombre="Dario", apellidos="Baja", admin_token=admin.token)
    page = contexts().new_page()
    sign_in(page, agente.email, agente.password, equipo=True)
    assert api.call("POST", "empleados", f"/empleados/{agente.id}/baja", admin.token).status_code == 200

    def sent_away() -> bool:
        page.goto("/equipo/incidencias?vista=mias")
        return at("/equipo/entrar").match(page.url) is not None

    wait_until(sent_away, timeout=20, interval=0.5, message="the console refuses the deactivated agent")
    expect(page.locator("main")).to_contain_text(SESSION_ENDED)
    page.goto("/equipo/estadisticas")
    expect(page).to_have_url(at("/equipo/entrar"))
