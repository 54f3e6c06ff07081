"""Screenshots of the portal's main pages for the README: ``make screenshots``.

Starts the whole system through harness/ (as `make run` does, on free ports,
with its own data directory; needs RabbitMQ), fills it with a few people and
incidents through the APIs, and photographs the pages in Debian's Chromium
(headless, through Playwright, which never downloads a browser) into
docs/screenshots/:

- cliente-lista.png, cliente-nueva.png, cliente-incidencia.png (and
  cliente-incidencia-movil.png, the same page on a 360px-wide phone),
  cliente-pregunta.png (an incident waiting on the customer's answer to a
  question of the team's);
- equipo-cola.png, equipo-busqueda.png (the queue searched by words typed
  without accents), equipo-incidencia.png (with its service levels),
  equipo-sla.png (the admin's service levels page), equipo-clientes.png (a customer
  searched for), equipo-cliente.png (her page: what she reported),
  equipo-telefono.png (an incident she tells about on the phone, being
  filled in), equipo-estadisticas.png (a period's service levels kept,
  the customers' ratings and their waits, above what stands now),
  equipo-avisos.png (the warnings of targets run out, one read),
  equipo-respuestas.png (the canned replies, which the incident's forms
  offer), equipo-lote.png (a supervisor's queue, two incidents ticked for
  one change);
- cliente-valoracion.png (a closed incident's rating form, being filled in);
- the pages of the account mails' links, each opened from its mail (the
  system's own SMTP server): cuenta-verificar.png (with the reminder of an
  unverified e-mail, cliente-aviso-verificacion.png), cuenta-olvido.png,
  cuenta-restablecer.png, cuenta-enlace-no-valido.png,
  cuenta-confirmar-email.png, cliente-perfil.png (a new e-mail pending,
  the mail preference), equipo-empleado-nuevo.png, equipo-invitacion.png.

The scene happens on a working Monday morning, so that the service levels'
clocks run: the system is started with a clock the script moves
(``ENVIRONMENT=test`` and ``TEST_CLOCK_FILE``, as the end-to-end tests do;
``common.clock``), looking at the service levels every second. Some
incidents are answered at once and some hours later, past their targets;
the look warns their holders and the admins as it would, and the
customers rate what was closed. Chromium draws the date fields in Spanish
when Debian's ``chromium-l10n`` is installed (in US order otherwise).
"""
from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, EMPLEADO_PASSWORD, Account, Driver, System, wait_until  # noqa: E402
from incidencias_dominio import Calendario  # noqa: E402
from tests.browser.mails import link_in_mail  # noqa: E402
from tests.browser.pages import (  # noqa: E402
    CHROMIUM, CHROMIUM_ARGS, LOCALE, NARROW, TIMEZONE, WIDE, field, incident_fields, sign_in,
)

OUT = ROOT / "docs" / "screenshots"
MADRID = ZoneInfo("Europe/Madrid")


class Clock:
    """The system's clock: now plus the seconds its file holds (``common.clock``)."""

    def __init__(self, path: Path):
        self.path = path
        self.path.write_text("0")
        self.offset = timedelta(0)

    @property
    def now(self) -> datetime:
        """The instant the system's processes read now (it runs on from where it was put)."""
        return datetime.now(timezone.utc) + self.offset

    def go_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(timezone.utc)
        written = self.path.with_suffix(".new")  # replaced whole: no process reads half of it
        written.write_text(f"{self.offset.total_seconds():.6f}")
        written.replace(self.path)

    def forward(self, **delta: float) -> None:
        self.go_to(self.now + timedelta(**delta))


def next_working_monday(calendario: dict) -> datetime:
    """09:00 in Madrid on the next Monday the calendar works (not a holiday, not a closing day)."""
    working = Calendario.of(calendario)
    day = datetime.now(MADRID).date() + timedelta(days=1)
    while day.weekday() != 0 or not working.es_laborable(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(9, 0), MADRID)


def launch_chromium_es(playwright):
    """Debian's Chromium speaking Spanish: its date fields in day/month/year (with chromium-l10n)."""
    env = {**os.environ, "LANG": "es_ES.UTF-8", "LANGUAGE": "es"}
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, "--lang=es-ES"],
                                      env=env)


