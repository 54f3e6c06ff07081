"""An API that is down: the portal answers a friendly page naming what is
unavailable (503), never a trace, and works again once the API is back."""
from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from harness import Driver

from .pages import at, rows, sign_in

pytestmark = pytest.mark.browser

UNAVAILABLE = "El servicio de incidencias no está disponible ahora"


def test_the_incident_service_down_gives_a_friendly_page(contexts, own_system):
    with Driver(own_system.urls, patience=20) as api:
        cliente = api.new_cliente("Corte")
        incidencia_id = api.new_incidencia(cliente, None, titulo="Antes del corte")["id"]
    page = contexts(base_url=own_system.portal_url).new_page()
    sign_in(page, cliente.email, cliente.password)
    expect(rows(page)).to_have_count(1)

    own_system.stop("apertura")
    for path in (f"/incidencias/{incidencia_id}", "/incidencias"):
        answer = page.goto(path)
        assert answer.status == 503, (path, answer.status)
        expect(page.locator("main")).to_contain_text(UNAVAILABLE)
        expect(page.locator("h1")).to_have_count(1)
        body = page.locator("body")
        expect(body).not_to_contain_text("Traceback")
        expect(body).not_to_contain_text("httpx")
    blocking = [v["id"] for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
    assert blocking == []

    own_system.start(["apertura"])
    page.goto("/incidencias")
    expect(page).to_have_url(at("/incidencias"))
    expect(rows(page)).to_have_count(1)
