"""Screenshots of the portal's main pages for the README: ``make screenshots``.

Starts the whole system through harness/ (as `make run` does, on free ports,
with its own data directory; needs RabbitMQ), fills it with a few people and
incidents through the APIs, and photographs the pages in Debian's Chromium
(headless, through Playwright, which never downloads a browser) into
docs/screenshots/:

- cliente-lista.png, cliente-nueva.png, cliente-incidencia.png (and
  cliente-incidencia-movil.png, the same page on a 360px-wide phone);
- equipo-cola.png, equipo-incidencia.png, equipo-estadisticas.png.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, EMPLEADO_PASSWORD, Driver, System  # noqa: E402
from tests.browser.pages import (  # noqa: E402
    LOCALE, NARROW, TIMEZONE, WIDE, field, incident_fields, launch_chromium, sign_in,
)

OUT = ROOT / "docs" / "screenshots"


def seed(api: Driver) -> dict[str, str]:
    """An agent, a customer with incidents in several states; the ids to photograph."""
    admin = api.admin()
    eva = api.new_empleado("agente", ["garantia", "envios"], nombre="Eva", apellidos="López", admin_token=admin.token)
    api.new_empleado("agente", [], nombre="Jorge", apellidos="Marín", admin_token=admin.token)
    api.wait_known_by_resolucion(admin, eva)
    lucia = api.new_cliente("Lucía", apellidos="Gómez Prieto", email="lucia.gomez@example.com")

    def abrir(titulo: str, categoria: str | None, prioridad: str, descripcion: str, referencia: str,
              producto: str, pedido: str) -> str:
        incidencia = api.new_incidencia(lucia, categoria, titulo=titulo, descripcion=descripcion, prioridad=prioridad,
                                        producto={"referencia": referencia, "nombre": producto}, pedido=pedido)
        api.wait_customer_sees(lucia, incidencia["id"], "asignada")
        return incidencia["id"]

    cerrada = abrir("No llegó el manual de instrucciones", "envios", "baja", "La caja no traía el manual.",
                    "SKU-CAF-2", "Cafetera de goteo", "PED-2026-0017")
    api.act(eva, "resolucion", cerrada, {"texto": "Le enviamos el manual en PDF por correo."})
    api.wait_customer_sees(lucia, cerrada, "resuelta")
    assert api.call("POST", "apertura", f"/incidencias/{cerrada}/cierre", lucia.token).status_code == 200

    resuelta = abrir("La lámpara llegó con el pie partido", "garantia", "alta",
                     "La caja venía aplastada y el pie de la lámpara está partido en dos.",
                     "SKU-LAMP-7", "Lámpara de pie", "PED-2026-0042")
    api.act(eva, "inicio", resuelta)
    api.call("POST", "resolucion", f"/incidencias/{resuelta}/comentarios", eva.token,
             json={"texto": "Lo sentimos mucho. ¿Puede enviarnos una foto del pie?"})
    api.call("POST", "apertura", f"/incidencias/{resuelta}/comentarios", lucia.token,
             json={"texto": "Enviada por correo hace un momento."})
    api.act(eva, "resolucion", resuelta, {"texto": "Le enviamos un pie nuevo sin coste; llegará el jueves."})
    api.wait_customer_sees(lucia, resuelta, "resuelta")

    en_curso = abrir("El cargador no funciona", "garantia", "critica",
                     "El cargador no enciende el piloto y el portátil no carga.", "SKU-CRG-65", "Cargador 65 W",
                     "PED-2026-0051")
    api.act(eva, "inicio", en_curso)
    api.call("POST", "resolucion", f"/incidencias/{en_curso}/comentarios", eva.token,
             json={"texto": "El proveedor tiene un lote defectuoso de este modelo.", "interna": True})
    api.call("POST", "resolucion", f"/incidencias/{en_curso}/comentarios", eva.token,
             json={"texto": "Estamos comprobando el lote; le decimos algo hoy."})
    abrir("Me cobraron dos veces el pedido", "facturacion", "media", "Veo dos cargos iguales en la tarjeta.",
          "SKU-AUR-3", "Auriculares", "PED-2026-0063")
    api.wait_customer_sees(lucia, en_curso, "en_curso")
    api.settle()
    return {"resuelta": resuelta, "en_curso": en_curso, "cliente": lucia.email, "password": lucia.password,
            "agente": eva.email}


def shoot(page: Page, name: str, full_page: bool = True) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"  {path.relative_to(ROOT)}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as workdir:
        system = System.launch(Path(workdir))
        try:
            with Driver(system.urls, patience=30) as api:
                ids = seed(api)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)

                def person(viewport=WIDE):
                    context = browser.new_context(base_url=system.portal_url, viewport=viewport, locale=LOCALE,
                                                  timezone_id=TIMEZONE, device_scale_factor=1)
                    return context.new_page()

                print(f"writing {OUT.relative_to(ROOT)}/")
                cliente = person()
                sign_in(cliente, ids["cliente"], ids["password"])
                shoot(cliente, "cliente-lista")
                cliente.goto("/incidencias/nueva")
                for name, value in incident_fields("El altavoz se oye entrecortado").items():
                    field(cliente, name).fill(value)
                shoot(cliente, "cliente-nueva")
                cliente.goto(f"/incidencias/{ids['resuelta']}")
                expect(cliente.locator("span#estado")).to_have_attribute("data-estado", "resuelta")
                shoot(cliente, "cliente-incidencia")

                movil = person(NARROW)
                sign_in(movil, ids["cliente"], ids["password"])
                movil.goto(f"/incidencias/{ids['resuelta']}")
                shoot(movil, "cliente-incidencia-movil")

                agente = person()
                sign_in(agente, ids["agente"], EMPLEADO_PASSWORD, equipo=True)
                agente.goto("/equipo/incidencias?vista=todas&orden=prioridad")
                shoot(agente, "equipo-cola")
                agente.goto(f"/equipo/incidencias/{ids['en_curso']}")
                shoot(agente, "equipo-incidencia")

                admin = person()
                sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
                admin.goto("/equipo/estadisticas")
                shoot(admin, "equipo-estadisticas")
                browser.close()
        finally:
            system.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