def verified(api: Driver, system: System, email: str) -> None:
    """The customer's e-mail confirmed through the link of their mail (the
    reminder of an unverified one is photographed on its own)."""
    url = link_in_mail(system, email, "/cuenta/verificar")
    token = url.split("token=", 1)[1]
    assert api.call("POST", "clientes", "/clientes/verificacion", json={"token": token}).status_code == 200


def accounts(api: Driver, system: System, photograph) -> None:
    """The pages the account mails link to, each reached from its mail."""
    nuria = api.new_cliente("Nuria", apellidos="Sanz Prado", email="nuria.sanz@example.com")
    page = photograph()
    sign_in(page, nuria.email, nuria.password)
    shoot(page, "cliente-aviso-verificacion", full_page=False)
    page.goto(link_in_mail(system, nuria.email, "/cuenta/verificar"))
    shoot(page, "cuenta-verificar")
    page.get_by_role("button", name="Confirmar mi e-mail").click()
    page.goto("/perfil")
    field(page, "email").fill("nuria.sanz.prado@example.com")
    page.get_by_role("button", name="Guardar", exact=True).click()
    expect(page.locator("p#email-ayuda")).to_contain_text("Pendiente de confirmar")
    shoot(page, "cliente-perfil")
    page.goto(link_in_mail(system, "nuria.sanz.prado@example.com", "/cuenta/confirmar-email"))
    shoot(page, "cuenta-confirmar-email")

    anonimo = photograph()
    anonimo.goto("/cuenta/olvido")
    field(anonimo, "email").fill("lucia.gomez@example.com")
    shoot(anonimo, "cuenta-olvido")
    anonimo.get_by_role("button", name="Enviarme el enlace").click()
    anonimo.goto(link_in_mail(system, "lucia.gomez@example.com", "/cuenta/restablecer"))
    field(anonimo, "password").fill("Nueva-clave-2027")
    field(anonimo, "password_repetida").fill("Nueva-clave-2028")
    anonimo.get_by_role("button", name="Guardar la contraseña").click()
    expect(anonimo.locator("p#password_repetida-error")).to_be_visible()
    shoot(anonimo, "cuenta-restablecer")
    anonimo.goto("/cuenta/verificar?token=enlace.antiguo")  # the shape of a token: sending it tells
    anonimo.get_by_role("button", name="Confirmar mi e-mail").click()
    expect(anonimo.locator("h1")).to_have_text("El enlace no es válido o ha caducado")
    shoot(anonimo, "cuenta-enlace-no-valido")

    consola = photograph()
    sign_in(consola, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
    consola.goto("/equipo/empleados/nuevo")
    for name, value in {"nombre": "Irene", "apellidos": "Campos", "email": "irene.campos@example.com",
                        "categorias": "devoluciones"}.items():
        field(consola, name).fill(value)
    shoot(consola, "equipo-empleado-nuevo")
    consola.get_by_role("button", name="Dar de alta").click()
    invitada = photograph()
    invitada.goto(link_in_mail(system, "irene.campos@example.com", "/equipo/invitacion"))
    shoot(invitada, "equipo-invitacion")


POLITICA = {
    "calendario": {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00", "hasta": "18:00",
                   "pais": "ES", "region": "MD", "cierres": ["2026-12-24", "2026-12-31"]},
    "por_prioridad": {
        "baja": {"primera_respuesta_minutos": 8 * 60, "resolucion_minutos": 40 * 60},
        "media": {"primera_respuesta_minutos": 4 * 60, "resolucion_minutos": 24 * 60},
        "alta": {"primera_respuesta_minutos": 2 * 60, "resolucion_minutos": 16 * 60},
        "critica": {"primera_respuesta_minutos": 30, "resolucion_minutos": 8 * 60}},
    "por_categoria": {"envios": {"media": {"primera_respuesta_minutos": 2 * 60, "resolucion_minutos": 12 * 60},
                                 "alta": {"primera_respuesta_minutos": 60, "resolucion_minutos": 450}}},
}
"""The service levels of the scene: set first, so that every incident carries its targets."""


def seed(api: Driver, system: System, clock: Clock) -> dict[str, str]:
    """Service levels, agents, a customer with incidents in several states; on
    a Monday morning, incidents answered on time and late, warned of, closed
    and rated (the period's figures); the ids to photograph."""
    admin = api.admin()
    puesta = api.call("PUT", "resolucion", "/sla", admin.token, json=POLITICA)
    assert puesta.status_code == 200, puesta.text
    eva = api.new_empleado("agente", ["garantia", "envios"], nombre="Eva", apellidos="López", admin_token=admin.token)
    jorge = api.new_empleado("agente", [], nombre="Jorge", apellidos="Marín", admin_token=admin.token)
    api.wait_known_by_resolucion(admin, eva, jorge)
    api.settle()  # the policy published: apertura gives the incidents opened from now on their targets
    lucia = api.new_cliente("Lucía", apellidos="Gómez Prieto", email="lucia.gomez@example.com")
    andres = api.new_cliente("Andrés", apellidos="Vidal Ortega", email="andres.vidal@example.com")
    marta = api.new_cliente("Marta", apellidos="Ruiz Calvo", email="marta.ruiz@example.com")
    verified(api, system, lucia.email)  # before the clock moves on: the link lasts hours, not days
    clock.go_to(next_working_monday(POLITICA["calendario"]))
    for titulo, texto, categoria in (
            ("Pedimos una foto", "Hola {cliente}: para revisar «{titulo}», ¿puede enviarnos una foto del producto "
                                 "y de la caja? Gracias. {agente}", None),
            ("Reembolso aprobado", "Hola {cliente}: le devolvemos el importe en 3 a 5 días laborables. {agente}",
             None),
            ("Reenvío del pedido", "Hola {cliente}: le enviamos el pedido de nuevo; le llegará en 48 horas.",
             "envios")):
        written = api.call("POST", "resolucion", "/respuestas", admin.token,
                           json={"titulo": titulo, "texto": texto, "categoria": categoria})
        assert written.status_code == 201, written.text

    def abrir(titulo: str, categoria: str | None, prioridad: str, descripcion: str, referencia: str,
              producto: str, pedido: str, cliente: Account = lucia) -> str:
        incidencia = api.new_incidencia(cliente, categoria, titulo=titulo, descripcion=descripcion,
                                        prioridad=prioridad, producto={"referencia": referencia, "nombre": producto},
                                        pedido=pedido)
        assert incidencia["primera_respuesta_prevista"], "apertura did not have the policy yet: run it again"
        api.wait_customer_sees(cliente, incidencia["id"], "asignada")
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
    pregunta = abrir("Me cobraron dos veces el pedido", "facturacion", "media", "Veo dos cargos iguales en la tarjeta.",
                     "SKU-AUR-3", "Auriculares", "PED-2026-0063")
    api.act(jorge, "consulta", pregunta, {"pregunta": "Para localizar el cobro repetido, ¿nos indica la fecha de los "
                                                      "dos cargos y los cuatro últimos dígitos de la tarjeta?"})
    api.wait_customer_sees(lucia, pregunta, "esperando_cliente")
    api.wait_customer_sees(lucia, en_curso, "en_curso")
    for etiqueta in ("lote-defectuoso", "proveedor"):
        tagged = api.call("PUT", "resolucion", f"/incidencias/{en_curso}/etiquetas/{etiqueta}", eva.token)
        assert tagged.status_code == 200, tagged.text
    api.settle()
    por_valorar = period(api, clock, admin, eva, jorge, lucia, andres, marta, abrir, cerrada)
    return {"resuelta": resuelta, "en_curso": en_curso, "pregunta": pregunta, "por_valorar": por_valorar,
            "cliente": lucia.email, "password": lucia.password, "agente": eva.email}


def warned(api: Driver, who: Account, tipo: str, incidencia_id: str) -> None:
    """Until resolucion's look at the service levels has told ``who`` of the incident."""
    wait_until(lambda: any(n["tipo"] == tipo and n["incidencia_id"] == incidencia_id
                           for n in api.list_all("resolucion", "/notificaciones", who.token).values()),
               timeout=30, interval=0.2, message=f"{tipo} of {incidencia_id} told")


def period(api: Driver, clock: Clock, admin: Account, eva: Account, jorge: Account, lucia: Account, andres: Account,
           marta: Account, abrir, cerrada: str) -> str:
    """The morning the statistics tell: what the agents answered at once,
    what waited past its first answer's target (warned of, to its holder
    first, then to the admins), a question the customer took a while to
    answer, and the customers' ratings of what was closed. The id of a
    closed incident left to rate."""
    def cerrar(incidencia_id: str, cliente: Account, texto: str, agente: Account,
               puntuacion: int | None = None, comentario: str | None = None) -> None:
        api.act(agente, "resolucion", incidencia_id, {"texto": texto})
        api.wait_customer_sees(cliente, incidencia_id, "resuelta")
        closed = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", cliente.token, json={})
        assert closed.status_code == 200, closed.text
        if puntuacion is not None:
            rated = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/valoracion", cliente.token,
                             json={"puntuacion": puntuacion, "comentario": comentario})
            assert rated.status_code == 201, rated.text

    rated_closed = api.call("POST", "apertura", f"/incidencias/{cerrada}/valoracion", lucia.token,
                            json={"puntuacion": 5, "comentario": "Me mandaron el manual enseguida."})
    assert rated_closed.status_code == 201, rated_closed.text
    reloj = abrir("El reloj se adelanta", "garantia", "alta", "Se adelanta diez minutos cada día.", "SKU-REL-4",
                  "Reloj de pared", "PED-2026-0071", andres)
    tornillo = abrir("Falta un tornillo de la estantería", "envios", "media", "En la bolsa venían siete y son ocho.",
                     "SKU-EST-8", "Estantería", "PED-2026-0072", marta)
    caja = abrir("La caja llegó abierta", "envios", "baja", "El precinto estaba roto, aunque dentro está todo.",
                 "SKU-TAZ-6", "Juego de tazas", "PED-2026-0073", lucia)
    envio = abrir("Me cobraron el envío gratuito", "facturacion", "alta", "El pedido superaba los 50 € y pagué 4,95 €.",
                  "SKU-MOC-1", "Mochila", "PED-2026-0074", andres)
    reembolso = abrir("El reembolso no llega", "devoluciones", "critica", "Devolví la chaqueta hace tres semanas.",
                      "SKU-CHQ-9", "Chaqueta", "PED-2026-0075", marta)
    pantalla = abrir("La pantalla tiene píxeles muertos", "garantia", "media", "Tres puntos negros en una esquina.",
                     "SKU-MON-2", "Monitor 24", "PED-2026-0076", andres)
    altavoz = abrir("El altavoz no se empareja", "garantia", "alta", "El móvil no lo encuentra por Bluetooth.",
                    "SKU-ALT-5", "Altavoz portátil", "PED-2026-0077", marta)
    talla = abrir("Necesito otra talla", "devoluciones", "media", "Las botas me quedan pequeñas.", "SKU-BOT-3",
                  "Botas de montaña", "PED-2026-0078", marta)
    cerrar(reloj, andres, "Le enviamos un reloj nuevo; devuélvanos el otro con la etiqueta adjunta.", eva, 5,
           "Rapidísimos.")
    cerrar(tornillo, marta, "Le enviamos una bolsa de tornillos hoy mismo.", eva, 4)
    cerrar(caja, lucia, "Hemos avisado al transportista; gracias por decírnoslo.", eva)
    api.act(jorge, "consulta", talla, {"pregunta": "¿Qué talla necesita? Le cambiamos las botas sin coste."})
    api.wait_customer_sees(marta, talla, "esperando_cliente")

    # 09:25: the urgent refund is at risk; its holder is told. The customer answers about the size.
    clock.forward(minutes=25)
    answered = api.call("POST", "apertura", f"/incidencias/{talla}/comentarios", marta.token,
                        json={"texto": "Un 42, por favor."})
    assert answered.status_code == 201, answered.text
    api.wait_staff_sees(jorge, talla, "en_curso")
    warned(api, jorge, "incidencia.sla_en_riesgo", reembolso)
    # 10:40: two more at risk; 11:30: three first answers ran out, the admins are told.
    clock.forward(hours=1, minutes=15)
    warned(api, eva, "incidencia.sla_en_riesgo", altavoz)
    clock.forward(minutes=50)
    for late in (envio, reembolso, altavoz):
        warned(api, admin, "incidencia.sla_incumplido", late)
    cerrar(envio, andres, "Le devolvemos los 4,95 € del envío.", jorge, 2, "Tardaron mucho en contestar.")
    cerrar(reembolso, marta, "El reembolso sale hoy; lo verá en su cuenta en dos días.", jorge, 3)
    cerrar(pantalla, andres, "Le cambiamos el monitor por uno nuevo.", eva, 4)
    cerrar(altavoz, marta, "Reinícielo manteniendo pulsado el botón 10 s; ya se empareja.", eva, 3,
           "Funcionó, pero la respuesta llegó tarde.")
    cerrar(talla, marta, "Le enviamos el 42; devuélvanos las otras en la misma caja.", jorge, 5)
    api.settle()
    return caja



def shoot(page: Page, name: str, full_page: bool = True) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"  {path.relative_to(ROOT)}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as workdir:
        clock = Clock(Path(workdir) / "reloj")
        system = System.launch(Path(workdir), ENVIRONMENT="test", TEST_CLOCK_FILE=str(clock.path),
                               PLAZOS_INTERVALO="1")
        try:
            with Driver(system.urls, patience=30) as api:
                ids = seed(api, system, clock)
            with sync_playwright() as playwright:
                browser = launch_chromium_es(playwright)

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

                cliente.goto(f"/incidencias/{ids['pregunta']}")
                expect(cliente.locator("section#pregunta")).to_be_visible()
                shoot(cliente, "cliente-pregunta")

                cliente.goto(f"/incidencias/{ids['por_valorar']}")
                cliente.get_by_label("4 · Bien", exact=True).check()
                field(cliente, "comentario").fill("Me avisaron enseguida del transportista.")
                field(cliente, "comentario").blur()
                shoot(cliente, "cliente-valoracion")

                movil = person(NARROW)
                sign_in(movil, ids["cliente"], ids["password"])
                movil.goto(f"/incidencias/{ids['resuelta']}")
                shoot(movil, "cliente-incidencia-movil")

                agente = person()
                sign_in(agente, ids["agente"], EMPLEADO_PASSWORD, equipo=True)
                agente.goto("/equipo/incidencias?vista=todas&orden=prioridad")
                shoot(agente, "equipo-cola")
                agente.goto("/equipo/incidencias?vista=todas&q=lampara pie")
                shoot(agente, "equipo-busqueda")
                agente.goto(f"/equipo/incidencias/{ids['en_curso']}")
                shoot(agente, "equipo-incidencia")
                agente.goto("/equipo/clientes?q=Gómez Prieto")
                shoot(agente, "equipo-clientes")
                agente.locator("#lista-clientes a").first.click()
                expect(agente.locator("#resumen-cliente")).to_be_visible()
                shoot(agente, "equipo-cliente")
                agente.locator("#abrir-por-telefono").click()
                for name, value in incident_fields("La batidora hace un ruido raro").items():
                    field(agente, name).fill(value)
                shoot(agente, "equipo-telefono")

                admin = person()
                sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
                admin.goto("/equipo/estadisticas")
                expect(admin.locator("#grafico-valoraciones")).to_be_visible()
                shoot(admin, "equipo-estadisticas")
                admin.goto("/equipo/avisos")
                sin_leer = admin.locator("#avisos li.no-leida").count()
                admin.locator("#avisos li").last.get_by_role("button", name="Marcar como leído").click()
                expect(admin.locator("#avisos li.no-leida")).to_have_count(sin_leer - 1)
                shoot(admin, "equipo-avisos")
                admin.goto("/equipo/sla")
                expect(admin.locator("table#plazos-prioridad")).to_be_visible()
                shoot(admin, "equipo-sla")
                admin.goto("/equipo/respuestas")
                shoot(admin, "equipo-respuestas")
                admin.goto("/equipo/incidencias?vista=todas&orden=prioridad")
                for box in admin.locator("#lista-incidencias input[type=checkbox]").all()[:2]:
                    box.check()
                admin.get_by_label("Hacer").select_option("etiqueta")
                admin.locator("#lote-etiqueta").fill("revisar-proveedor")
                shoot(admin, "equipo-lote")

                with Driver(system.urls, patience=30) as api:
                    accounts(api, system, person)
                browser.close()
        finally:
            system.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
